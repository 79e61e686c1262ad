// A CPU's cache is created on its first use, in arena slices (metadata, never handed out).
#include "large/cpu_cache.h"

#include <cstring>
#include <new>

#include "large/large.h"

namespace ffa {

namespace {

struct CpuCache {
  alignas(64) std::atomic<uint32_t> locked{0};
  BlockCache blocks;
};

constexpr size_t kCpuCacheSlices = (sizeof(CpuCache) + kSliceSize - 1) / kSliceSize;

std::atomic<CpuCache*> cpu_caches[kMaxCpus];

CpuCache* get(unsigned cpu) {
  if (FFA_UNLIKELY(cpu >= kMaxCpus)) return nullptr;
  CpuCache* cache = cpu_caches[cpu].load(std::memory_order_acquire);
  if (FFA_LIKELY(cache != nullptr)) return cache;
  ClaimFailure why;
  Span* span = arena().try_claim(kCpuCacheSlices, kSliceSize, &why);
  if (span == nullptr) return nullptr;  // the arena is full or busy: no CPU cache this time
  span->kind = SpanKind::kMeta;
  if (!span->is_zero) memset(span->start, 0, kCpuCacheSlices * kSliceSize);
  cache = new (span->start) CpuCache();
  CpuCache* expected = nullptr;
  if (!cpu_caches[cpu].compare_exchange_strong(expected, cache, std::memory_order_acq_rel)) {
    arena().release(span);  // another thread created it first
    return expected;
  }
  return cache;
}

bool try_lock(CpuCache* cache) {
  return cache->locked.load(std::memory_order_relaxed) == 0 &&
         cache->locked.exchange(1, std::memory_order_acquire) == 0;
}

void unlock(CpuCache* cache) { cache->locked.store(0, std::memory_order_release); }

// Runs fn on every CPU cache whose lock is free (a busy one is skipped: it waits for next time).
template <typename Fn>
void for_each_unlocked(Fn fn) {
  for (auto& slot : cpu_caches) {
    CpuCache* cache = slot.load(std::memory_order_acquire);
    if (cache == nullptr || !try_lock(cache)) continue;
    fn(cache->blocks);
    unlock(cache);
  }
}

}  // namespace

Span* cpu_cache_take(unsigned cpu, unsigned c, unsigned reach) noexcept {
  CpuCache* cache = get(cpu);
  if (cache == nullptr || !try_lock(cache)) return nullptr;
  Span* span = cache->blocks.take_or_larger(c, reach);
  unlock(cache);
  return span;
}

bool cpu_cache_put(unsigned cpu, Span* span, unsigned c) noexcept {
  CpuCache* cache = get(cpu);
  if (cache == nullptr || !try_lock(cache)) return false;
  bool kept = cache->blocks.put(span, c, large_config.cpu_cache_bytes);
  unlock(cache);
  return kept;
}

void cpu_caches_age(uint64_t tick) noexcept {
  for_each_unlocked([tick](BlockCache& blocks) { blocks.age(tick); });
}

void cpu_caches_flush() noexcept {
  for_each_unlocked([](BlockCache& blocks) { blocks.flush(); });
}

size_t cpu_caches_bytes() noexcept {
  size_t bytes = 0;
  for_each_unlocked([&bytes](BlockCache& blocks) { bytes += blocks.bytes(); });
  return bytes;
}

void cpu_caches_after_fork_child() noexcept {
  // A cache locked at the fork may be half updated: the child starts that CPU afresh and its
  // blocks stay lost to the child only, as the heaps of threads the child lacks do.
  for (auto& slot : cpu_caches) {
    CpuCache* cache = slot.load(std::memory_order_relaxed);
    if (cache != nullptr && cache->locked.load(std::memory_order_relaxed) != 0) {
      slot.store(nullptr, std::memory_order_relaxed);
    }
  }
}

}  // namespace ffa

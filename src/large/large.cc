// The large path. Every step only runs on a miss of the previous one.
#include "large/large.h"

#include <cstring>

#include "large/cpu_cache.h"
#include "large/decay.h"

namespace ffa {

LargeConfig large_config;

static std::atomic<size_t> region_bytes_live{0}, regions_live{0};

// A thread's cached blocks only pay while it runs, and no more threads than CPUs run at once.
// With more threads than that using their caches, they share the CPUs' worth of budget;
// otherwise 8 threads on 2 CPUs keep 4 budgets of blocks for threads that wait their turn (seed
// workload, 8 committers freeing their own buffers on 2 CPUs: peak RSS 26.0 -> 24.3 MiB, CPU
// +2%). Threads that merely exist do not count (decay_count_active): the idle workers of a pool
// must not shrink a busy thread's share.
size_t large_thread_cache_budget(LargeCache* cache) noexcept {
  unsigned threads = decay_count_active(cache);
  size_t budget = large_config.cache_bytes;
  return threads > large_config.cpus ? budget * large_config.cpus / threads : budget;
}

size_t large_region_bytes_live() noexcept { return region_bytes_live.load(std::memory_order_relaxed); }
size_t large_regions_live() noexcept { return regions_live.load(std::memory_order_relaxed); }

namespace {

// How many classes above the one asked for a thread may cut a cached block down from (16
// classes: up to 4x the size).
constexpr unsigned kSplitReach = 16;

bool cacheable(size_t bytes) {
  return bytes > kSmallMax && bytes <= kLargeMax && large_class_size(large_class(bytes)) == bytes;
}

size_t block_bytes(const Span* span) { return size_t(span->slices) << kSliceShift; }

// A cached block for a request of `bytes`, taken by class or, on a miss, a warm larger one
// (cheaper than a claim's scan, and memory just touched). Within 25% of the request, no more
// than class rounding wastes, it goes out whole and back to its own bin when freed; larger, it is
// cut down and the tail goes back to the arena.
Span* fit(Span* span, size_t bytes) {
  if (span != nullptr && block_bytes(span) * 4 > bytes * 5) {
    arena().shrink(span, span->slices - (bytes >> kSliceShift));
  }
  return span;
}

void* finish(Span* span, size_t size, bool zero) {
  if (zero && !span->is_zero) memset(span->start, 0, size);
  span->is_zero = 0;
  return span->start;
}

Span* try_arena(LargeCache* cache, size_t slices, size_t align) {
  ClaimFailure why;
  Span* span = arena().try_claim(slices, align, &why);
  if (span == nullptr && why == ClaimFailure::kNoSpace && arena().grow(/*try_only=*/true)) {
    span = arena().try_claim(slices, align, &why);
  }
  if (span == nullptr) {
    bump(why == ClaimFailure::kContended ? cache->counters.failfast_contended
                                         : cache->counters.failfast_nospace);
    return nullptr;
  }
  bump(cache->counters.arena_hits);
  span->kind = SpanKind::kLarge;
  span->owner = nullptr;
  span->home = cache;
  span->cpu = os::current_cpu();
  return span;
}

void* region_malloc(LargeCache* cache, size_t size, size_t align, bool zero) {
  if (align < os::kPageSize) align = os::kPageSize;
  if (!region_possible(size, align)) return nullptr;
  region_cache().drain_unmap_queue();
  RegionHeader* grow = nullptr;
  RegionHeader* region = region_cache().try_take(size, align, &grow);
  if (region == nullptr && grow != nullptr) {
    // A smaller cached region: grow it with mremap, keeping its resident pages.
    region = region_remap(grow, size);
    if (region == nullptr) {
      region_cache().put(grow, decay_now_tick());
    } else if (cache != nullptr) {
      bump(cache->counters.regions_grown);
    }
  } else if (region != nullptr && cache != nullptr) {
    bump(cache->counters.regions_reused);
  }
  if (region != nullptr) {
    region->span.kind = SpanKind::kRegion;
    region->span.is_zero = 0;
  } else {
    region = region_map(size, align);
    if (region == nullptr && region_cache().release_all()) {
      region = region_map(size, align);  // out of address space: cached regions went first
    }
    if (region == nullptr) return nullptr;
    if (cache != nullptr) bump(cache->counters.regions_mapped);
  }
  region_bytes_live.fetch_add(region->payload_size, std::memory_order_relaxed);
  regions_live.fetch_add(1, std::memory_order_relaxed);
  return finish(&region->span, size, zero);
}

// Past the caches: the arena, then regions. Timed with FFALLOC_STATS, for the report.
void* large_malloc_slow(LargeCache* cache, size_t size, size_t bytes, size_t align,
                        size_t arena_align, bool cacheable_request, bool zero) {
  uint64_t start = large_config.profile ? os::now_ns() : 0;
  decay_maybe_tick();
  if (cacheable_request) decay_thread_cache(cache);
  void* p = nullptr;
  if (bytes != 0) {
    if (Span* span = try_arena(cache, bytes >> kSliceShift, arena_align)) {
      p = finish(span, size, zero);
    }
  }
  if (p == nullptr) p = region_malloc(cache, size, align, zero);
  if (p == nullptr && bytes == 0 && size <= kLargeMax * 4 && arena_align <= kChunkAlign) {
    // Out of address space (RLIMIT_AS, say) with the arena holding free chunks from an earlier
    // burst: serve a huge request from them rather than fail. Secure builds too, whose large
    // blocks all live in guarded regions otherwise: the arena never unmaps its chunks, so
    // address space small objects once took would be lost to large blocks for good.
    if (Span* span = try_arena(cache, align_up(size, kSliceSize) >> kSliceShift, arena_align)) {
      p = finish(span, size, zero);
    }
  }
  if (large_config.profile) {
    cache->counters.slow_ns.store(get_relaxed(cache->counters.slow_ns) + os::now_ns() - start,
                                  std::memory_order_relaxed);
  }
  return p;
}

}  // namespace

void* large_malloc(LargeCache* cache, size_t size, size_t align, bool zero) noexcept {
  size_t arena_align = align < kSliceSize ? kSliceSize : align;
  size_t bytes = 0;  // arena run size, 0 when the arena cannot take the request
  // Secure builds place every large block in a region between guard pages.
  if (!FFA_SECURE && size <= large_config.region_threshold && arena_align <= kChunkAlign) {
    bytes = size > kSmallMax ? large_class_size(large_class(size)) : align_up(size, kSliceSize);
    if (arena_align == kSliceSize && cacheable(bytes)) {
      unsigned c = large_class(bytes);
      unsigned cpu = os::current_cpu();
      Span* span = fit(cache->blocks.take_or_larger(c, kSplitReach), bytes);
      if (FFA_LIKELY(span != nullptr)) {
        bump(cache->counters.cache_hits);
      } else {
        if (large_config.cpu_cache_bytes != 0) {
          span = fit(cpu_cache_take(cpu, c, kSplitReach), bytes);
        }
        if (span == nullptr) {
          return large_malloc_slow(cache, size, bytes, align, arena_align, true, zero);
        }
        bump(cache->counters.cpu_cache_hits);
      }
      span->cpu = cpu;
      span->kind = SpanKind::kLarge;
      span->home = cache;
      return finish(span, size, zero);
    }
  }
  return large_malloc_slow(cache, size, bytes, align, arena_align, false, zero);
}

void large_free(LargeCache* cache, Span* span) noexcept {
  if (cache != nullptr) bump(cache->counters.frees);
  if (span->kind == SpanKind::kRegion) {
    region_bytes_live.fetch_sub(reinterpret_cast<RegionHeader*>(span)->payload_size,
                                std::memory_order_relaxed);
    regions_live.fetch_sub(1, std::memory_order_relaxed);
    span->kind = SpanKind::kRegionCached;
    region_cache().put(reinterpret_cast<RegionHeader*>(span), decay_now_tick());
    return;
  }
  size_t bytes = block_bytes(span);
  if (!FFA_SECURE && cacheable(bytes)) {  // secure builds only get here from the fallback
    unsigned c = large_class(bytes);
    // A block this thread allocated: its own cache first. Another thread's, or one the thread
    // cache refuses: the cache of the CPU it was last handed out on.
    if (cache != nullptr && span->home == cache &&
        cache->blocks.put(span, c, large_thread_cache_budget(cache))) {
      return;
    }
    if (large_config.cpu_cache_bytes != 0 && cpu_cache_put(span->cpu, span, c)) return;
  }
  // The arena's turn: age this thread's cache too, since a thread that frees more than it
  // allocates may never run a malloc slow path.
  decay_maybe_tick();
  if (cache != nullptr) decay_thread_cache(cache);
  arena().release(span);
}

void large_cache_flush(LargeCache* cache) noexcept { cache->blocks.flush(); }

void decay_thread_cache(LargeCache* cache) noexcept { cache->blocks.age(decay_now_tick()); }

size_t large_usable_size(const Span* span) noexcept {
  if (span->kind == SpanKind::kRegion) {
    return reinterpret_cast<const RegionHeader*>(span)->payload_size;
  }
  return block_bytes(span);
}

void* large_try_resize(Span* span, size_t new_size) noexcept {
  if (span->kind == SpanKind::kRegion) {
    auto* region = reinterpret_cast<RegionHeader*>(span);
    if (new_size <= region->payload_size && new_size >= region->payload_size / 2) {
      return span->start;
    }
    if (new_size <= kLargeMax) return nullptr;  // moving down to the arena: copy
    size_t old_payload = region->payload_size;
    RegionHeader* moved = region_remap(region, new_size);
    if (moved == nullptr) return nullptr;
    region_bytes_live.fetch_add(moved->payload_size - old_payload, std::memory_order_relaxed);
    return moved->span.start;
  }
  if (new_size > kLargeMax) return nullptr;
  size_t have = block_bytes(span);
  size_t want = align_up(new_size, kSliceSize);
  if (want > have) {
    return arena().try_extend(span, (want - have) >> kSliceShift) ? span->start : nullptr;
  }
  if (want < have && have - want >= have / 4) arena().shrink(span, (have - want) >> kSliceShift);
  return span->start;
}

}  // namespace ffa

// Decay ticks. One thread at a time runs a tick (whoever wins the compare-and-swap on the tick
// number); the others go on at once. All syscalls here run outside every lock.
#include "large/decay.h"

#include "large/cpu_cache.h"

namespace ffa {

DecayCounters decay_counters;

namespace {

constexpr size_t kMaxPurgePerTick = 256 * kMiB;
// Idle dirty memory below this is left resident: a steady workload's few idle fragments are not
// worth a madvise per tick (and the refault after it). malloc_trim still purges everything.
constexpr size_t kMinPurgePerTick = 1 * kMiB;
std::atomic<uint64_t> last_tick{0};
// Threads that counted themselves active in a tick, by tick parity: the slot of the tick before
// keeps its count while the current one fills up.
std::atomic<unsigned> active_threads[2];

// `previous` is the tick that ran before this one. When whole ticks went by without one (no slow
// path ran for a while), the arena's recent marks date from that tick: a burst that ended
// seconds ago still looks recent, and sparing it would keep it resident until a second tick,
// which an idle program may never run. So after such a gap, recent runs are spared only where
// their 64 slices saw a release within the last tick (the arena keeps a release time per 64
// slices): what was freed just before this slow path stays, what idled through the gap goes.
// (One skipped tick is not a gap: the background thread's sleep can overshoot by that much.)
void run_tick(uint64_t now, uint64_t previous) {
  // The slot was last used two ticks ago. A thread that counted itself in it between the CAS
  // that began this tick and this store is forgotten until the next tick: the budget takes the
  // larger of the two slots, and the tick before still counts it.
  active_threads[now & 1].store(0, std::memory_order_relaxed);
  bump(decay_counters.ticks);
  cpu_caches_age(now);
  size_t unmapped = region_cache().trim(/*everything=*/false, now);
  bool gap = now - previous > 2;
  uint64_t released_since = gap ? os::now_coarse_ns() - large_config.decay_ns / 2 : 0;
  size_t purged = arena().purge_free_runs(/*spare_recent=*/true, kMinPurgePerTick,
                                          kMaxPurgePerTick, released_since);
  decay_counters.bytes_unmapped.fetch_add(unmapped, std::memory_order_relaxed);
  decay_counters.bytes_purged.fetch_add(purged, std::memory_order_relaxed);
}

}  // namespace

uint64_t decay_now_tick() noexcept {
  uint64_t half = large_config.decay_ns / 2;
  return os::now_coarse_ns() / (half != 0 ? half : 1);
}

bool decay_maybe_tick() noexcept {
  uint64_t now = decay_now_tick();
  uint64_t last = last_tick.load(std::memory_order_relaxed);
  if (now == last || !last_tick.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    return false;
  }
  run_tick(now, last);
  return true;
}

unsigned decay_count_active(LargeCache* cache) noexcept {
  uint64_t tick = last_tick.load(std::memory_order_relaxed);
  if (cache->active_tick != tick) {
    cache->active_tick = tick;
    active_threads[tick & 1].fetch_add(1, std::memory_order_relaxed);
  }
  unsigned now = active_threads[tick & 1].load(std::memory_order_relaxed);
  unsigned before = active_threads[(tick + 1) & 1].load(std::memory_order_relaxed);
  unsigned most = now > before ? now : before;
  return most != 0 ? most : 1;
}

void decay_forget_active_for_test() noexcept {
  for (auto& count : active_threads) count.store(0, std::memory_order_relaxed);
}

void decay_tick() noexcept {
  uint64_t now = decay_now_tick();
  run_tick(now, last_tick.exchange(now, std::memory_order_relaxed));
}

size_t decay_everything() noexcept {
  cpu_caches_flush();
  size_t released = region_cache().trim(/*everything=*/true, 0);
  released += arena().purge_free_runs(/*spare_recent=*/false, 0, ~size_t(0));
  return released;
}

}  // namespace ffa

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

void run_tick(uint64_t now) {
  bump(decay_counters.ticks);
  cpu_caches_age(now);
  size_t unmapped = region_cache().trim(/*everything=*/false, now);
  size_t purged = arena().purge_free_runs(/*spare_recent=*/true, kMinPurgePerTick,
                                          kMaxPurgePerTick);
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
  run_tick(now);
  return true;
}

void decay_tick() noexcept {
  uint64_t now = decay_now_tick();
  last_tick.store(now, std::memory_order_relaxed);
  run_tick(now);
}

size_t decay_everything() noexcept {
  cpu_caches_flush();
  size_t released = region_cache().trim(/*everything=*/true, 0);
  released += arena().purge_free_runs(/*spare_recent=*/false, 0, ~size_t(0));
  return released;
}

}  // namespace ffa

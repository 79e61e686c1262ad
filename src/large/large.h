// The large path policy: this thread's block cache -> this CPU's block cache -> contiguous arena
// (fails fast) -> mapped region (always works unless the OS says no). Includes base/, platform/,
// core/ and the large tiers.
//
// Contract, step by step:
//   1. The thread's cache: no lock, no syscall. Exact size class first, LIFO (warm blocks
//      first); on a miss, a block up to 16 classes larger: whole if at most 25% larger, else
//      cut down to size.
//   2. The CPU's cache (large/cpu_cache.h), the same way, under a try-lock that is never waited
//      on. With more threads than CPUs most misses of a small thread cache land here; taking
//      larger blocks too kept 45k more of them per million off the arena (seed workload, 8
//      local committers), where a claim often gets lines another CPU wrote last.
//   3. Arena::try_claim: no syscall, no waiting, bounded first-fit scan; a miss returns at once.
//      On kNoSpace we may grow the arena by one chunk if nobody else is growing it (one mmap).
//   4. Regions: the region cache (lock-free), else one fresh mmap (no lock anywhere).
// Free: a block this thread allocated goes into its own cache; any other (the seed's push
// thread freeing a committer's buffer), or one the thread cache refuses, goes to the cache of
// the CPU it was last handed out on, where whichever thread runs there next reuses it warm.
// What a cache will not take goes straight back to the arena bitmap (one atomic operation) or
// the region cache. Nothing is unmapped or purged here: decay (large/decay.h) does that later.
//
// Measured and dropped on the seed workload at 8 committers on 2 CPUs: per-class transfer pools
// between thread caches, and handing each block back to the thread that allocated it. Both
// keep blocks with threads that are not running: 2x and 4x the RSS of the per-CPU tier.
#pragma once

#include "large/block_cache.h"
#include "large/region.h"

namespace ffa {

/// Run-time settings of the large path (set once by runtime/ at init from FFALLOC_* options).
struct LargeConfig {
  size_t cache_bytes = 512 * kKiB;    // budget of a thread's block cache (see options.def)
  unsigned cpus = 1;                  // CPUs the process may run on (os::cpu_count at init)
  size_t cpu_cache_bytes = 512 * kKiB; // budget of each CPU's block cache
  uint64_t decay_ns = 1000000000;     // free memory is returned this long after it was freed
  bool huge_pages = false;            // MADV_HUGEPAGE on arena chunks
  size_t region_threshold = kLargeMax; // larger requests go straight to regions (M_MMAP_THRESHOLD)
  bool profile = false;               // time the path past the caches (FFALLOC_STATS)
};
extern LargeConfig large_config;

/// Per-thread counters (written by the owning thread only, read by stats with relaxed loads).
struct LargeCounters {
  std::atomic<uint64_t> cache_hits{0}, cpu_cache_hits{0}, arena_hits{0}, failfast_nospace{0},
      failfast_contended{0}, regions_mapped{0}, regions_reused{0}, regions_grown{0}, frees{0},
      slow_ns{0};
};

/// A thread's part of the large path.
struct LargeCache {
  BlockCache blocks;
  LargeCounters counters;
  uint64_t active_tick = 0;  // the decay tick this thread last counted itself active in
};

/// Allocates a large block (size > kSmallMax, or any size with alignment the small path cannot
/// give). Null on ENOMEM. zero: the caller needs zeroed memory (skipped when known zero).
void* large_malloc(LargeCache* cache, size_t size, size_t align, bool zero) noexcept;
/// Frees a live large block or region (span->kind kLarge or kRegion). cache may be null (a
/// thread without a heap): the block then goes straight back to its tier.
void large_free(LargeCache* cache, Span* span) noexcept;
/// What the thread's block cache may hold now: cache_bytes, or cache_bytes * cpus / threads when
/// more threads than CPUs used their caches lately (counting this one: decay_count_active).
size_t large_thread_cache_budget(LargeCache* cache) noexcept;
/// Releases every block in the thread's cache to the arena.
void large_cache_flush(LargeCache* cache) noexcept;
/// Usable bytes of a live large block or region.
size_t large_usable_size(const Span* span) noexcept;
/// Resizes in place when it can: arena runs grow into free following slices or give back their
/// tail, regions use mremap. Returns the block's (possibly moved) start, or null when the caller
/// must allocate, copy and free.
void* large_try_resize(Span* span, size_t new_size) noexcept;


/// Payload bytes and number of live regions (process-wide).
size_t large_region_bytes_live() noexcept;
size_t large_regions_live() noexcept;

/// Bumps a per-thread counter without an atomic read-modify-write.
FFA_INLINE void bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
FFA_INLINE uint64_t get_relaxed(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace ffa

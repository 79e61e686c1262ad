// Decay: memory freed and not reused within large_config.decay_ns goes back to the OS, in
// bounded batches, from slow paths (or the optional background thread), never from a fast path.
// Includes the large tiers.
//
// Time is cut into ticks of decay_ns / 2. A tick gives back what sat unused for a whole tick:
// arena runs free and not released during the last tick (madvise) and cached regions parked
// before the previous tick (munmap); each thread's large cache gives its blocks that stayed
// below the low-water mark for a tick back to the arena. So memory returns between one and two
// ticks after it was last used, except that a tick purges nothing when under 1 MiB of arena
// memory qualifies (malloc_trim still does).
#pragma once

#include "large/large.h"

namespace ffa {

/// The current tick number (cheap: a coarse clock read).
uint64_t decay_now_tick() noexcept;

/// Runs a decay tick if one is due and no other thread is running one; true if this call ran
/// it. Call from slow paths.
bool decay_maybe_tick() noexcept;

/// Runs a decay tick now (the background thread, tests).
void decay_tick() noexcept;

/// Counts the thread owning `cache` as active in the current tick (an atomic add once per thread
/// per tick) and returns how many threads were active in this tick or the one before, whichever
/// is more (at least 1).
unsigned decay_count_active(LargeCache* cache) noexcept;
/// Test hook: the active counts restart from zero (a thread counts itself again once its
/// cache's active_tick no longer matches the tick).
void decay_forget_active_for_test() noexcept;

/// Ages the thread's own large cache: blocks that stayed below a bin's low-water mark for a
/// whole tick go back to the arena. Called by the owning thread from its slow paths.
void decay_thread_cache(LargeCache* cache) noexcept;

/// Returns everything free to the OS now (malloc_trim): region cache and free arena runs.
size_t decay_everything() noexcept;

struct DecayCounters {
  std::atomic<uint64_t> ticks{0}, bytes_purged{0}, bytes_unmapped{0};
};
extern DecayCounters decay_counters;

}  // namespace ffa

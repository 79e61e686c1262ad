// Per-CPU caches of large blocks: the tier between a thread's own cache and the arena. Includes
// the block cache and the arena.
//
// Why per CPU: a block freed by another thread (the seed's push thread) goes back to the cache
// of the CPU it was allocated on, where the next malloc of a thread running there finds it.
// With more threads than CPUs, a thread that is not running holds nothing, so the blocks in
// flight are shared by whoever runs: a per-thread hand-back let each committer hoard what it
// had out at its busiest, four times the RSS at 8 committers on 2 CPUs.
//
// Each cache sits behind a try-lock taken for a few dozen instructions and never waited on: a
// thread that finds it held (its holder was preempted, or another CPU is freeing into it) goes
// on to the arena at once, the seed's fail-fast rule. No syscall happens under it.
#pragma once

#include "large/block_cache.h"

namespace ffa {

constexpr unsigned kMaxCpus = 1024;  // CPUs numbered beyond this skip the tier

/// Takes a block for class c from CPU cpu's cache: of class c, else of the smallest class in
/// (c, c + reach] (BlockCache::take_or_larger); null on a miss or when its lock is busy.
Span* cpu_cache_take(unsigned cpu, unsigned c, unsigned reach) noexcept;
/// Parks a block of class c in CPU cpu's cache; false when it was not taken (lock busy, class
/// not in demand there, or no room): the caller passes it on.
bool cpu_cache_put(unsigned cpu, Span* span, unsigned c) noexcept;
/// Decay: each CPU cache gives the blocks that idled a whole tick to the arena (a busy cache
/// is skipped until the next tick).
void cpu_caches_age(uint64_t tick) noexcept;
/// Gives every block in every CPU cache to the arena (malloc_trim). Busy caches are skipped.
void cpu_caches_flush() noexcept;
/// Bytes held by all CPU caches (approximate while threads use them).
size_t cpu_caches_bytes() noexcept;
/// In a fork child: a lock held by a thread that does not exist there is freed.
void cpu_caches_after_fork_child() noexcept;

}  // namespace ffa

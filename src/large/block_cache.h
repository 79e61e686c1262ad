// BlockCache: freed large blocks kept for reuse, by size class. Each thread has one (used with
// no lock) and each CPU has one (used under that CPU's try-lock, large/cpu_cache.h); both follow
// the same rules, written here once. Includes core/ and the arena.
//
//   - LIFO bins: the newest (warmest) block goes out first. A miss takes a larger block (the
//     caller cuts it down) or grows the newest smaller one in place.
//   - A byte budget, so what a cache holds is bounded. When it is full, a class taken more
//     recently displaces blocks of one taken less recently.
//   - Demand: only classes asked for within the last kDemandWindow takes keep blocks. A class
//     used once in a while would hold its blocks cold and out of every other thread's reach;
//     the arena reuses those slices for any size instead.
//   - Aging: blocks that stayed below a bin's low-water mark for a whole decay tick were not
//     needed; they go back to the arena.
#pragma once

#include "large/arena.h"

namespace ffa {

static_assert(kLargeClasses <= 64, "BlockCache::nonempty has a bit per class");
constexpr uint32_t kDemandWindow = 64;

struct BlockCache {
  // A bin is a list linked through the blocks' own descriptors (Span::prev towards the oldest,
  // Span::next towards the newest): no array to size, so the budget alone bounds how many
  // blocks a class holds, and a heap stays small (a server may have thousands).
  struct Bin {
    uint32_t count = 0;
    uint32_t low_water = 0;  // lowest count since the last aging: blocks below it idled
    uint32_t last_use = 0;   // `clock` at this class's last take
    Span* newest = nullptr;
    Span* oldest = nullptr;
  };
  Bin bins[kLargeClasses];
  uint32_t clock = kDemandWindow;  // takes so far, plus the window: nothing starts in demand
  // Read by stats from other threads while the owner updates it: a relaxed atomic that only the
  // owner writes (a plain load and store, no read-modify-write).
  std::atomic<size_t> held{0};
  uint64_t nonempty = 0;     // bit c: bins[c] holds a block (misses and evictions read only those)
  uint64_t aged_at = 0;      // the decay tick this cache last aged at

  /// The newest block of class c, or null. Either way c counts as in demand from now.
  Span* take(unsigned c);
  /// The newest block of the smallest non-empty class in (c, c + reach], or null: a block the
  /// caller can use for class c, whole or cut down.
  Span* take_larger(unsigned c, unsigned reach);
  /// The newest block of the largest non-empty class in [c - reach, c), grown in place to class
  /// c's size if the slices right after it are free (else null, and it stays). glibc hands back
  /// the memory it just freed whatever the next size; a cache by class would hand out a colder
  /// block than this one, whose start the thread (or CPU) just wrote. Within reach, a fair part
  /// of the grown block is that warm start.
  Span* take_grown(unsigned c, unsigned reach);
  /// take(c), else take_larger(c, reach), else take_grown(c, reach).
  Span* take_or_larger(unsigned c, unsigned reach) {
    Span* span = take(c);
    if (span == nullptr) span = take_larger(c, reach);
    return span != nullptr ? span : take_grown(c, reach);
  }
  /// Parks a block of class c (kind becomes kLargeCached) if c is in demand and the budget has
  /// room. To make room, classes no longer in demand give all their blocks to the arena, then
  /// classes taken less recently than c give blocks one at a time, least recently taken first.
  /// False when it was not taken: the caller passes it on.
  bool put(Span* span, unsigned c, size_t budget);
  /// Gives the blocks that idled for a whole tick to the arena; once per tick number.
  void age(uint64_t tick);
  /// Gives every block to the arena.
  void flush();

  size_t bytes() const { return held.load(std::memory_order_relaxed); }

  /// Takes since class c was last taken (the clock wraps; the difference does not).
  uint32_t idle_takes(unsigned c) const { return clock - bins[c].last_use; }
  bool in_demand(unsigned c) const { return idle_takes(c) < kDemandWindow; }

 private:
  bool make_room(unsigned c, size_t size, size_t budget);
  void set_bytes(size_t b) { held.store(b, std::memory_order_relaxed); }
  Span* pop(unsigned c);
  void push(Span* span, unsigned c);
  void spill(unsigned c, unsigned n);
};

}  // namespace ffa

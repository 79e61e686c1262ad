#include "large/block_cache.h"

namespace ffa {

// Gives the n oldest blocks of a bin to the arena.
void BlockCache::spill(unsigned c, unsigned n) {
  Bin& bin = bins[c];
  if (n > bin.count) n = bin.count;
  if (n == 0) return;
  for (unsigned i = 0; i < n; ++i) {
    Span* span = bin.oldest;
    bin.oldest = span->next;
    arena().release(span);
  }
  if (bin.oldest != nullptr) bin.oldest->prev = nullptr;
  else bin.newest = nullptr;
  bin.count -= n;
  bin.low_water = bin.low_water > n ? bin.low_water - n : 0;
  set_bytes(bytes() - n * large_class_size(c));
  if (bin.count == 0) nonempty &= ~(uint64_t(1) << c);
}

Span* BlockCache::pop(unsigned c) {
  Bin& bin = bins[c];
  Span* span = bin.newest;
  if (span == nullptr) return nullptr;
  bin.newest = span->prev;
  if (bin.newest != nullptr) bin.newest->next = nullptr;
  else bin.oldest = nullptr;
  span->prev = span->next = nullptr;
  if (--bin.count < bin.low_water) bin.low_water = bin.count;
  set_bytes(bytes() - large_class_size(c));
  if (bin.count == 0) nonempty &= ~(uint64_t(1) << c);
  return span;
}

void BlockCache::push(Span* span, unsigned c) {
  Bin& bin = bins[c];
  span->prev = bin.newest;
  span->next = nullptr;
  if (bin.newest != nullptr) bin.newest->next = span;
  else bin.oldest = span;
  bin.newest = span;
  bin.count++;
  set_bytes(bytes() + large_class_size(c));
  nonempty |= uint64_t(1) << c;
}

Span* BlockCache::take(unsigned c) {
  bins[c].last_use = ++clock;
  return pop(c);
}

Span* BlockCache::take_larger(unsigned c, unsigned reach) {
  uint64_t reachable = reach >= 64 ? ~uint64_t(0) : (uint64_t(1) << reach) - 1;
  uint64_t within = (nonempty >> (c + 1)) & reachable;
  return within != 0 ? pop(c + 1 + unsigned(__builtin_ctzll(within))) : nullptr;
}

Span* BlockCache::take_grown(unsigned c, unsigned reach) {
  uint64_t below = nonempty & ((uint64_t(1) << c) - 1);
  if (below == 0) return nullptr;
  unsigned from = 63 - unsigned(__builtin_clzll(below));
  if (c - from > reach) return nullptr;
  Span* newest = bins[from].newest;
  size_t more = (large_class_size(c) >> kSliceShift) - newest->slices;
  return arena().try_extend(newest, more) ? pop(from) : nullptr;
}

bool BlockCache::put(Span* span, unsigned c, size_t budget) {
  size_t size = large_class_size(c);
  if (!in_demand(c) || size > budget) return false;
  if (bytes() + size > budget && !make_room(c, size, budget)) return false;
  span->kind = SpanKind::kLargeCached;
  push(span, c);
  return true;
}

// Only bins holding blocks are looked at (the nonempty mask): classes out of demand give back
// all their blocks; then classes taken less recently than c give blocks back one by one, the
// least recently taken first: a byte of the budget saves more arena claims holding a class
// taken often (the seed's 64 KiB buffers) than one taken now and then. A cache full of blocks
// at least as wanted passes this one on. Looking at 8 bins round robin instead, most puts saw
// none of the few bins in use: at 1 committer a third of the 64 KiB frees were refused.
bool BlockCache::make_room(unsigned c, size_t size, size_t budget) {
  size_t colder_bytes = 0;
  for (uint64_t m = nonempty & ~(uint64_t(1) << c); m != 0; m &= m - 1) {
    unsigned other = unsigned(__builtin_ctzll(m));
    if (!in_demand(other)) {
      spill(other, bins[other].count);
    } else if (idle_takes(other) > idle_takes(c)) {
      colder_bytes += bins[other].count * large_class_size(other);
    }
  }
  if (bytes() + size > budget + colder_bytes) return false;
  while (bytes() + size > budget) {
    unsigned coldest = c;
    for (uint64_t m = nonempty & ~(uint64_t(1) << c); m != 0; m &= m - 1) {
      unsigned other = unsigned(__builtin_ctzll(m));
      if (idle_takes(other) > idle_takes(coldest)) coldest = other;
    }
    spill(coldest, 1);
  }
  return true;
}

void BlockCache::age(uint64_t tick) {
  if (aged_at == tick) return;
  aged_at = tick;
  for (unsigned c = 0; c < kLargeClasses; ++c) {
    spill(c, bins[c].low_water);  // the oldest blocks, idle for the whole tick
    bins[c].low_water = bins[c].count;
  }
}

void BlockCache::flush() {
  for (unsigned c = 0; c < kLargeClasses; ++c) spill(c, bins[c].count);
}

}  // namespace ffa

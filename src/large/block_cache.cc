#include "large/block_cache.h"

#include <cstring>

namespace ffa {

// Gives the n oldest blocks of a bin (the bottom of its stack) to the arena.
void BlockCache::spill(unsigned c, unsigned n) {
  Bin& bin = bins[c];
  if (n > bin.count) n = bin.count;
  if (n == 0) return;
  for (unsigned i = 0; i < n; ++i) arena().release(bin.blocks[i]);
  memmove(bin.blocks, bin.blocks + n, (bin.count - n) * sizeof(Span*));
  bin.count -= n;
  bin.low_water = bin.low_water > n ? bin.low_water - n : 0;
  bytes -= n * large_class_size(c);
}

Span* BlockCache::pop(unsigned c) {
  Bin& bin = bins[c];
  if (bin.count == 0) return nullptr;
  Span* span = bin.blocks[--bin.count];
  if (bin.count < bin.low_water) bin.low_water = bin.count;
  bytes -= large_class_size(c);
  return span;
}

Span* BlockCache::take(unsigned c) {
  bins[c].last_use = ++clock;
  return pop(c);
}

Span* BlockCache::take_larger(unsigned c, unsigned reach) {
  for (unsigned larger = c + 1; larger <= c + reach && larger < kLargeClasses; ++larger) {
    if (Span* span = pop(larger)) return span;
  }
  return nullptr;
}

bool BlockCache::put(Span* span, unsigned c, size_t budget) {
  size_t size = large_class_size(c);
  if (!in_demand(c) || size > budget) return false;
  Bin& bin = bins[c];
  if (bin.count == kBlockCacheDepth) spill(c, kBlockCacheDepth / 2);
  if (bytes + size > budget && !make_room(c, size, budget)) return false;
  span->kind = SpanKind::kLargeCached;
  bin.blocks[bin.count++] = span;
  bytes += size;
  return true;
}

// Looks at a few bins, round robin (bounded: a put never walks every bin). Classes out of demand
// give back all their blocks. If that is not enough, the least recently taken class seen gives
// back blocks one by one, provided it was taken less recently than c: a byte of the budget
// saves more arena claims holding a class taken often (the seed's 64 KiB buffers) than one
// taken now and then. A cache full of blocks at least as wanted passes this one on.
bool BlockCache::make_room(unsigned c, size_t size, size_t budget) {
  unsigned colder = c;
  for (unsigned looked = 0; looked < kEvictScan && bytes + size > budget; ++looked) {
    unsigned other = evict_cursor++ % kLargeClasses;
    if (other == c || bins[other].count == 0) continue;
    if (!in_demand(other)) {
      spill(other, kBlockCacheDepth);
    } else if (idle_takes(other) > idle_takes(colder)) {
      colder = other;
    }
  }
  if (bytes + size <= budget) return true;
  if (colder == c || bytes - bins[colder].count * large_class_size(colder) + size > budget) {
    return false;  // evicting the whole colder class would not make room: keep it
  }
  while (bytes + size > budget) spill(colder, 1);
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
  for (unsigned c = 0; c < kLargeClasses; ++c) spill(c, kBlockCacheDepth);
}

}  // namespace ffa

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
  // Over budget: look at a few bins, round robin, for a class out of demand to evict. Bounded,
  // so a put never walks every bin; a cache full of wanted blocks passes this one on.
  for (unsigned looked = 0; bytes + size > budget; ++looked) {
    if (looked == kEvictScan) return false;
    unsigned other = evict_cursor++ % kLargeClasses;
    if (bins[other].count != 0 && !in_demand(other)) spill(other, kBlockCacheDepth);
  }
  span->kind = SpanKind::kLargeCached;
  bin.blocks[bin.count++] = span;
  bytes += size;
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

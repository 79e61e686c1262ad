// BlockCache, the rules shared by the thread and CPU caches: LIFO, a byte budget, only classes
// in demand keep blocks, and blocks idle for a whole tick go back to the arena.
#include <gtest/gtest.h>

#include <vector>

#include "large/block_cache.h"

namespace ffa {
namespace {

const unsigned k64K = large_class(64 * kKiB);

Span* claim(unsigned c) {
  ClaimFailure why;
  if (arena().chunk_count() == 0) {
    EXPECT_TRUE(arena().grow(false));
  }
  Span* span = arena().try_claim(large_class_size(c) >> kSliceShift, kSliceSize, &why);
  EXPECT_NE(span, nullptr);
  span->kind = SpanKind::kLarge;
  return span;
}

TEST(BlockCache, NewestBlockGoesOutFirst) {
  ASSERT_EQ(large_class_size(k64K), 64 * kKiB);
  BlockCache cache;
  Span* early = claim(k64K);
  EXPECT_FALSE(cache.put(early, k64K, kMiB));  // nobody asked for the class yet
  arena().release(early);
  EXPECT_EQ(cache.take(k64K), nullptr);  // a miss still makes the class wanted
  EXPECT_TRUE(cache.in_demand(k64K));
  Span* a = claim(k64K);
  Span* b = claim(k64K);
  EXPECT_TRUE(cache.put(a, k64K, kMiB));
  EXPECT_TRUE(cache.put(b, k64K, kMiB));
  EXPECT_EQ(a->kind, SpanKind::kLargeCached);
  EXPECT_EQ(cache.bytes(), 128 * kKiB);
  EXPECT_EQ(cache.take(k64K), b);
  EXPECT_EQ(cache.take(k64K), a);
  EXPECT_EQ(cache.bytes(), 0u);
  arena().release(a);
  arena().release(b);
}

// Only the budget bounds a class: with FFALLOC_LARGE_CACHE_KIB raised, a thread that cycles
// through 80 buffers of 64 KiB keeps all of them, and hands them out newest first.
TEST(BlockCache, TheBudgetAloneBoundsHowManyBlocksOfAClassStay) {
  constexpr unsigned kBlocks = 80;
  BlockCache cache;
  cache.take(k64K);
  std::vector<Span*> blocks;
  for (unsigned i = 0; i < kBlocks; ++i) blocks.push_back(claim(k64K));
  for (Span* span : blocks) ASSERT_TRUE(cache.put(span, k64K, kBlocks * 64 * kKiB));
  EXPECT_EQ(cache.bins[k64K].count, kBlocks);
  for (unsigned i = kBlocks; i-- > 0;) EXPECT_EQ(cache.take(k64K), blocks[i]);
  for (Span* span : blocks) arena().release(span);
}

TEST(BlockCache, ClassNotAskedForLatelyKeepsNothing) {
  BlockCache cache;
  unsigned rare = k64K + 8;
  Span* block = claim(rare);
  cache.take(rare);
  for (uint32_t i = 0; i < kDemandWindow; ++i) cache.take(k64K);
  EXPECT_FALSE(cache.in_demand(rare));
  EXPECT_FALSE(cache.put(block, rare, 64 * kMiB));  // the caller gives it to the arena
  EXPECT_EQ(cache.bytes(), 0u);
  arena().release(block);
}

TEST(BlockCache, BudgetIsKeptByEvictingClassesOutOfDemand) {
  BlockCache cache;
  unsigned rare = k64K + 8;
  cache.take(rare);
  Span* old = claim(rare);
  ASSERT_TRUE(cache.put(old, rare, large_class_size(rare)));
  for (uint32_t i = 0; i < kDemandWindow; ++i) cache.take(k64K);
  // The budget is full of a class nobody asks for any more: the wanted block takes its place.
  Span* wanted = claim(k64K);
  size_t in_use = arena().bytes_in_use();
  EXPECT_TRUE(cache.put(wanted, k64K, large_class_size(rare)));
  EXPECT_EQ(cache.bins[rare].count, 0u);
  EXPECT_EQ(old->kind, SpanKind::kFree);  // back in the arena
  EXPECT_EQ(arena().bytes_in_use(), in_use - large_class_size(rare));
  EXPECT_EQ(cache.take(k64K), wanted);
  // A cache full of wanted blocks refuses more instead of evicting them.
  ASSERT_TRUE(cache.put(wanted, k64K, 64 * kKiB));
  cache.take(k64K + 1);
  Span* bigger = claim(k64K + 1);
  EXPECT_FALSE(cache.put(bigger, k64K + 1, 64 * kKiB));  // larger than the whole budget
  arena().release(bigger);
  Span* extra = claim(k64K);
  EXPECT_FALSE(cache.put(extra, k64K, 64 * kKiB));
  cache.flush();
  arena().release(extra);
}

TEST(BlockCache, AClassTakenMoreRecentlyDisplacesOnesTakenLessRecently) {
  BlockCache cache;
  unsigned rare = k64K + 8;  // 128 KiB, eight bins away: every bin holding blocks is looked at
  size_t budget = 2 * large_class_size(rare);
  cache.take(rare);
  Span* first = claim(rare);
  Span* second = claim(rare);
  ASSERT_TRUE(cache.put(first, rare, budget));
  ASSERT_TRUE(cache.put(second, rare, budget));
  cache.take(k64K);  // 64 KiB is now the class taken most recently; both stay in demand
  ASSERT_TRUE(cache.in_demand(rare));
  Span* hot = claim(k64K);
  ASSERT_TRUE(cache.put(hot, k64K, budget));
  EXPECT_EQ(cache.bins[rare].count, 1u);
  EXPECT_EQ(first->kind, SpanKind::kFree);  // the oldest block of the colder class went back
  EXPECT_EQ(cache.bins[rare].newest, second);
  EXPECT_EQ(cache.bytes(), budget - 64 * kKiB);
  // A block of a class taken less recently than every class cached finds no room.
  Span* third = claim(rare);
  EXPECT_FALSE(cache.put(third, rare, budget));
  arena().release(third);
  // One taken more recently than all of them displaces them all if it needs the room, the
  // least recently taken first.
  unsigned big = k64K + 24;
  ASSERT_EQ(large_class_size(big), budget);
  cache.take(big);
  Span* block = claim(big);
  ASSERT_TRUE(cache.put(block, big, budget));
  EXPECT_EQ(cache.bins[rare].count, 0u);
  EXPECT_EQ(cache.bins[k64K].count, 0u);
  EXPECT_EQ(second->kind, SpanKind::kFree);
  EXPECT_EQ(hot->kind, SpanKind::kFree);
  EXPECT_EQ(cache.bytes(), budget);
  EXPECT_EQ(cache.take_larger(k64K, 16), nullptr);  // 256 KiB is 24 classes above 64 KiB
  EXPECT_EQ(cache.take_larger(k64K + 8, 16), block);
  arena().release(block);
}

TEST(BlockCache, BlocksIdleForAWholeTickAreGivenBack) {
  BlockCache cache;
  cache.take(k64K);
  Span* a = claim(k64K);
  Span* b = claim(k64K);
  ASSERT_TRUE(cache.put(a, k64K, kMiB));
  ASSERT_TRUE(cache.put(b, k64K, kMiB));
  cache.age(1);  // sets the low-water mark: both blocks are still there
  EXPECT_EQ(cache.bins[k64K].count, 2u);
  EXPECT_EQ(cache.take(k64K), b);  // one is used during tick 1
  cache.age(1);  // same tick: nothing happens
  cache.age(2);  // a (below the low-water mark all of tick 1) goes back
  EXPECT_EQ(cache.bins[k64K].count, 0u);
  EXPECT_EQ(a->kind, SpanKind::kFree);
  arena().release(b);
}

}  // namespace
}  // namespace ffa

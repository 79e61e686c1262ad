// Per-thread heaps: LIFO reuse, remote frees that reach the owner (also into full spans),
// heaps adopted after thread exit, and loud aborts on double or invalid frees.
#include "heap/heap.h"

#include <set>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/page_map.h"
#include "ffalloc/ffalloc.h"
#include "stats_snapshot.h"

namespace ffa {
namespace {

TEST(Heap, LocallyFreedObjectsAreReusedBeforeNewMemory) {
  std::vector<void*> first(3000), second(3000);
  // A round before, so that this class's spans have grown to full size (kSpanGrowthSteps) and
  // both rounds below cut the same sizes of span.
  for (auto& o : first) o = ffa_malloc(40);
  for (void* o : first) ffa_free(o);
  for (auto& o : first) o = ffa_malloc(40);
  for (void* o : first) ffa_free(o);
  for (auto& o : second) o = ffa_malloc(40);
  // No fresh memory: every object of the second round lies in a span of the first round.
  std::set<char*> first_spans;
  for (void* o : first) first_spans.insert(page_map().lookup(o)->start);
  for (void* o : second) ASSERT_TRUE(first_spans.count(page_map().lookup(o)->start)) << o;
  for (void* o : second) ffa_free(o);
}

TEST(Heap, RemoteFreesComeBackToTheOwnerEvenFromFullSpans) {
  // Fill several spans of one class so that all of them are parked as full, free everything
  // from another thread, and allocate the same amount again: no new span is needed.
  constexpr int kObjects = 20000;  // 20000 * 96 B = ~30 spans of 64 KiB
  std::vector<void*> objects(kObjects);
  for (auto& o : objects) {
    o = ffa_malloc(96);
    memset(o, 0x11, 96);
  }
  ffa_stats before = stats();
  std::thread([&] {
    for (void* o : objects) ffa_free(o);
  }).join();
  ffa_stats mid = stats();
  EXPECT_EQ(mid.remote_frees - before.remote_frees, uint64_t(kObjects));
  for (auto& o : objects) o = ffa_malloc(96);
  ffa_stats after = stats();
  EXPECT_EQ(after.small_spans_created, mid.small_spans_created);
  for (void* o : objects) ffa_free(o);
}

// Many threads that each use a class lightly (a pool's workers) must not each hold a 64 KiB
// span of it: a heap's first span of a class up to 1 KiB is one slice, and each new one doubles.
TEST(Heap, SpansOfAClassStartAtOneSliceAndDoubleUpToFullSize) {
  auto spans_in_order = [] {
    std::vector<unsigned> slices;
    std::vector<void*> objects(2600);  // 48 B: 170 + 341 + 682 + 1365 fit in the first four
    const Span* last = nullptr;
    for (auto& o : objects) {
      o = ffa_malloc(48);
      const Span* span = page_map().lookup(o);
      if (span != last) slices.push_back(span->slices);
      last = span;
    }
    for (void* o : objects) ffa_free(o);
    return slices;
  };
  std::vector<unsigned> first, second;
  std::thread([&] { first = spans_in_order(); }).join();
  EXPECT_EQ(first, (std::vector<unsigned>{1, 2, 4, 8, 8}));
  // The next thread (which may adopt the exited one's heap) starts small again.
  std::thread([&] { second = spans_in_order(); }).join();
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(second[0], 1u);
}

// A server's pool: threads that each used every class up to 1 KiB a little and now wait. Each
// holds its heap and one one-slice span per class (8 KiB), not 64 KiB per class.
TEST(Heap, AParkedThreadThatUsedEveryClassLightlyHoldsLittle) {
  constexpr int kThreads = 32;
  const unsigned classes = small_class(1024) + 1;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  ffa_stats before = stats();
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&] {
      std::vector<void*> objects;
      for (unsigned c = 0; c < classes; ++c) {
        for (int i = 0; i < 4; ++i) objects.push_back(ffa_malloc(small_class_size(c) - kCanaryBytes));
      }
      for (void* o : objects) ffa_free(o);
      ready++;
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  }
  while (ready.load() < kThreads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ffa_stats parked = stats();
  go = true;
  for (auto& t : pool) t.join();
  size_t per_thread = (parked.arena_bytes_in_use - before.arena_bytes_in_use) / kThreads;
  size_t heap = align_up(sizeof(Heap), kSliceSize);
  EXPECT_LE(per_thread, heap + classes * kSliceSize) << classes << " classes";
}

TEST(Heap, EmptySpansGoBackToTheArena) {
  std::vector<void*> objects(50000);
  for (auto& o : objects) o = ffa_malloc(200);
  ffa_stats before = stats();
  for (void* o : objects) ffa_free(o);
  EXPECT_GT(stats().small_spans_released, before.small_spans_released + 50);
}

TEST(Heap, OnlyTheMostRecentlyEmptiedPageSizedSpansAreKept) {
  std::thread([] {
    std::vector<size_t> sizes;  // one size per page-sized class, smallest first
    for (unsigned c = kFirstPageClass; c < kSmallClasses; ++c) {
      sizes.push_back(small_class_size(c) - kCanaryBytes);  // secure builds add the canary
    }
    ASSERT_GT(sizes.size(), kIdleSpans);
    // An object of each class, freed at once: every class's span lies empty in turn, and all
    // but the kIdleSpans emptied last go back to the arena.
    ffa_stats before = stats();
    for (size_t size : sizes) ffa_free(ffa_malloc(size));
    ffa_stats after = stats();
    EXPECT_EQ(after.small_spans_created - before.small_spans_created, sizes.size());
    EXPECT_EQ(after.small_spans_released - before.small_spans_released,
              sizes.size() - kIdleSpans);
    // A loop over those last classes keeps using their spans: no claim, nothing given back.
    for (int round = 0; round < 1000; ++round) {
      for (size_t i = sizes.size() - kIdleSpans; i < sizes.size(); ++i) {
        ffa_free(ffa_malloc(sizes[i]));
      }
    }
    EXPECT_EQ(stats().small_spans_created, after.small_spans_created);
    EXPECT_EQ(stats().small_spans_released, after.small_spans_released);
    // The first class lost its span: using it again claims one, and the class emptied longest
    // ago gives its span back.
    ffa_free(ffa_malloc(sizes[0]));
    EXPECT_EQ(stats().small_spans_created, after.small_spans_created + 1);
    EXPECT_EQ(stats().small_spans_released, after.small_spans_released + 1);
  }).join();
}

TEST(Heap, PageSizedSpansEmptiedByAnotherThreadGoBackToTheArena) {
  // The seed's shape: a thread allocates buffers of 4-32 KiB, another frees them. The owner is
  // not told that those spans lie empty; it must find out itself and give them back.
  std::thread([] {
    std::vector<size_t> sizes;  // one size per page-sized class
    for (unsigned c = kFirstPageClass; c < kSmallClasses; ++c) {
      sizes.push_back(small_class_size(c) - kCanaryBytes);
    }
    ffa_stats before = stats();
    std::vector<void*> objects;
    for (size_t size : sizes) {
      for (int i = 0; i < 24; ++i) objects.push_back(ffa_malloc(size));  // several spans a class
    }
    std::thread([&] {
      for (void* o : objects) ffa_free(o);
    }).join();
    ffa_stats freed = stats();
    ASSERT_GE(freed.small_spans_created - before.small_spans_created, 3 * sizes.size());
    // The owner goes on using every class, the other thread freeing what it gets. The spans
    // those frees emptied go back: no class ends with more than two.
    for (int round = 0; round < 20; ++round) {
      objects.clear();
      for (size_t size : sizes) objects.push_back(ffa_malloc(size));
      std::thread([&] {
        for (void* o : objects) ffa_free(o);
      }).join();
    }
    ffa_stats after = stats();
    EXPECT_LE((after.small_spans_created - after.small_spans_released) -
                  (before.small_spans_created - before.small_spans_released),
              2 * sizes.size());
  }).join();
}

TEST(Heap, ExitedThreadsHeapIsAdoptedWithItsSpans) {
  std::thread([] {
    std::vector<void*> v(5000);
    for (auto& o : v) o = ffa_malloc(48);
    for (void* o : v) ffa_free(o);
  }).join();
  // The next thread adopts the parked heap; its memory is reused, not lost.
  ffa_stats before = stats();
  std::thread([] {
    void* p = ffa_malloc(48);
    ffa_free(p);
  }).join();
  EXPECT_LE(stats().small_spans_created - before.small_spans_created, 1u);
}

using HeapDeathTest = ::testing::Test;

TEST(HeapDeathTest, DoubleFreeOfASmallBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = ffa_malloc(32);
        ffa_free(p);
        ffa_free(p);
      },
      "ffalloc: double free of 0x[0-9a-f]+");
}

TEST(HeapDeathTest, DoubleFreeFromAnotherThreadAborts) {
  EXPECT_DEATH(
      {
        void* p = ffa_malloc(32);
        std::thread([p] { ffa_free(p); }).join();
        std::thread([p] { ffa_free(p); }).join();
      },
      "ffalloc: double free of 0x");
}

TEST(HeapDeathTest, DoubleFreeOfALargeBlockAborts) {
  EXPECT_DEATH(
      {
        void* p = ffa_malloc(1 << 20);
        ffa_free(p);
        ffa_free(p);
      },
      "ffalloc: double free of 0x");
}

TEST(HeapDeathTest, FreeOfAForeignPointerAborts) {
  EXPECT_DEATH(
      {
        int local = 0;
        ffa_free(&local);
      },
      "ffalloc: free of invalid pointer .*0x");
}

TEST(HeapDeathTest, FreeOfAnInteriorPointerAborts) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(ffa_malloc(1 << 20));
        ffa_free(p + 64);
      },
      "ffalloc: free of invalid pointer \\(interior\\) 0x");
}

}  // namespace
}  // namespace ffa

namespace ffa {
namespace {

TEST(HeapDeathTest, WriteAfterFreeIntoTheFreeListIsCaught) {
  EXPECT_DEATH(
      {
        auto* p = static_cast<char*>(ffa_malloc(64));
        ffa_free(p);
        memset(p, 0x41, 16);  // use after free: clobbers the link and the marker
        for (int i = 0; i < 100000; ++i) ffa_malloc(64);  // until the list reaches p
      },
      "ffalloc: corrupted free list \\(write after free\\?\\) at 0x");
}

TEST(HeapDeathTest, MisalignedFreeAborts) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(ffa_malloc(64));
        ffa_free(p + 1);
      },
      "ffalloc: free of invalid pointer \\(misaligned\\) 0x");
}

TEST(HeapDeathTest, SecureBuildsCatchAnOverflowIntoTheCanary) {
  if (!FFA_SECURE) GTEST_SKIP() << "canaries are a secure-build feature";
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(ffa_malloc(40));
        size_t usable = ffa_malloc_usable_size(p);
        memset(p, 0, usable);
        // One byte too far, changed for sure (a zero written over a canary byte that is zero
        // already, one time in 256, would be no overflow to see).
        p[usable] = char(~p[usable]);
        ffa_free(p);
      },
      "ffalloc: buffer overflow detected \\(canary\\) in block 0x");
}

}  // namespace
}  // namespace ffa

namespace ffa {
namespace {

TEST(HeapDeathTest, SecureBuildsCatchAClobberedLinkAlone) {
  if (!FFA_SECURE) GTEST_SKIP() << "link checks are a secure-build feature";
  EXPECT_DEATH(
      {
        auto* p = static_cast<char*>(ffa_malloc(64));
        ffa_free(p);
        memset(p, 0x41, 8);  // only the link: the marker is intact
        for (int i = 0; i < 100000; ++i) ffa_malloc(64);
      },
      "ffalloc: corrupted free list \\(write after free\\?\\) at 0x");
}

}  // namespace
}  // namespace ffa

namespace ffa {
namespace {

TEST(HeapDeathTest, SecureBuildsCatchALocalInteriorFree) {
  if (!FFA_SECURE) GTEST_SKIP() << "local interior checks are a secure-build feature";
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(ffa_malloc(64));
        ffa_free(p + 16);
      },
      "ffalloc: free of invalid pointer \\(interior\\) 0x");
}

}  // namespace
}  // namespace ffa

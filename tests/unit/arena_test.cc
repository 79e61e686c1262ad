// Arena: contiguous slice runs claimed with atomics; a miss fails fast without any syscall.
#include "large/arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace ffa {
namespace {

void ensure_one_chunk() {
  if (arena().chunk_count() == 0) {
    ASSERT_TRUE(arena().grow(false));
  }
}

// Free slices by the bitmap, for each chunk.
std::vector<unsigned> free_by_bitmap() {
  std::vector<unsigned> counts;
  for (unsigned c = 0; c < arena().chunk_count(); ++c) {
    unsigned used = 0;
    for (const auto& word : arena().chunk(c)->in_use) {
      used += unsigned(__builtin_popcountll(word.load()));
    }
    counts.push_back(kSlicesPerChunk - used);
  }
  return counts;
}

std::vector<unsigned> free_by_count() {
  std::vector<unsigned> counts;
  for (unsigned c = 0; c < arena().chunk_count(); ++c) {
    counts.push_back(arena().chunk(c)->free_slices.load());
  }
  return counts;
}

TEST(Arena, ClaimPublishesRunAndReleaseReturnsIt) {
  ensure_one_chunk();
  ClaimFailure why;
  size_t before = arena().bytes_in_use();
  Span* span = arena().try_claim(5, kSliceSize, &why);
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(why, ClaimFailure::kNone);
  EXPECT_EQ(span->slices, 5u);
  EXPECT_EQ(uintptr_t(span->start) % kSliceSize, 0u);
  EXPECT_EQ(arena().bytes_in_use(), before + 5 * kSliceSize);
  for (size_t off = 0; off < 5 * kSliceSize; off += os::kPageSize) {
    EXPECT_EQ(page_map().lookup(span->start + off), span);
  }
  memset(span->start, 0xab, 5 * kSliceSize);  // the run is writable memory
  char* start = span->start;
  arena().release(span);
  EXPECT_EQ(arena().bytes_in_use(), before);
  EXPECT_EQ(span->kind, SpanKind::kFree);
  Span* again = arena().try_claim(5, kSliceSize, &why);  // first fit: the same run again
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->start, start);
  arena().release(again);
}

// Brute force over the bitmap, slice by slice: the lowest start of n free slices, or
// kSlicesPerChunk.
unsigned lowest_fit(const ArenaChunk* chunk, unsigned n) {
  unsigned run = 0;
  for (unsigned i = 0; i < kSlicesPerChunk; ++i) {
    bool used = (chunk->in_use[i / 64].load() >> (i % 64)) & 1;
    run = used ? 0 : run + 1;
    if (run == n) return i + 1 - n;
  }
  return kSlicesPerChunk;
}

TEST(Arena, EveryClaimTakesTheLowestRunThatFits) {
  ensure_one_chunk();
  std::mt19937 rng(7);
  std::vector<Span*> held;
  for (int step = 0; step < 3000; ++step) {
    if (!held.empty() && rng() % 2 == 0) {
      size_t i = rng() % held.size();
      arena().release(held[i]);
      held[i] = held.back();
      held.pop_back();
      continue;
    }
    // Mostly runs inside one bitmap word, some across words (up to 4 words).
    unsigned n = rng() % 4 == 0 ? 50 + unsigned(rng() % 200) : 1 + unsigned(rng() % 40);
    unsigned want_chunk = arena().chunk_count(), want_pos = kSlicesPerChunk;
    for (unsigned c = 0; c < arena().chunk_count() && want_pos == kSlicesPerChunk; ++c) {
      want_pos = lowest_fit(arena().chunk(c), n);
      want_chunk = c;
    }
    ClaimFailure why;
    Span* span = arena().try_claim(n, kSliceSize, &why);
    if (want_pos == kSlicesPerChunk) {
      EXPECT_EQ(span, nullptr);
      continue;
    }
    ASSERT_NE(span, nullptr) << "n=" << n;
    ASSERT_EQ(span->chunk, want_chunk) << "n=" << n;
    ASSERT_EQ(span->start, arena().chunk(want_chunk)->base + size_t(want_pos) * kSliceSize)
        << "n=" << n << " step=" << step;
    held.push_back(span);
  }
  for (Span* span : held) arena().release(span);
}

TEST(Arena, ClaimsPreferTheLowestChunkWithRoom) {
  ensure_one_chunk();
  ClaimFailure why;
  std::vector<Span*> taken;
  // Fill with 1 MiB runs until one lands past the chunk of the first: every chunk below it is
  // then too full for another.
  while (taken.empty() || taken.back()->chunk == taken.front()->chunk) {
    Span* span = arena().try_claim(128, kSliceSize, &why);
    if (span == nullptr) {
      ASSERT_TRUE(arena().grow(false));
      continue;
    }
    taken.push_back(span);
  }
  // A run freed down there is what the next claim gets, not fresh slices higher up (a thread
  // that overflowed into a new chunk does not stay there).
  char* low = taken.front()->start;
  arena().release(taken.front());
  Span* again = arena().try_claim(128, kSliceSize, &why);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->start, low);
  arena().release(again);
  for (size_t i = 1; i < taken.size(); ++i) arena().release(taken[i]);
}

TEST(Arena, AlignedClaimsAreAligned) {
  ensure_one_chunk();
  ClaimFailure why;
  for (size_t align : {kSliceSize * 2, size_t(256 * kKiB), size_t(2 * kMiB)}) {
    Span* span = arena().try_claim(3, align, &why);
    ASSERT_NE(span, nullptr) << align;
    EXPECT_EQ(uintptr_t(span->start) % align, 0u) << align;
    arena().release(span);
  }
}

TEST(Arena, FullArenaFailsFastWithoutSyscall) {
  ensure_one_chunk();
  ClaimFailure why;
  // Too big for any chunk: a miss, reported at once.
  uint64_t mmaps = os::counters.mmap_calls.load();
  EXPECT_EQ(arena().try_claim(kSlicesPerChunk, kSliceSize, &why), nullptr);
  EXPECT_EQ(why, ClaimFailure::kNoSpace);
  // Fill every chunk with 1 MiB runs until the arena says no: still no syscall.
  std::vector<Span*> taken;
  while (Span* span = arena().try_claim(128, kSliceSize, &why)) taken.push_back(span);
  EXPECT_EQ(why, ClaimFailure::kNoSpace);
  EXPECT_GT(taken.size(), 0u);
  EXPECT_EQ(os::counters.mmap_calls.load(), mmaps);
  for (Span* span : taken) arena().release(span);
  EXPECT_NE(arena().try_claim(128, kSliceSize, &why), nullptr);
}

TEST(Arena, ConcurrentClaimsNeverOverlap) {
  ensure_one_chunk();
  auto worker = [](unsigned char id) {
    ClaimFailure why;
    for (int round = 0; round < 2000; ++round) {
      size_t n = 1 + round % 7;
      Span* span = arena().try_claim(n, kSliceSize, &why);
      if (span == nullptr) continue;
      memset(span->start, id, n * kSliceSize);
      for (size_t i = 0; i < n * kSliceSize; i += 512) {
        ASSERT_EQ(static_cast<unsigned char>(span->start[i]), id);
      }
      arena().release(span);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned char id = 1; id <= 4; ++id) threads.emplace_back(worker, id);
  for (auto& t : threads) t.join();
  EXPECT_EQ(free_by_count(), free_by_bitmap());  // lost races undo their bits, not the counts
}

// Claims 4 slices, writes them and releases them: a free, dirty run. Returns its start.
char* dirty_free_run() {
  ClaimFailure why;
  Span* span = arena().try_claim(4, kSliceSize, &why);
  if (span == nullptr) return nullptr;
  char* start = span->start;
  memset(start, 0x5a, 4 * kSliceSize);
  arena().release(span);
  return start;
}

TEST(Arena, PurgeGivesFreeRunsBackAsZeroPages) {
  ensure_one_chunk();
  char* start = dirty_free_run();
  ASSERT_NE(start, nullptr);
  uint64_t madvises = os::counters.madvise_calls.load();
  EXPECT_GE(arena().purge_free_runs(false, 0, ~size_t(0)), 4 * kSliceSize);
  EXPECT_GT(os::counters.madvise_calls.load(), madvises);
  EXPECT_EQ(start[0], 0);
}

TEST(Arena, IdleFragmentsUnderTheFloorAreNotWorthAPurge) {
  ensure_one_chunk();
  arena().purge_free_runs(false, 0, ~size_t(0));  // start with nothing dirty and free
  char* start = dirty_free_run();
  ASSERT_NE(start, nullptr);
  uint64_t madvises = os::counters.madvise_calls.load();
  // 32 KiB idle, floor 1 MiB: no syscall, the contents stay; twice, so it is not just "recent".
  EXPECT_EQ(arena().purge_free_runs(true, kMiB, ~size_t(0)), 0u);
  EXPECT_EQ(arena().purge_free_runs(true, kMiB, ~size_t(0)), 0u);
  EXPECT_EQ(os::counters.madvise_calls.load(), madvises);
  EXPECT_EQ(start[0], 0x5a);
  // With a floor it meets (and once no longer recent), the same fragment is purged.
  EXPECT_GE(arena().purge_free_runs(true, 4 * kSliceSize, ~size_t(0)), 4 * kSliceSize);
  EXPECT_EQ(start[0], 0);
}

TEST(Arena, AChunkWhereEveryRaceIsLostIsPassedOverForTheNext) {
  ensure_one_chunk();
  ClaimFailure why;
  Span* first = arena().try_claim(1, kSliceSize, &why);
  ASSERT_NE(first, nullptr);
  unsigned lowest = first->chunk;  // the lowest chunk with room
  arena().release(first);
  while (arena().chunk_count() <= lowest + 1) ASSERT_TRUE(arena().grow(false));
  arena().lose_races_for_test(Arena::kMaxLostRaces);  // every race in the lowest chunk is lost
  Span* span = arena().try_claim(1, kSliceSize, &why);
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(why, ClaimFailure::kNone);
  EXPECT_GT(span->chunk, lowest);
  arena().release(span);
  // Lost everywhere: contended, reported at once.
  arena().lose_races_for_test(Arena::kMaxLostRaces * arena().chunk_count());
  EXPECT_EQ(arena().try_claim(1, kSliceSize, &why), nullptr);
  EXPECT_EQ(why, ClaimFailure::kContended);
  arena().lose_races_for_test(0);
}

// Claims pass over a chunk whose count says it lacks room: a count that drifted from the bitmap
// would hide free slices for good (or send every claim on a scan in vain).
TEST(Arena, FreeSliceCountsFollowEveryClaimAndRelease) {
  ensure_one_chunk();
  ASSERT_EQ(free_by_count(), free_by_bitmap());
  ClaimFailure why;
  Span* a = arena().try_claim(12, kSliceSize, &why);
  Span* b = arena().try_claim(3, 4 * kSliceSize, &why);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(free_by_count(), free_by_bitmap());
  arena().shrink(a, 5);
  EXPECT_EQ(free_by_count(), free_by_bitmap());
  EXPECT_TRUE(arena().try_extend(a, 2));  // the slices right after it were just given back
  EXPECT_EQ(free_by_count(), free_by_bitmap());
  memset(a->start, 1, a->slices * kSliceSize);
  arena().release(a);
  arena().purge_free_runs(false, 0, ~size_t(0));  // claims and releases runs to purge them
  EXPECT_EQ(free_by_count(), free_by_bitmap());
  arena().release(b);
  EXPECT_EQ(free_by_count(), free_by_bitmap());
}

}  // namespace
}  // namespace ffa

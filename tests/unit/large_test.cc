// The large path: thread cache -> CPU cache -> arena -> region, each step only on a miss of the previous,
// checked through the counters; ENOMEM from the OS gives NULL and the next call recovers.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <latch>
#include <thread>
#include <vector>

#include "ffalloc/ffalloc.h"
#include "stats_snapshot.h"
#include "large/cpu_cache.h"
#include "large/decay.h"
#include "large/large.h"
#include "runtime/runtime.h"

namespace ffa {
namespace {

// The allocator is one per process, so tests share it: a test that counts on empty caches and a
// full thread-cache budget starts here (set-up done, every cache emptied, no other thread
// counted as active).
void start_clean() {
  ffa_free(ffa_malloc(64));
  ffa_malloc_trim(0);
  decay_forget_active_for_test();
}

TEST(Large, FreedBlockIsReusedFromTheThreadCache) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();
  void* p = ffa_malloc(100 * kKiB);
  ASSERT_NE(p, nullptr);
  memset(p, 1, 100 * kKiB);
  EXPECT_GE(ffa_malloc_usable_size(p), 100 * kKiB);
  ffa_free(p);
  ffa_stats before = stats();
  void* q = ffa_malloc(100 * kKiB);
  ffa_stats after = stats();
  EXPECT_EQ(q, p);  // LIFO: the warm block comes back
  EXPECT_EQ(after.large_cache_hits, before.large_cache_hits + 1);
  EXPECT_EQ(after.os_mmap_calls, before.os_mmap_calls);
  ffa_free(q);
}

TEST(Large, ArenaServesCacheMissesWithoutSyscalls) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();
  void* warm = ffa_malloc(300 * kKiB);  // make sure the arena has a chunk (kept: not cached)
  ffa_stats before = stats();
  void* p = ffa_malloc(200 * kKiB + 1);  // a class nothing cached
  ffa_stats after = stats();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(after.arena_hits, before.arena_hits + 1);
  EXPECT_EQ(after.os_mmap_calls, before.os_mmap_calls);
  ffa_free(p);
  ffa_free(warm);
}

TEST(Large, HugeRequestsUseRegionsThatAreCachedAndReused) {
  start_clean();
  size_t size = 24 * kMiB;
  ffa_stats before = stats();
  auto* p = static_cast<char*>(ffa_malloc(size));
  ASSERT_NE(p, nullptr);
  p[0] = 1;
  p[size - 1] = 2;
  EXPECT_EQ(stats().regions_mapped, before.regions_mapped + 1);
  ffa_free(p);
  ffa_stats mid = stats();
  auto* q = static_cast<char*>(ffa_malloc(size - 4096));
  ASSERT_NE(q, nullptr);
  ffa_stats after = stats();
  EXPECT_EQ(after.regions_reused, mid.regions_reused + 1);
  EXPECT_EQ(after.os_mmap_calls, mid.os_mmap_calls);
  ffa_free(q);
}

TEST(Large, CallocOfLargeAndHugeIsZeroEvenAfterReuse) {
  for (size_t size : {size_t(80 * kKiB), size_t(6 * kMiB)}) {
    auto* p = static_cast<unsigned char*>(ffa_malloc(size));
    ASSERT_NE(p, nullptr);
    memset(p, 0xff, size);
    ffa_free(p);
    auto* q = static_cast<unsigned char*>(ffa_calloc(1, size));
    ASSERT_NE(q, nullptr);
    for (size_t i = 0; i < size; i += 64) ASSERT_EQ(q[i], 0) << i;
    ffa_free(q);
  }
}

TEST(Large, MapFailureGivesEnomemAndTheNextCallRecovers) {
  ffa_free(ffa_malloc(64));  // set-up mappings are done before the injected failure
  ffa_malloc_trim(0);  // nothing cached: the request needs a fresh mapping
  ffa_fail_nth_map_for_test(1);
  errno = 0;
  EXPECT_EQ(ffa_malloc(64 * kMiB), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* p = ffa_malloc(64 * kMiB);
  EXPECT_NE(p, nullptr);
  ffa_free(p);
}

// Pins the calling thread to one CPU for the rest of its life (so that "this CPU's cache" is
// well defined in a test).
bool pin_to_cpu(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

// A thread pinned to this CPU allocates `size` bytes and stays alive (so no other thread adopts
// its heap); this thread frees the block, a cross-thread free; then reuse(block) runs on a third
// thread pinned to the same CPU.
template <typename Reuse>
void free_remotely_then_reuse_on_the_same_cpu(size_t size, Reuse reuse) {
  unsigned cpu = os::current_cpu();
  bool pinned = false;
  void* p = nullptr;
  std::atomic<int> step{0};
  std::thread allocator([&] {
    pinned = pin_to_cpu(cpu);
    p = ffa_malloc(size);
    if (p != nullptr) memset(p, 7, size);
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  if (!pinned || p == nullptr) {
    step.store(2);
    allocator.join();
    FAIL() << "could not pin a thread to CPU " << cpu << " or allocate";
  }
  ffa_free(p);  // another thread's block: to the cache of the CPU it came from
  std::thread([&] {
    ASSERT_TRUE(pin_to_cpu(cpu));
    ffa_free(ffa_malloc(64));  // the thread's heap exists before reuse() takes its snapshots
    reuse(p);
  }).join();
  step.store(2);
  allocator.join();
}

TEST(Large, CrossThreadFreeGoesToTheCacheOfTheCpuItWasAllocatedOn) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  free_remotely_then_reuse_on_the_same_cpu(72 * kKiB, [](void* p) {
    ffa_stats before = stats();
    void* q = ffa_malloc(72 * kKiB);  // a third thread on that CPU finds it there
    EXPECT_EQ(q, p);
    EXPECT_EQ(stats().cpu_cache_hits, before.cpu_cache_hits + 1);
    EXPECT_EQ(stats().arena_hits, before.arena_hits);
    ffa_free(q);
  });
}

TEST(Large, ALargerBlockInTheCpuCacheIsCutDownOnAMiss) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  free_remotely_then_reuse_on_the_same_cpu(200 * kKiB, [](void* p) {
    ffa_stats before = stats();
    auto* q = static_cast<unsigned char*>(ffa_calloc(1, 120 * kKiB));  // no 120 KiB block cached
    ffa_stats after = stats();
    ASSERT_EQ(q, p);
    EXPECT_EQ(after.cpu_cache_hits, before.cpu_cache_hits + 1);
    EXPECT_EQ(after.arena_hits, before.arena_hits);
    EXPECT_EQ(ffa_malloc_usable_size(q), 120 * kKiB);
    for (size_t i = 0; i < 120 * kKiB; i += 4096) ASSERT_EQ(q[i], 0) << i;
    EXPECT_EQ(after.arena_bytes_in_use + 80 * kKiB, before.arena_bytes_in_use);  // tail given back
    ffa_free(q);
  });
}

// The CPU cache grows a block in place too. Every thread and cache the test uses is set up before
// the block exists, so that no set-up claim lands in the free slices right after it.
TEST(Large, ASmallerBlockInTheCpuCacheIsGrownInPlaceOnAMiss) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();  // empty CPU caches: the block below is the only one there
  unsigned cpu = os::current_cpu();
  std::atomic<int> step{0};
  void* block = nullptr;
  bool reuser_pinned = false, allocator_pinned = false;
  std::thread reuser([&] {
    reuser_pinned = pin_to_cpu(cpu);
    ffa_free(ffa_malloc(64));  // its heap
    void* keep = ffa_malloc(72 * kKiB);  // this CPU's cache exists (a miss looked there)
    step.store(1);
    while (step.load() != 4) std::this_thread::yield();  // the allocator has exited
    ffa_stats before = stats();
    void* q = ffa_malloc(160 * kKiB);  // nothing of 160 KiB or more cached anywhere
    ffa_stats after = stats();
    EXPECT_EQ(q, block);
    EXPECT_EQ(after.cpu_cache_hits, before.cpu_cache_hits + 1);
    EXPECT_EQ(after.arena_hits, before.arena_hits);
    EXPECT_EQ(ffa_malloc_usable_size(q), 160 * kKiB);
    ffa_free(q);
    ffa_free(keep);
  });
  while (step.load() != 1) std::this_thread::yield();
  std::thread allocator([&] {
    allocator_pinned = pin_to_cpu(cpu);
    void* demand = ffa_malloc(64 * kKiB);  // a miss for 64 KiB: the CPU cache keeps that class
    block = ffa_malloc(256 * kKiB);
    // Shrunk in place: the 192 KiB after it are free.
    if (block != nullptr && ffa_realloc(block, 64 * kKiB) != block) block = nullptr;
    step.store(2);
    while (step.load() != 3) std::this_thread::yield();
    ffa_free(demand);
  });
  while (step.load() != 2) std::this_thread::yield();
  bool pinned = reuser_pinned && allocator_pinned;
  if (pinned && block != nullptr) ffa_free(block);  // another thread's block: to its CPU's cache
  step.store(3);
  allocator.join();
  step.store(4);
  reuser.join();
  ASSERT_TRUE(pinned) << "could not pin threads to CPU " << cpu;
  ASSERT_NE(block, nullptr);
}

TEST(Large, ACachedBlockALittleLargerIsCutDownInsteadOfClaimingAnother) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();
  void* big = ffa_malloc(200 * kKiB);
  ASSERT_NE(big, nullptr);
  memset(big, 7, 200 * kKiB);  // dirty: the cut-down block must still come back zeroed below
  ffa_free(big);                // into this thread's cache
  ffa_stats before = stats();
  auto* small = static_cast<unsigned char*>(ffa_calloc(1, 120 * kKiB));  // nothing of 120 KiB cached
  ffa_stats after = stats();
  ASSERT_EQ(small, big);
  EXPECT_EQ(after.arena_hits, before.arena_hits);
  EXPECT_EQ(after.large_cache_hits, before.large_cache_hits + 1);
  EXPECT_EQ(ffa_malloc_usable_size(small), 120 * kKiB);  // exactly the class asked for
  for (size_t i = 0; i < 120 * kKiB; i += 4096) ASSERT_EQ(small[i], 0) << i;
  // The tail went back to the arena: no longer part of any block.
  EXPECT_EQ(ffa_malloc_usable_size(small + 120 * kKiB), 0u);
  EXPECT_EQ(after.arena_bytes_in_use + 80 * kKiB, before.arena_bytes_in_use);
  // Freed, it is filed under its new class: the next 120 KiB request gets it from the cache.
  ffa_free(small);
  ffa_stats again_before = stats();
  void* again = ffa_malloc(120 * kKiB);
  EXPECT_EQ(again, small);
  EXPECT_EQ(stats().large_cache_hits, again_before.large_cache_hits + 1);
  ffa_free(again);
}

TEST(Large, ACachedBlockAtMostAQuarterLargerIsHandedOutWhole) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();
  void* block = ffa_malloc(160 * kKiB);
  ASSERT_NE(block, nullptr);
  memset(block, 7, 160 * kKiB);
  ffa_free(block);  // into this thread's cache
  ffa_stats before = stats();
  auto* p = static_cast<unsigned char*>(ffa_calloc(1, 136 * kKiB));  // 160 / 136: 18% more
  ffa_stats after = stats();
  ASSERT_EQ(p, block);
  EXPECT_EQ(after.large_cache_hits, before.large_cache_hits + 1);
  EXPECT_EQ(after.arena_bytes_in_use, before.arena_bytes_in_use);  // nothing cut off
  EXPECT_EQ(ffa_malloc_usable_size(p), 160 * kKiB);
  for (size_t i = 0; i < 136 * kKiB; i += 4096) ASSERT_EQ(p[i], 0) << i;
  ffa_free(p);  // back under 160 KiB: the next 160 KiB request gets it from the cache
  before = stats();
  void* again = ffa_malloc(160 * kKiB);
  EXPECT_EQ(again, block);
  EXPECT_EQ(stats().large_cache_hits, before.large_cache_hits + 1);
  ffa_free(again);
}

// glibc hands back the memory just freed whatever the next size; a cache by class would hand out
// a colder block. A miss grows the newest smaller cached block in place when it can (seed
// workload, one committer freeing its own buffers: a sixth fewer last-level cache misses).
TEST(Large, ASmallerCachedBlockIsGrownInPlaceOnAMiss) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  start_clean();
  void* other = ffa_malloc(64 * kKiB);  // 64 KiB in demand, so the thread cache keeps its blocks
  void* block = ffa_malloc(256 * kKiB);
  ASSERT_NE(block, nullptr);
  ffa_free(other);
  ASSERT_EQ(ffa_realloc(block, 64 * kKiB), block);  // in place: the 192 KiB after it are free
  memset(block, 7, 64 * kKiB);
  ffa_free(block);  // into this thread's cache
  ffa_stats before = stats();
  auto* p = static_cast<unsigned char*>(ffa_calloc(1, 160 * kKiB));  // nothing >= 160 KiB cached
  ffa_stats after = stats();
  ASSERT_EQ(p, block);
  EXPECT_EQ(after.large_cache_hits, before.large_cache_hits + 1);
  EXPECT_EQ(after.arena_hits, before.arena_hits);
  EXPECT_EQ(ffa_malloc_usable_size(p), 160 * kKiB);
  for (size_t i = 0; i < 160 * kKiB; i += 4096) ASSERT_EQ(p[i], 0) << i;  // the old part too

  // When the slices after it cannot be had, the block stays cached and the request goes on.
  ASSERT_EQ(ffa_realloc(p, 64 * kKiB), p);
  ffa_free(p);
  arena().lose_races_for_test(1);  // the extension loses its race
  before = stats();
  void* q = ffa_malloc(160 * kKiB);
  after = stats();
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p);
  EXPECT_EQ(after.arena_hits + after.cpu_cache_hits, before.arena_hits + before.cpu_cache_hits + 1);
  void* again = ffa_malloc(64 * kKiB);
  EXPECT_EQ(again, p);  // still in the cache
  ffa_free(again);
  ffa_free(q);
}

TEST(Large, CachesStayWithinTheirBudgetsAndTheRestGoesBack) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  constexpr int kBlocks = 200;  // 200 * 256 KiB = 50 MiB: far more than the caches hold
  void* blocks[kBlocks];
  for (auto& b : blocks) b = ffa_malloc(256 * kKiB);
  size_t in_use_full = stats().arena_bytes_in_use;
  for (auto& b : blocks) ffa_free(b);
  ffa_stats after = stats();
  EXPECT_LE(tls_heap->large.blocks.bytes(), large_config.cache_bytes);
  // This thread ran on the CPUs it may run on; only their caches can hold its blocks.
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  EXPECT_LE(after.cpu_cache_bytes, size_t(CPU_COUNT(&allowed)) * large_config.cpu_cache_bytes);
  EXPECT_LE(after.arena_bytes_in_use + size_t(kBlocks) * 256 * kKiB,
            in_use_full + large_config.cache_bytes + after.cpu_cache_bytes);
}

TEST(Large, BusyThreadsOutnumberingCpusShareTheCacheBudgetAndIdleOnesDoNot) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  ffa_free(ffa_malloc(64));  // the process is set up (options read) and this thread has a heap
  const unsigned saved_cpus = large_config.cpus;
  // Only the threads below count as active: the counts restart, and each thread makes its
  // cache's mark stale before it frees (an adopted heap may carry this tick's mark).
  decay_forget_active_for_test();
  tls_heap->large.active_tick = ~uint64_t(0);
  large_config.cpus = 1;
  std::latch busy_ready(3), idle_ready(1), done(1);
  std::vector<std::thread> others;
  for (int i = 0; i < 3; ++i) {
    others.emplace_back([&] {
      ffa_free(ffa_malloc(64));
      tls_heap->large.active_tick = ~uint64_t(0);
      ffa_free(ffa_malloc(64 * kKiB));  // into its own cache: active
      busy_ready.count_down();
      done.wait();
    });
  }
  busy_ready.wait();
  const size_t with_busy = large_thread_cache_budget(&tls_heap->large);  // counts this thread too
  others.emplace_back([&] {
    ffa_free(ffa_malloc(64));  // a thread with a heap that caches nothing
    idle_ready.count_down();
    done.wait();
  });
  idle_ready.wait();
  const size_t with_idle = large_thread_cache_budget(&tls_heap->large);
  // Blocks this thread frees itself: its cache keeps some, within the shared budget.
  large_cache_flush(&tls_heap->large);
  std::vector<void*> blocks(32);
  for (auto& b : blocks) b = ffa_malloc(64 * kKiB);
  for (void* b : blocks) ffa_free(b);
  const size_t held = tls_heap->large.blocks.bytes();
  done.count_down();
  for (auto& t : others) t.join();
  large_config.cpus = saved_cpus;
  large_cache_flush(&tls_heap->large);
  decay_forget_active_for_test();  // the threads above do not shrink later tests' budgets
  EXPECT_EQ(with_busy, large_config.cache_bytes / 4);  // 4 busy threads on 1 CPU
  EXPECT_EQ(with_idle, with_busy);                      // the idle one does not count
  EXPECT_GT(held, 0u);
  EXPECT_LE(held, with_busy);
}

TEST(Large, BlocksFreedByOneThreadAreReusedByAnotherWithoutNewMemory) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  // The seed's shape: one thread only allocates, another only frees. The freed slices are
  // claimed again (first fit), so the second round needs no fresh arena memory.
  start_clean();
  std::vector<void*> blocks(64);
  for (auto& b : blocks) b = ffa_malloc(64 * kKiB);
  std::thread([&] {
    for (void* b : blocks) ffa_free(b);
  }).join();
  ffa_stats before = stats();
  std::vector<void*> again(64);
  for (auto& b : again) b = ffa_malloc(64 * kKiB);
  ffa_stats after = stats();
  EXPECT_EQ(after.os_mmap_calls, before.os_mmap_calls);
  EXPECT_LE(after.arena_bytes_in_use_peak, before.arena_bytes_in_use_peak + 64 * 64 * kKiB);
  // Most come back where the freed ones were. Not always at the very same addresses: when this
  // thread moved to a CPU it had not used, that CPU's cache is made on its first miss and takes
  // the lowest free slices (32 KiB), which shifts every later claim off the old 64 KiB boundaries
  // (seen in about 4% of fresh processes running this test alone).
  auto* low = static_cast<char*>(*std::min_element(blocks.begin(), blocks.end()));
  auto* high = static_cast<char*>(*std::max_element(blocks.begin(), blocks.end())) + 64 * kKiB;
  size_t reused = 0;
  for (void* b : again) reused += static_cast<char*>(b) >= low && static_cast<char*>(b) + 64 * kKiB <= high;
  EXPECT_GE(reused, 48u);
  for (void* b : again) ffa_free(b);
}

TEST(Large, BigAlignmentsAreHonoured) {
  for (size_t align : {size_t(64 * kKiB), size_t(2 * kMiB), size_t(64 * kMiB)}) {
    void* p = nullptr;
    ASSERT_EQ(ffa_posix_memalign(&p, align, 100 * kKiB), 0);
    EXPECT_EQ(uintptr_t(p) % align, 0u) << align;
    memset(p, 3, 100 * kKiB);
    ffa_free(p);
  }
}

TEST(Large, AlignedHugeRequestsNeverGetAGrownRegion) {
  // A cached smaller region is grown with mremap, which may move it to any page: never for a
  // request that needs more than page alignment.
  for (int round = 0; round < 20; ++round) {
    void* a = ffa_malloc(8 << 20);
    ffa_free(a);
    void* p = nullptr;
    ASSERT_EQ(ffa_posix_memalign(&p, 8192, (9 << 20) + 45), 0);
    EXPECT_EQ(uintptr_t(p) % 8192, 0u);
    ffa_free(p);
  }
}

// Out of address space, a map waits for regions other threads are unmapping (release_all). In a
// fork child those threads are gone, and only what is still queued may be waited for: a count
// left wrong there would make every ENOMEM in the child wait the full 100 ms.
TEST(Large, AForkChildCountsOnlyTheRegionsStillQueuedForUnmapping) {
  constexpr int kBlocks = 20;  // 200 MiB of regions: more than the region cache keeps
  void* blocks[kBlocks];
  for (auto& b : blocks) {
    b = ffa_malloc(10 * kMiB);
    ASSERT_NE(b, nullptr);
    static_cast<char*>(b)[0] = 1;
  }
  for (auto* b : blocks) ffa_free(b);  // the ones the cache cannot park are queued
  size_t queued = region_cache().unmapping_bytes();
  ASSERT_GT(queued, 0u);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool counted = region_cache().unmapping_bytes() == queued;
    region_cache().release_all();
    _exit(counted && region_cache().unmapping_bytes() == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  region_cache().release_all();
  EXPECT_EQ(region_cache().unmapping_bytes(), 0u);
}

// The page map says which allocation owns each page of memory ffalloc mapped. A region must
// publish and later clear exactly its own pages: the next mapping the kernel hands out (an arena
// chunk, another region) often lies right against it, and a stray clear would make that
// neighbour's blocks read "not allocated by ffalloc" when freed (secure builds did, until their
// guard pages were laid out in the mapping the page-map ranges assume).
TEST(Large, ARegionOwnsExactlyTheEntriesOfItsOwnMapping) {
  region_cache().trim(/*everything=*/true, 0);  // the trim below then unmaps this test's only
  void* p = ffa_malloc(6 * kMiB);  // above kLargeMax: a region in every build
  ASSERT_NE(p, nullptr);
  Span* span = page_map().lookup(p);
  ASSERT_NE(span, nullptr);
  ASSERT_EQ(span->kind, SpanKind::kRegion);
  auto* region = reinterpret_cast<RegionHeader*>(span);
  char* first = static_cast<char*>(region->mapping);
  char* end = first + region->mapping_size;
  ASSERT_LE(first, reinterpret_cast<char*>(region));
  ASSERT_GE(end, static_cast<char*>(p) + region->payload_size + kRegionGuard);
  // Stand-ins for the neighbours' entries, on the pages just outside the mapping.
  Span below{}, above{};
  char* before = first - os::kPageSize;
  ASSERT_TRUE(page_map().ensure(before, os::kPageSize));
  ASSERT_TRUE(page_map().ensure(end, os::kPageSize));
  Span* saved_before = page_map().lookup(before);
  Span* saved_after = page_map().lookup(end);
  page_map().set(before, os::kPageSize, &below);
  page_map().set(end, os::kPageSize, &above);
  ffa_free(p);
  region_cache().trim(/*everything=*/true, 0);  // unmapped now, its entries cleared
  EXPECT_EQ(page_map().lookup(before), &below);
  EXPECT_EQ(page_map().lookup(end), &above);
  EXPECT_EQ(page_map().lookup(reinterpret_cast<char*>(region)), nullptr);
  page_map().set(before, os::kPageSize, saved_before);
  page_map().set(end, os::kPageSize, saved_after);
}

TEST(Large, SecureBuildsOutOfMappingsGiveEnomemNotAnAbort) {
  if (!FFA_SECURE) GTEST_SKIP() << "only secure builds split every large block's mapping";
  // Each guarded region is 4 mappings for the kernel, and vm.max_map_count (65530 by default)
  // caps them: past about 16,000 live regions the guards cannot be made. The block then comes
  // from free arena memory if there is some, else malloc fails with ENOMEM; and once blocks are
  // freed, mallocs work again.
  std::vector<char*> blocks;
  for (int i = 0; i < 20000; ++i) {
    errno = 0;
    auto* p = static_cast<char*>(ffa_malloc(40 * kKiB));
    if (p == nullptr) {
      EXPECT_EQ(errno, ENOMEM);
      break;
    }
    p[0] = char(i);
    blocks.push_back(p);
  }
  EXPECT_GT(blocks.size(), 10000u);
  for (size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_EQ(blocks[i][0], char(i));
    ffa_free(blocks[i]);
  }
  ffa_malloc_trim(0);
  void* again = ffa_malloc(40 * kKiB);
  EXPECT_NE(again, nullptr);
  ffa_free(again);
}

using LargeDeathTest = ::testing::Test;

TEST(LargeDeathTest, SecureBuildsFaultOnAWriteJustBeforeOrPastALargeBlock) {
  if (!FFA_SECURE) GTEST_SKIP() << "guard pages are a secure-build feature";
  auto* p = static_cast<volatile char*>(ffa_malloc(100 * kKiB));
  ASSERT_NE(p, nullptr);
  p[0] = 1;
  p[ffa_malloc_usable_size(const_cast<char*>(p)) - 1] = 1;
  EXPECT_EXIT(p[ffa_malloc_usable_size(const_cast<char*>(p))] = 1,
              ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(p[-1] = 1, ::testing::KilledBySignal(SIGSEGV), "");
  ffa_free(const_cast<char*>(p));
}

}  // namespace
}  // namespace ffa

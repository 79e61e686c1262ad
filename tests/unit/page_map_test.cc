// Page map: O(1) owner lookup that never faults and says "not ours" for anything ffalloc did not
// hand out.
#include "core/page_map.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "ffalloc/ffalloc.h"

namespace ffa {
namespace {

int global_object;

TEST(PageMap, ForeignAndGarbagePointersAreNotOurs) {
  int on_stack = 0;
  EXPECT_EQ(page_map().lookup(nullptr), nullptr);
  EXPECT_EQ(page_map().lookup(&on_stack), nullptr);
  EXPECT_EQ(page_map().lookup(&global_object), nullptr);
  EXPECT_EQ(page_map().lookup(reinterpret_cast<void*>(~uintptr_t(0))), nullptr);
  EXPECT_EQ(page_map().lookup(reinterpret_cast<void*>(uintptr_t(1) << 47)), nullptr);
  void* foreign = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(foreign, MAP_FAILED);
  EXPECT_EQ(page_map().lookup(foreign), nullptr);
  munmap(foreign, 1 << 20);
}

TEST(PageMap, EveryPageOfABlockFindsItsDescriptor) {
  static Span span;
  void* base;
  size_t mapped;
  char* p = static_cast<char*>(os::map(64 * kKiB, os::kPageSize, &base, &mapped));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(page_map().ensure(p, 64 * kKiB));
  page_map().set(p, 64 * kKiB, &span);
  for (size_t off = 0; off < 64 * kKiB; off += 1000) EXPECT_EQ(page_map().lookup(p + off), &span);
  EXPECT_NE(page_map().lookup(p + 64 * kKiB), &span);
  page_map().set(p, 64 * kKiB, nullptr);
  EXPECT_EQ(page_map().lookup(p), nullptr);
  os::unmap(base, mapped);
}

TEST(PageMap, LiveBlocksOfEveryTierAreFound) {
  for (size_t size : {size_t(24), size_t(4000), size_t(100000), size_t(16 * kMiB)}) {
    char* p = static_cast<char*>(ffa_malloc(size));
    ASSERT_NE(p, nullptr);
    Span* span = page_map().lookup(p);
    ASSERT_NE(span, nullptr) << size;
    EXPECT_EQ(page_map().lookup(p + size - 1), span) << size;
    EXPECT_TRUE(ffa_owns(p));
    ffa_free(p);
  }
}

}  // namespace
}  // namespace ffa

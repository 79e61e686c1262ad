// Platform layer: the only syscall site counts every call and honours the fault switch.
#include <errno.h>
#include <gtest/gtest.h>

#include "platform/platform.h"

namespace ffa {
namespace {

TEST(Platform, MapIsAlignedZeroedAndCounted) {
  uint64_t calls = os::counters.mmap_calls.load();
  void* base;
  size_t mapped;
  auto* p = static_cast<unsigned char*>(os::map(3 * os::kPageSize, 2 * kMiB, &base, &mapped));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(uintptr_t(p) % (2 * kMiB), 0u);
  EXPECT_EQ(os::counters.mmap_calls.load(), calls + 1);  // one syscall, alignment included
  for (size_t i = 0; i < 3 * os::kPageSize; i += 512) ASSERT_EQ(p[i], 0);
  p[0] = 1;
  os::purge(p, os::kPageSize);
  EXPECT_EQ(p[0], 0);  // purged pages read back as zero
  os::unmap(base, mapped);
}

TEST(Platform, NthMapFailsWithEnomemThenRecovers) {
  os::fail_nth_map_for_test(2);
  void* base;
  size_t mapped;
  void* first = os::map(os::kPageSize, os::kPageSize, &base, &mapped);
  ASSERT_NE(first, nullptr);
  os::unmap(base, mapped);
  errno = 0;
  EXPECT_EQ(os::map(os::kPageSize, os::kPageSize, &base, &mapped), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* third = os::map(os::kPageSize, os::kPageSize, &base, &mapped);
  ASSERT_NE(third, nullptr);
  os::unmap(base, mapped);
}

TEST(Platform, RemapMovesWithoutCopying) {
  void* base;
  size_t mapped;
  auto* p = static_cast<char*>(os::map(os::kPageSize, os::kPageSize, &base, &mapped));
  ASSERT_NE(p, nullptr);
  p[0] = 42;
  void* target_base;
  size_t target_mapped;
  void* target = os::map(64 * os::kPageSize, os::kPageSize, &target_base, &target_mapped);
  auto* q = static_cast<char*>(os::remap(p, os::kPageSize, 64 * os::kPageSize, target));
  ASSERT_EQ(q, target);
  EXPECT_EQ(q[0], 42);
  q[64 * os::kPageSize - 1] = 1;
  EXPECT_NE(os::remap(q, 64 * os::kPageSize, 32 * os::kPageSize, nullptr), nullptr);  // shrink
  os::unmap(q, 32 * os::kPageSize);
}

TEST(Platform, EnvironmentIsReadWithoutGetenv) {
  setenv("FFALLOC_TEST_VALUE", "abc", 1);
  ASSERT_NE(os::read_env_raw("FFALLOC_TEST_VALUE"), nullptr);
  EXPECT_STREQ(os::read_env_raw("FFALLOC_TEST_VALUE"), "abc");
  EXPECT_EQ(os::read_env_raw("FFALLOC_TEST_VALU"), nullptr);
}

}  // namespace
}  // namespace ffa

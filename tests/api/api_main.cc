// Entry point of both API test binaries. In the plain (LD_PRELOAD) build it refuses to run the
// suite unless malloc really is ffalloc's, so the suite can never pass on glibc by accident;
// FFA_TEST_EXPECT_GLIBC=1 turns that around to validate the expectations against glibc.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "api_test.h"

namespace ffa_test {

bool expect_glibc() {
#if FFA_API_PREFIXED
  return false;
#else
  const char* e = getenv("FFA_TEST_EXPECT_GLIBC");
  return e != nullptr && strcmp(e, "1") == 0;
#endif
}

OwnsFn owns_fn() {
#if FFA_API_PREFIXED
  return &ffa_owns;
#else
  if (expect_glibc()) return nullptr;
  return reinterpret_cast<OwnsFn>(dlsym(RTLD_DEFAULT, "ffa_owns"));
#endif
}

FailNthFn fail_nth_fn() {
#if FFA_API_PREFIXED
  return &ffa_fail_nth_map_for_test;
#else
  if (expect_glibc()) return nullptr;
  return reinterpret_cast<FailNthFn>(dlsym(RTLD_DEFAULT, "ffa_fail_nth_map_for_test"));
#endif
}

}  // namespace ffa_test

#if !FFA_API_PREFIXED
// Identity of the allocator behind the plain names. Also a test so it shows in the report.
TEST(Identity, MallocIsFfallocUnlessValidatingGlibc) {
  auto owns = reinterpret_cast<ffa_test::OwnsFn>(dlsym(RTLD_DEFAULT, "ffa_owns"));
  if (ffa_test::expect_glibc()) {
    EXPECT_EQ(owns, nullptr) << "FFA_TEST_EXPECT_GLIBC=1 but ffalloc is loaded";
    return;
  }
  ASSERT_NE(owns, nullptr) << "ffa_owns not found: LD_PRELOAD of libffalloc.so is not active";
  void* p = malloc(ffa_test::opaque<size_t>(10));
  EXPECT_EQ(owns(p), 1) << "malloc() is not served by ffalloc";
  free(p);
}
#endif

int main(int argc, char** argv) {
#if !FFA_API_PREFIXED
  if (!ffa_test::expect_glibc()) {
    auto owns = reinterpret_cast<ffa_test::OwnsFn>(dlsym(RTLD_DEFAULT, "ffa_owns"));
    void* p = malloc(ffa_test::opaque<size_t>(10));
    if (owns == nullptr || owns(p) != 1) {
      fprintf(stderr, "FATAL: malloc is not ffalloc (ffa_owns %s); run under "
              "LD_PRELOAD=libffalloc.so, or set FFA_TEST_EXPECT_GLIBC=1 to test glibc\n",
              owns == nullptr ? "missing" : "returned 0");
      return 2;
    }
    free(p);
  }
#endif
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

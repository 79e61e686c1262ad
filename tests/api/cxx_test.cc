// C++ operators new/delete (plain build only: the prefixed library exports no operators):
// every overload returns suitably aligned ffalloc memory, impossible sizes throw std::bad_alloc
// (nothrow: nullptr), and the std::new_handler retry loop works as the standard requires.
#include <gtest/gtest.h>

#if !FFA_API_PREFIXED
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "api_test.h"

using namespace ffa_test;

static void check_ptr(void* p, size_t n, size_t align) {
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, align)) << p << " not aligned to " << align;
  if (OwnsFn owns = owns_fn()) {
    EXPECT_EQ(owns(p), 1) << "operator new memory is not ffalloc's";
  }
  memset(p, 0x66, n);
  escape(p);
}

TEST(CxxNew, PlainArraySizedAndNothrow) {
  for (size_t n : {1, 16, 100, 5000, 300000, 8 << 20}) {
    void* p = ::operator new(n);
    check_ptr(p, n, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    ::operator delete(p, n);
    p = ::operator new[](n);
    check_ptr(p, n, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    ::operator delete[](p, n);
    p = ::operator new(n, std::nothrow);
    check_ptr(p, n, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](n, std::nothrow);
    check_ptr(p, n, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    ::operator delete[](p);
    p = ::operator new(n);
    check_ptr(p, n, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    ::operator delete(p);
  }
}

TEST(CxxNew, AlignedOverloads) {
  for (size_t a : {size_t{64}, size_t{4096}, size_t{1} << 21}) {
    const auto al = std::align_val_t(a);
    for (size_t n : {size_t{1}, size_t{100}, a, 3 * a + 5}) {
      void* p = ::operator new(n, al);
      check_ptr(p, n, a);
      ::operator delete(p, n, al);
      p = ::operator new[](n, al);
      check_ptr(p, n, a);
      ::operator delete[](p, n, al);
      p = ::operator new(n, al, std::nothrow);
      check_ptr(p, n, a);
      ::operator delete(p, al, std::nothrow);
      p = ::operator new[](n, al, std::nothrow);
      check_ptr(p, n, a);
      ::operator delete[](p, al);
    }
  }
}

struct alignas(64) Line {
  char bytes[100];
};

TEST(CxxNew, NewExpressions) {
  auto* lines = new Line[37];
  check_ptr(lines, sizeof(Line) * 37, 64);
  delete[] lines;
  auto v = std::make_unique<std::vector<std::string>>();
  for (int i = 0; i < 10000; ++i) v->push_back(std::string(static_cast<size_t>(i % 300), 'x'));
  size_t total = 0;
  for (auto& s : *v) total += s.size();
  EXPECT_EQ(total, size_t{1485000});
}

TEST(CxxNew, ImpossibleSizeThrowsOrReturnsNull) {
  for (size_t n : {SIZE_MAX, SIZE_MAX / 2, static_cast<size_t>(PTRDIFF_MAX) + 1}) {
    EXPECT_THROW(escape(::operator new(opaque(n))), std::bad_alloc) << n;
    EXPECT_THROW(escape(::operator new[](opaque(n))), std::bad_alloc) << n;
    EXPECT_EQ(::operator new(opaque(n), std::nothrow), nullptr) << n;
    EXPECT_EQ(::operator new[](opaque(n), std::nothrow), nullptr) << n;
    // libstdc++ 12's own aligned new rounds SIZE_MAX up to 0 and returns a live block (its
    // bug); ffalloc's operators must not, so only the glibc validation run skips that case.
    if (n == SIZE_MAX && expect_glibc()) continue;
    EXPECT_THROW(escape(::operator new(opaque(n), std::align_val_t(64))), std::bad_alloc) << n;
    EXPECT_THROW(escape(::operator new[](opaque(n), std::align_val_t(4096))), std::bad_alloc) << n;
    EXPECT_EQ(::operator new(opaque(n), std::align_val_t(64), std::nothrow), nullptr) << n;
  }
}

// --- std::new_handler -----------------------------------------------------------------------

static int g_calls;
static void* g_reserve;

struct HandlerGuard {
  ~HandlerGuard() { std::set_new_handler(nullptr); }
};

TEST(CxxNewHandler, CalledUntilUnsetThenBadAlloc) {
  HandlerGuard guard;
  g_calls = 0;
  std::set_new_handler([] {
    if (++g_calls == 3) std::set_new_handler(nullptr);
  });
  EXPECT_THROW(escape(::operator new(opaque(SIZE_MAX / 2))), std::bad_alloc);
  EXPECT_EQ(g_calls, 3) << "operator new must call the handler until it is unset";
  g_calls = 0;
  std::set_new_handler([] {
    if (++g_calls == 2) std::set_new_handler(nullptr);
  });
  EXPECT_THROW(escape(::operator new(opaque(SIZE_MAX / 2), std::align_val_t(256))), std::bad_alloc);
  EXPECT_EQ(g_calls, 2) << "aligned operator new must call the handler until it is unset";
}

struct HandlerSaysNo : std::bad_alloc {};

TEST(CxxNewHandler, ThrowingHandlerPropagatesAndNothrowReturnsNull) {
  HandlerGuard guard;
  g_calls = 0;
  std::set_new_handler([] {
    ++g_calls;
    throw HandlerSaysNo();
  });
  EXPECT_THROW(escape(::operator new(opaque(SIZE_MAX / 2))), HandlerSaysNo);
  EXPECT_EQ(g_calls, 1);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX / 2), std::nothrow), nullptr);
  EXPECT_EQ(g_calls, 2) << "nothrow new must also call the new_handler";
}

// Makes the next allocation of `big` bytes fail once: ffalloc's injected mmap failure, or, when
// validating glibc, an RLIMIT_AS that only freeing the reserve relieves. Returns the old limit.
static rlimit arm_one_failure(size_t big) {
  rlimit old{};
  getrlimit(RLIMIT_AS, &old);
  if (FailNthFn fail = fail_nth_fn()) {
    FN(malloc_trim)(0);  // make sure `big` is not served from a cache without mapping
    fail(1);
  } else {
    long pages = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (f != nullptr) {
      if (fscanf(f, "%ld", &pages) != 1) pages = 0;
      fclose(f);
    }
    rlimit lim = old;
    lim.rlim_cur = static_cast<rlim_t>(pages) * 4096 + big / 2;
    setrlimit(RLIMIT_AS, &lim);
  }
  return old;
}

TEST(CxxNewHandler, HandlerFreesReserveThenRetrySucceeds) {
  HandlerGuard guard;
  const size_t big = (size_t{200} << 20) + 3 * 4096;
  for (int aligned_variant = 0; aligned_variant < 2; ++aligned_variant) {
    g_reserve = malloc(2 * big);  // big enough to relieve the glibc RLIMIT_AS variant
    ASSERT_NE(g_reserve, nullptr);
    g_calls = 0;
    std::set_new_handler([] {
      ++g_calls;
      if (g_reserve == nullptr) std::set_new_handler(nullptr);  // nothing left: give up
      free(g_reserve);
      g_reserve = nullptr;
    });
    rlimit old = arm_one_failure(big);
    void* p = nullptr;
    try {
      p = aligned_variant ? ::operator new(opaque(big), std::align_val_t(4096)) : ::operator new(opaque(big));
    } catch (const std::bad_alloc&) {
      p = nullptr;
    }
    setrlimit(RLIMIT_AS, &old);
    EXPECT_EQ(g_calls, 1) << "handler must run exactly once (variant " << aligned_variant << ")";
    ASSERT_NE(p, nullptr) << "operator new did not retry after the handler freed memory";
    memset(p, 1, big);
    if (aligned_variant) {
      EXPECT_TRUE(aligned(p, 4096));
      ::operator delete(p, std::align_val_t(4096));
    } else {
      ::operator delete(p);
    }
    free(g_reserve);
    g_reserve = nullptr;
  }
}
#endif  // !FFA_API_PREFIXED

// Shared by every tests/api file. The same sources build twice: FFA_API_PREFIXED=1 calls the
// ffa_* entry points of libffalloc_prefixed.a; FFA_API_PREFIXED=0 calls the plain glibc names and
// runs under LD_PRELOAD=libffalloc.so (or, with FFA_TEST_EXPECT_GLIBC=1, against glibc itself).
#pragma once

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include <cstddef>
#include <cstring>

#include "ffalloc/ffalloc.h"

#ifndef FFA_API_PREFIXED
#error "build with -DFFA_API_PREFIXED=0 or 1"
#endif

#if FFA_API_PREFIXED
#define FN(name) ffa_##name
#else
#define FN(name) name
#endif

namespace ffa_test {

// Hides a value from the optimizer so that calls with impossible sizes are neither folded nor
// warned about, and allocation/free pairs are not elided.
template <class T>
inline T opaque(T v) {
  __asm__ volatile("" : "+r"(v));
  return v;
}
inline void escape(const void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

// ffa_owns of the allocator under test, or nullptr when validating against glibc.
using OwnsFn = int (*)(const void*);
OwnsFn owns_fn();
// ffa_fail_nth_map_for_test, or nullptr when validating against glibc.
using FailNthFn = void (*)(uint64_t);
FailNthFn fail_nth_fn();
// True when FFA_TEST_EXPECT_GLIBC=1 (plain build only): the identity check is skipped.
bool expect_glibc();

inline bool aligned(const void* p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

// Writes a position- and seed-dependent pattern; check_pattern returns the first bad offset or n.
inline void fill_pattern(void* p, size_t n, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>((i * 131u + seed) ^ (i >> 11));
}
inline size_t check_pattern(const void* p, size_t n, unsigned seed) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != static_cast<unsigned char>((i * 131u + seed) ^ (i >> 11))) return i;
  return n;
}

}  // namespace ffa_test

// base: compiler attributes, bit math, fatal errors and the spin lock. No OS calls besides
// write(2)/abort() in fatal(), no allocation. Every other layer may include this one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#define FFA_HOT __attribute__((hot))
#define FFA_COLD __attribute__((cold, noinline))
#define FFA_NOINLINE __attribute__((noinline))
#define FFA_INLINE inline __attribute__((always_inline))
#define FFA_LIKELY(x) __builtin_expect(!!(x), 1)
#define FFA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FFA_EXPORT __attribute__((visibility("default")))

#ifndef FFA_SECURE
#define FFA_SECURE 0
#endif

namespace ffa {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr size_t kGiB = 1024 * kMiB;

constexpr bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
constexpr size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
constexpr uintptr_t align_down(uintptr_t x, size_t a) { return x & ~(uintptr_t(a) - 1); }
constexpr unsigned log2_floor(size_t x) { return 63u - unsigned(__builtin_clzll(x)); }

/// Prints "ffalloc: <what> <ptr>" on one line to stderr and aborts. Never allocates.
[[noreturn]] FFA_COLD void fatal(const char* what, const void* ptr = nullptr);
/// Formats "ffalloc: <msg>" into a stack buffer and writes it to stderr. Never allocates.
FFA_COLD void message(const char* msg);

/// Formats an unsigned value into buf (hex with 0x when hex is set); returns chars written.
size_t format_uint(char* buf, uint64_t v, bool hex);

}  // namespace ffa

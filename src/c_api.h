// The C API semantics, written once: errno, overflow, zero sizes, alignment validation. Inline
// so that preload/ (the interposed malloc family) and c_api.cc (ffa_*) each compile the fast
// paths straight into their exported functions. Includes runtime/.
#pragma once

#include <errno.h>

#include <cstring>

#include "runtime/runtime.h"

namespace ffa::libc {

// Out-of-line paths (c_api.cc).
void* malloc_large(size_t size, size_t align, bool zero) noexcept;
void free_slow(Heap* heap, Span* span, void* p) noexcept;
void* realloc_slow(void* p, size_t size) noexcept;
void* aligned_slow(size_t align, size_t size) noexcept;
size_t usable_size_slow(const void* p) noexcept;

/// Largest request the small path serves (secure builds keep room for the canary).
constexpr size_t kSmallRequestMax = kSmallMax - kCanaryBytes;

FFA_INLINE void* malloc(size_t size) {
  if (FFA_LIKELY(size <= kSmallRequestMax)) return tls_heap->malloc_small(size + kCanaryBytes);
  return malloc_large(size, kMinAlign, false);
}

FFA_INLINE void free(void* p) {
  Span* span = page_map().lookup(p);
  Heap* heap = tls_heap;
  // A misaligned pointer is never an object: the slow path names it.
  if (FFA_LIKELY(span != nullptr && span->owner == heap && uintptr_t(p) % kMinAlign == 0)) {
    return heap->free_local(span, p);
  }
  return free_slow(heap, span, p);
}

FFA_INLINE void* calloc(size_t count, size_t size) {
  size_t total;
  if (FFA_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return nullptr;
  }
  if (FFA_LIKELY(total <= kSmallRequestMax)) {
    void* p = tls_heap->malloc_small(total + kCanaryBytes);
    if (FFA_LIKELY(p != nullptr)) memset(p, 0, total);
    return p;
  }
  return malloc_large(total, kMinAlign, true);
}

FFA_INLINE void* realloc(void* p, size_t size) { return realloc_slow(p, size); }

FFA_INLINE void* reallocarray(void* p, size_t count, size_t size) {
  size_t total;
  if (FFA_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc_slow(p, total);
}

/// Alignment already validated: a power of two.
FFA_INLINE void* aligned(size_t align, size_t size) {
  if (align <= kMinAlign) return malloc(size);
  return aligned_slow(align, size);
}

FFA_INLINE void* memalign(size_t align, size_t size) {
  if (align <= kMinAlign) return malloc(size);  // every block has that much (0 included)
  // glibc: alignments that are not powers of two are rounded up to the next one.
  if (!is_pow2(align)) {
    if (align > (size_t(1) << 62)) {  // above 2^63 no power of two fits; 2^63 fits no block
      errno = align > (size_t(1) << 63) ? EINVAL : ENOMEM;
      return nullptr;
    }
    align = size_t(1) << (log2_floor(align) + 1);
  }
  return aligned(align, size);
}

FFA_INLINE int posix_memalign(void** out, size_t align, size_t size) {
  if (align % sizeof(void*) != 0 || !is_pow2(align)) return EINVAL;
  int saved = errno;
  void* p = aligned(align, size);
  if (p == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

// glibc 2.36's aligned_alloc is memalign (2.38 made non-powers of two EINVAL).
FFA_INLINE void* aligned_alloc(size_t align, size_t size) { return memalign(align, size); }

FFA_INLINE void* valloc(size_t size) { return aligned(os::kPageSize, size); }

FFA_INLINE void* pvalloc(size_t size) {
  size_t rounded = align_up(size, os::kPageSize);
  if (rounded < size) {
    errno = ENOMEM;
    return nullptr;
  }
  return aligned(os::kPageSize, rounded == 0 ? os::kPageSize : rounded);
}

FFA_INLINE size_t malloc_usable_size(const void* p) {
  Span* span = page_map().lookup(p);
  if (FFA_LIKELY(span != nullptr && span->kind == SpanKind::kSmall)) {
    return span->object_size - kCanaryBytes;
  }
  return usable_size_slow(p);
}

}  // namespace ffa::libc

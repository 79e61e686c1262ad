// Out-of-line halves of the C API and the prefixed ffa_* functions of include/ffalloc/ffalloc.h.
#include "c_api.h"

#include <malloc.h>
#include <stdio.h>

#include "ffalloc/ffalloc.h"

namespace ffa::libc {

void* malloc_large(size_t size, size_t align, bool zero) noexcept {
  if (size > size_t(PTRDIFF_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  Heap* heap = tls_heap != &kEmptyHeap ? tls_heap : thread_heap_for_slow_path();
  if (heap == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = large_malloc(&heap->large, size, align, zero);
  thread_heap_return(heap);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

// Small objects are aligned to their size's largest power-of-two divisor (spans start on a
// slice boundary), so a small class whose size is a multiple of align serves it.
void* aligned_slow(size_t align, size_t size) noexcept {
  if (size > size_t(PTRDIFF_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (align <= kSliceSize && size <= kSmallRequestMax) {
    size_t need = size + kCanaryBytes;
    for (unsigned c = small_class(need < align ? align : need); c < kSmallClasses; ++c) {
      if (small_class_size(c) % align == 0) return tls_heap->malloc_small(small_class_size(c));
    }
  }
  return malloc_large(size == 0 ? 1 : size, align, false);
}

[[noreturn]] static void invalid(const char* what, const void* p) { fatal(what, p); }

void free_slow(Heap* heap, Span* span, void* p) noexcept {
  if (span == nullptr) {
    if (p == nullptr) return;
    invalid("free of invalid pointer (not allocated by ffalloc)", p);
  }
  switch (span->kind) {
    case SpanKind::kSmall: {
      size_t offset = size_t(static_cast<char*>(p) - span->start);
      if (uintptr_t(p) % kMinAlign != 0) invalid("free of invalid pointer (misaligned)", p);
      if (offset % span->object_size != 0) invalid("free of invalid pointer (interior)", p);
      if (span->owner == heap) {
        heap->free_local(span, p);  // our own span reached via the slow path (e.g. secure mode)
      } else {
        free_remote(heap, span, p);
      }
      return;
    }
    case SpanKind::kLarge:
    case SpanKind::kRegion:
      if (p != span->start) invalid("free of invalid pointer (interior)", p);
      // A thread that only frees large blocks (the seed's push thread) still gets a heap: its
      // cache is how those blocks reach the threads that allocate.
      if (heap == &kEmptyHeap) heap = thread_heap_for_slow_path();
      large_free(heap != nullptr ? &heap->large : nullptr, span);
      if (heap != nullptr) thread_heap_return(heap);
      return;
    case SpanKind::kLargeCached:
    case SpanKind::kRegionCached:
      if (p == span->start) invalid("double free of", p);
      invalid("free of invalid pointer (interior)", p);
    case SpanKind::kFree:
      if (p == span->start) invalid("double free of", p);
      invalid("free of invalid pointer (not allocated)", p);
    case SpanKind::kMeta:
      invalid("free of invalid pointer (ffalloc's own metadata)", p);
  }
  invalid("free of invalid pointer", p);
}

size_t usable_size_slow(const void* p) noexcept {
  Span* span = page_map().lookup(p);
  if (span == nullptr) return 0;
  switch (span->kind) {
    case SpanKind::kSmall:
      return span->object_size - kCanaryBytes;
    case SpanKind::kLarge:
    case SpanKind::kRegion:
      return p == span->start ? large_usable_size(span) : 0;
    default:
      return 0;
  }
}

void* realloc_slow(void* p, size_t size) noexcept {
  if (p == nullptr) return malloc(size);
  if (size == 0) {  // glibc: frees and returns NULL
    free(p);
    return nullptr;
  }
  Span* span = page_map().lookup(p);
  if (span == nullptr) invalid("realloc of invalid pointer (not allocated by ffalloc)", p);
  size_t old_usable;
  switch (span->kind) {
    case SpanKind::kSmall:
      if (static_cast<FreeObject*>(p)->is_marked_free()) {
        invalid("realloc of freed pointer", p);
      }
      old_usable = span->object_size - kCanaryBytes;
      if (size <= kSmallRequestMax && small_class(size + kCanaryBytes) == span->size_class) {
        return p;
      }
      break;
    case SpanKind::kLarge:
    case SpanKind::kRegion: {
      if (p != span->start) invalid("realloc of invalid pointer (interior)", p);
      old_usable = large_usable_size(span);
      if (size > kSmallMax) {
        if (void* q = large_try_resize(span, size)) return q;
      }
      break;
    }
    default:
      invalid("realloc of freed pointer", p);
  }
  void* q = malloc(size);
  if (q == nullptr) return nullptr;  // errno is ENOMEM; p is untouched
  memcpy(q, p, old_usable < size ? old_usable : size);
  free(p);
  return q;
}

}  // namespace ffa::libc

using namespace ffa;

extern "C" {

FFA_API void* ffa_malloc(size_t size) { return libc::malloc(size); }
FFA_API void ffa_free(void* p) { libc::free(p); }
FFA_API void* ffa_calloc(size_t count, size_t size) { return libc::calloc(count, size); }
FFA_API void* ffa_realloc(void* p, size_t size) { return libc::realloc(p, size); }
FFA_API void* ffa_reallocarray(void* p, size_t count, size_t size) {
  return libc::reallocarray(p, count, size);
}
FFA_API int ffa_posix_memalign(void** out, size_t align, size_t size) {
  return libc::posix_memalign(out, align, size);
}
FFA_API void* ffa_aligned_alloc(size_t align, size_t size) {
  return libc::aligned_alloc(align, size);
}
FFA_API void* ffa_memalign(size_t align, size_t size) { return libc::memalign(align, size); }
FFA_API void* ffa_valloc(size_t size) { return libc::valloc(size); }
FFA_API void* ffa_pvalloc(size_t size) { return libc::pvalloc(size); }
FFA_API size_t ffa_malloc_usable_size(const void* p) { return libc::malloc_usable_size(p); }
FFA_API void ffa_free_sized(void* p, size_t) { libc::free(p); }
FFA_API void ffa_free_aligned_sized(void* p, size_t, size_t) { libc::free(p); }

FFA_API int ffa_malloc_trim(size_t) { return trim() > 0 ? 1 : 0; }
FFA_API void ffa_malloc_stats(void) { stats_print(); }
FFA_API int ffa_mallopt(int param, int value) {
  switch (param) {
    case M_MMAP_THRESHOLD:  // requests above it go straight to mapped regions
      if (value < 0) return 0;
      large_config.region_threshold =
          size_t(value) <= kSmallMax ? kSmallMax : size_t(value) > kLargeMax ? kLargeMax : size_t(value);
      return 1;
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_MAX: case M_CHECK_ACTION:
    case M_PERTURB: case M_ARENA_TEST: case M_ARENA_MAX:
      return 1;  // glibc's knobs for glibc's design: accepted and ignored (README)
    default:
      return 0;
  }
}

// glibc's malloc_info shape: one <heap> with a <size> line per small class (free objects in its
// spans), then totals. Written with stdio: this runs in the caller, not inside malloc.
FFA_API int ffa_malloc_info(int options, FILE* out) {
  if (options != 0) {
    errno = EINVAL;
    return -1;
  }
  ffa_stats s;
  uint64_t slots[kSmallClasses];
  stats_collect(&s, slots);
  uint64_t free_count = 0, free_bytes = 0;
  fputs("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", out);
  for (unsigned c = 0; c < kSmallClasses; ++c) {
    if (s.class_spans[c] == 0) continue;
    // Read while other threads allocate, in use may pass what the walk saw of the spans.
    uint64_t count = slots[c] > s.class_objects_in_use[c] ? slots[c] - s.class_objects_in_use[c] : 0;
    fprintf(out, "  <size from=\"%llu\" to=\"%llu\" total=\"%llu\" count=\"%llu\"/>\n",
            (unsigned long long)(c == 0 ? 1 : small_class_size(c - 1) + 1),
            (unsigned long long)s.class_size[c], (unsigned long long)(count * s.class_size[c]),
            (unsigned long long)count);
    free_count += count;
    free_bytes += count * s.class_size[c];
  }
  uint64_t current = s.arena_bytes_in_use + s.region_bytes_cached + s.large_bytes_in_use;
  fprintf(out,
          "</sizes>\n<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
          "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n"
          "<system type=\"current\" size=\"%llu\"/>\n<system type=\"max\" size=\"%llu\"/>\n"
          "<aspace type=\"total\" size=\"%llu\"/>\n<aspace type=\"mprotect\" size=\"%llu\"/>\n"
          "</heap>\n",
          (unsigned long long)free_count, (unsigned long long)free_bytes,
          (unsigned long long)current, (unsigned long long)s.arena_bytes_in_use_peak,
          (unsigned long long)s.bytes_reserved, (unsigned long long)s.bytes_reserved);
  fprintf(out,
          "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
          "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n"
          "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n"
          "<system type=\"current\" size=\"%llu\"/>\n<system type=\"max\" size=\"%llu\"/>\n"
          "<aspace type=\"total\" size=\"%llu\"/>\n<aspace type=\"mprotect\" size=\"%llu\"/>\n"
          "</malloc>\n",
          (unsigned long long)free_count, (unsigned long long)free_bytes,
          (unsigned long long)s.regions_live,
          (unsigned long long)s.large_bytes_in_use, (unsigned long long)current,
          (unsigned long long)s.bytes_reserved_peak, (unsigned long long)s.bytes_reserved,
          (unsigned long long)s.bytes_reserved);
  return 0;
}

FFA_API int ffa_owns(const void* p) {
  Span* span = page_map().lookup(p);
  if (span == nullptr) return 0;
  switch (span->kind) {
    case SpanKind::kSmall: {
      size_t offset = size_t(static_cast<const char*>(p) - span->start);
      if (offset % span->object_size != 0 || offset / span->object_size >= span->capacity) {
        return 0;
      }
      // A free object carries its marker; a live one almost never does.
      return !static_cast<const FreeObject*>(p)->is_marked_free();
    }
    case SpanKind::kLarge:
    case SpanKind::kRegion:
      return p == span->start;
    default:
      return 0;
  }
}

FFA_API void ffa_stats_get(struct ffa_stats* out) { stats_collect(out); }
FFA_API void ffa_stats_print(void) { stats_print(); }
FFA_API void ffa_fail_nth_map_for_test(uint64_t nth) { os::fail_nth_map_for_test(nth); }

}  // extern "C"

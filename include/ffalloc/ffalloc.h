/* ffalloc public, prefixed C API.
 *
 * Every function here behaves exactly like the glibc function of the same name without the
 * `ffa_` prefix (see README.md, "API semantics"). They are exported by all three libraries:
 * libffalloc.so (LD_PRELOAD), libffalloc.a (static override) and libffalloc_prefixed.a
 * (side-by-side use: interposes nothing). */
#ifndef FFALLOC_FFALLOC_H_
#define FFALLOC_FFALLOC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FFA_API __attribute__((visibility("default")))
#else
#define FFA_API
#endif

FFA_API void* ffa_malloc(size_t size);
FFA_API void ffa_free(void* ptr);
FFA_API void* ffa_calloc(size_t count, size_t size);
FFA_API void* ffa_realloc(void* ptr, size_t size);
FFA_API void* ffa_reallocarray(void* ptr, size_t count, size_t size);
FFA_API int ffa_posix_memalign(void** out, size_t alignment, size_t size);
FFA_API void* ffa_aligned_alloc(size_t alignment, size_t size);
FFA_API void* ffa_memalign(size_t alignment, size_t size);
FFA_API void* ffa_valloc(size_t size);
FFA_API void* ffa_pvalloc(size_t size);
FFA_API size_t ffa_malloc_usable_size(const void* ptr);
/* C23 free_sized / free_aligned_sized: the size is checked against the block in debug builds
 * only; passing a wrong size is undefined, as in C23. */
FFA_API void ffa_free_sized(void* ptr, size_t size);
FFA_API void ffa_free_aligned_sized(void* ptr, size_t alignment, size_t size);

/* glibc introspection. */
FFA_API int ffa_malloc_trim(size_t pad);
FFA_API void ffa_malloc_stats(void);
FFA_API int ffa_mallopt(int param, int value);

/* Extensions. */

/* 1 when ptr is the start of a live block allocated by ffalloc, 0 otherwise (never crashes,
 * whatever ptr is). */
FFA_API int ffa_owns(const void* ptr);

/* Process-wide counters, summed over all threads on demand. Counts are exact once the threads
 * that did the work are quiescent. */
struct ffa_stats {
  /* small objects */
  uint64_t small_spans_created;    /* spans claimed from the arena for small objects */
  uint64_t small_spans_released;   /* empty spans given back to the arena */
  uint64_t remote_frees;           /* small frees by a thread that does not own the span */
  /* large blocks (> FFA_SMALL_MAX) */
  uint64_t large_cache_hits;       /* served by the per-thread large cache */
  uint64_t arena_hits;             /* contiguous arena claim succeeded */
  uint64_t arena_failfast_nospace; /* arena scan found no run: fell back at once */
  uint64_t arena_failfast_contended; /* lost claim races: fell back at once */
  uint64_t regions_mapped;         /* fresh mmap-backed regions */
  uint64_t regions_reused;         /* served from the region cache */
  uint64_t regions_grown;          /* a smaller cached region grown with mremap */
  /* decay: memory given back to the OS after it sat unused */
  uint64_t decay_ticks;
  uint64_t decay_bytes_purged;     /* arena runs purged (madvise) */
  uint64_t decay_bytes_unmapped;   /* cached regions unmapped */
  /* operating system calls, with their total time in nanoseconds */
  uint64_t os_mmap_calls, os_mmap_ns;
  uint64_t os_munmap_calls, os_munmap_ns;
  uint64_t os_madvise_calls, os_madvise_ns;
  uint64_t os_mremap_calls, os_mremap_ns;
  uint64_t os_map_failures;        /* mmap/mremap that returned ENOMEM (real or injected) */
  /* bytes */
  uint64_t bytes_reserved;         /* address space currently mapped by ffalloc */
  uint64_t arena_bytes_in_use;     /* arena slices currently claimed (spans + large runs) */
  uint64_t arena_bytes_in_use_peak;
  uint64_t region_bytes_in_use;    /* mapped regions currently holding a live block */
  uint64_t region_bytes_cached;    /* mapped regions parked in the region cache */
  uint64_t arena_bytes_dirty_free; /* free arena slices that may still be resident */
};

FFA_API void ffa_stats_get(struct ffa_stats* out);
/* Writes a human-readable report to stderr (does not allocate). */
FFA_API void ffa_stats_print(void);

/* Test hook: make the nth future mmap-family call from now fail with ENOMEM (1 = the next one);
 * 0 disables. Every later call succeeds again. */
FFA_API void ffa_fail_nth_map_for_test(uint64_t nth);

#ifdef __cplusplus
}
#endif

#endif /* FFALLOC_FFALLOC_H_ */

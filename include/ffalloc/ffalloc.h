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
/* glibc's malloc_info(3): XML on out; options must be 0 (else -1, errno EINVAL). */
struct _IO_FILE;
FFA_API int ffa_malloc_info(int options, struct _IO_FILE* out);

/* Extensions. */

/* 1 when ptr is the start of a live block allocated by ffalloc, 0 otherwise (never crashes,
 * whatever ptr is). */
FFA_API int ffa_owns(const void* ptr);

/* Process-wide counters, summed over all threads on demand. Exact once the threads that did the
 * work are quiescent. Fast paths count with plain per-thread adds (compile them out with
 * -Dstats=false); only slow paths are timed. */
#define FFA_STATS_CLASSES 40
struct ffa_stats {
  /* small objects (<= 32 KiB): operations by path */
  uint64_t small_mallocs;          /* objects handed out by a thread's spans */
  uint64_t small_frees_local;      /* freed by the owning thread (derived: mallocs - remote
                                      frees - objects in use, so exact when threads are quiet) */
  uint64_t remote_frees;           /* freed by another thread (lock-free push) */
  uint64_t small_spans_created;    /* spans claimed from the arena */
  uint64_t small_spans_released;   /* empty spans given back to the arena */
  /* large blocks (> 32 KiB): allocations by path */
  uint64_t large_cache_hits;       /* the thread's block cache (the CPU's: cpu_cache_hits) */
  uint64_t arena_hits;             /* a contiguous arena claim */
  uint64_t arena_failfast_nospace; /* arena scan found no run: fell back at once */
  uint64_t arena_failfast_contended; /* lost claim races: fell back at once */
  uint64_t regions_mapped;         /* a fresh mmap-backed region */
  uint64_t regions_reused;         /* the region cache */
  uint64_t regions_grown;          /* a smaller cached region grown with mremap */
  uint64_t large_frees;
  uint64_t large_slow_ns;          /* time in the large path past the caches (measured only
                                      with FFALLOC_STATS=1) */
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
  uint64_t bytes_reserved;         /* address space mapped by ffalloc now */
  uint64_t bytes_reserved_peak;
  uint64_t small_bytes_in_use;     /* small objects handed out (class sizes) */
  uint64_t large_bytes_in_use;     /* live large blocks and regions */
  uint64_t regions_live;           /* mapped regions holding a live block */
  uint64_t large_bytes_cached;     /* large blocks in thread caches */
  uint64_t arena_bytes_in_use;     /* arena slices claimed (spans + large runs + cached) */
  uint64_t arena_bytes_in_use_peak;
  uint64_t arena_bytes_dirty_free; /* free arena slices that may still be resident */
  uint64_t region_bytes_cached;    /* mapped regions parked in the region cache */
  /* per small size class */
  uint64_t class_size[FFA_STATS_CLASSES];
  uint64_t class_spans[FFA_STATS_CLASSES];
  uint64_t class_objects_in_use[FFA_STATS_CLASSES];
  /* added after 0.1 (appended, so the fields above keep their offsets) */
  uint64_t cpu_cache_hits;         /* large allocations served by the CPU's block cache */
  uint64_t cpu_cache_bytes;        /* large blocks in CPU caches */
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

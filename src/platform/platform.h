// platform: the only place that makes memory syscalls. Each call is counted and timed; a test
// switch makes the Nth mapping call fail with ENOMEM. Includes only base/.
//
// Error policy: ENOMEM (real or injected) returns null / false; any other failure of mmap,
// munmap, madvise or mremap is a bug in ffalloc and calls fatal().
#pragma once

#include "base/base.h"

namespace ffa::os {

constexpr size_t kPageSize = 4096;  // x86-64 and aarch64-4k; checked against sysconf at boot

/// Maps size bytes of fresh, zeroed, read-write memory aligned to align (a power of two, at
/// least a page), with MAP_NORESERVE. One mmap syscall; the alignment slack is kept mapped (it is
/// never touched, so it costs address space only) and reported through *mapped_base/_size so
/// release() can return the whole mapping. Returns null on ENOMEM. Never blocks on a lock.
void* map(size_t size, size_t align, void** mapped_base, size_t* mapped_size);

/// Unmaps [p, p+size). Never fails for ranges obtained from map().
void unmap(void* p, size_t size);

/// Tells the kernel the range's contents are no longer needed (MADV_DONTNEED): RSS falls at once
/// and the pages read back as zero. Page-aligned range required.
void purge(void* p, size_t size);

/// mremap without copying: in place when target is null (ENOMEM when the pages after the mapping
/// are taken), else onto target, a mapping of new_size the caller reserved with map()
/// (MREMAP_FIXED replaces it). Returns null on ENOMEM, the old mapping then untouched.
void* remap(void* p, size_t old_size, size_t new_size, void* target);

/// Monotonic clock in nanoseconds (vDSO, no syscall on Linux).
uint64_t now_ns();
/// Coarse monotonic clock (a few milliseconds of resolution, cheaper still).
uint64_t now_coarse_ns();

/// Sleeps about 20 microseconds (a raw nanosleep: not a cancellation point), so that a thread
/// this one waits for can run even on this CPU: only where a failure waits for another thread
/// to finish returning memory.
void pause_briefly();

/// The CPU this thread is running on (it may move right after). Read from the rseq area glibc
/// registers for every thread (two loads, no syscall); sched_getcpu where there is none.
FFA_INLINE unsigned current_cpu();

/// CPUs this process may run on (its affinity mask), at least 1; CPU_SETSIZE (1024) when the
/// mask is larger than that.
unsigned cpu_count();

/// Makes the range inaccessible (mprotect PROT_NONE): guard pages in secure builds. False when
/// the kernel refuses (ENOMEM: each guard splits a mapping, and vm.max_map_count caps them).
bool protect_none(void* p, size_t size);

/// Asks for transparent huge pages on the range (MADV_HUGEPAGE); best effort.
void advise_huge_pages(void* p, size_t size);

/// Looks up NAME in the process environment without calling getenv (safe before libc is up).
const char* read_env_raw(const char* name);

struct Counters {
  std::atomic<uint64_t> mmap_calls{0}, mmap_ns{0};
  std::atomic<uint64_t> munmap_calls{0}, munmap_ns{0};
  std::atomic<uint64_t> madvise_calls{0}, madvise_ns{0};
  std::atomic<uint64_t> mremap_calls{0}, mremap_ns{0};
  std::atomic<uint64_t> map_failures{0};
  std::atomic<uint64_t> bytes_mapped{0}, bytes_mapped_peak{0};
};
/// Process-wide syscall counters (relaxed atomics; touched only around syscalls).
extern Counters counters;

/// Makes the nth mapping call (map or remap) from now fail with ENOMEM; 0 disables.
void fail_nth_map_for_test(uint64_t nth);

unsigned current_cpu_fallback();

}  // namespace ffa::os

// glibc 2.35+ (weak: absent from other C libraries, and then null).
extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace ffa::os {

FFA_INLINE unsigned current_cpu() {
#if defined(__x86_64__) || defined(__aarch64__)
  if (&__rseq_size != nullptr && __rseq_size != 0) {
    char* thread_pointer;
#if defined(__x86_64__)
    asm("mov %%fs:0, %0" : "=r"(thread_pointer));
#else
    asm("mrs %0, tpidr_el0" : "=r"(thread_pointer));
#endif
    // struct rseq: cpu_id_start, then cpu_id (negative until registered).
    int32_t cpu = reinterpret_cast<const volatile int32_t*>(thread_pointer + __rseq_offset)[1];
    if (FFA_LIKELY(cpu >= 0)) return unsigned(cpu);
  }
#endif
  return current_cpu_fallback();
}

}  // namespace ffa::os

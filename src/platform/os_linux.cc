// Linux implementation of the platform layer: mmap, munmap, madvise, mremap, each counted and
// timed, with the fault-injection switch for tests.
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "platform/platform.h"

extern char** environ;

namespace ffa::os {

Counters counters;

static std::atomic<uint64_t> fail_countdown{0};

void fail_nth_map_for_test(uint64_t nth) { fail_countdown.store(nth, std::memory_order_relaxed); }

// True when this call must fail by request of a test. The countdown hits 1 exactly once.
static bool injected_failure() {
  uint64_t n = fail_countdown.load(std::memory_order_relaxed);
  while (n != 0) {
    if (fail_countdown.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return n == 1;
  }
  return false;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void pause_briefly() {
  timespec pause{0, 20'000};
  syscall(SYS_nanosleep, &pause, nullptr);
}

unsigned cpu_count() {
  cpu_set_t allowed;
  // A mask that does not fit cpu_set_t (over 1024 CPUs) fails: many CPUs, then.
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return CPU_SETSIZE;
  int count = CPU_COUNT(&allowed);
  return count > 0 ? unsigned(count) : 1;
}

unsigned current_cpu_fallback() {
  int cpu = sched_getcpu();
  return cpu >= 0 ? unsigned(cpu) : 0;
}

uint64_t now_coarse_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// Racy maximum: good enough for a statistic.
static void note_mapped(uint64_t now_mapped) {
  if (now_mapped > counters.bytes_mapped_peak.load(std::memory_order_relaxed)) {
    counters.bytes_mapped_peak.store(now_mapped, std::memory_order_relaxed);
  }
}

static void account(std::atomic<uint64_t>& calls, std::atomic<uint64_t>& ns, uint64_t start) {
  calls.fetch_add(1, std::memory_order_relaxed);
  ns.fetch_add(now_ns() - start, std::memory_order_relaxed);
}

void* map(size_t size, size_t align, void** mapped_base, size_t* mapped_size) {
  if (align < kPageSize) align = kPageSize;
  size_t length = size + (align > kPageSize ? align : 0);
  if (length < size || injected_failure()) {
    counters.map_failures.fetch_add(1, std::memory_order_relaxed);
    errno = ENOMEM;
    return nullptr;
  }
  uint64_t start = now_ns();
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  account(counters.mmap_calls, counters.mmap_ns, start);
  if (p == MAP_FAILED) {
    if (errno != ENOMEM) fatal("mmap failed unexpectedly, errno", reinterpret_cast<void*>(errno));
    counters.map_failures.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  note_mapped(counters.bytes_mapped.fetch_add(length, std::memory_order_relaxed) + length);
  *mapped_base = p;
  *mapped_size = length;
  return reinterpret_cast<void*>(align_up(uintptr_t(p), align));
}

void unmap(void* p, size_t size) {
  uint64_t start = now_ns();
  if (munmap(p, size) != 0) fatal("munmap failed on", p);
  account(counters.munmap_calls, counters.munmap_ns, start);
  counters.bytes_mapped.fetch_sub(size, std::memory_order_relaxed);
}

void purge(void* p, size_t size) {
  uint64_t start = now_ns();
  if (madvise(p, size, MADV_DONTNEED) != 0) fatal("madvise failed on", p);
  account(counters.madvise_calls, counters.madvise_ns, start);
}

bool protect_none(void* p, size_t size) {
  if (mprotect(p, size, PROT_NONE) == 0) return true;
  if (errno != ENOMEM) fatal("mprotect failed on", p);
  return false;
}

void advise_huge_pages(void* p, size_t size) {
  uint64_t start = now_ns();
  madvise(p, size, MADV_HUGEPAGE);  // may fail where THP is off: harmless
  account(counters.madvise_calls, counters.madvise_ns, start);
}

void* remap(void* p, size_t old_size, size_t new_size, void* target) {
  if (injected_failure()) {
    counters.map_failures.fetch_add(1, std::memory_order_relaxed);
    errno = ENOMEM;
    return nullptr;
  }
  uint64_t start = now_ns();
  void* q = target == nullptr
                ? mremap(p, old_size, new_size, 0)
                : mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  account(counters.mremap_calls, counters.mremap_ns, start);
  if (q == MAP_FAILED) {
    if (errno != ENOMEM) fatal("mremap failed unexpectedly on", p);
    if (target != nullptr) counters.map_failures.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  if (target != nullptr) {  // the reservation, already counted, now holds the pages
    counters.bytes_mapped.fetch_sub(old_size, std::memory_order_relaxed);
  } else if (new_size > old_size) {
    note_mapped(counters.bytes_mapped.fetch_add(new_size - old_size, std::memory_order_relaxed) +
                new_size - old_size);
  } else {
    counters.bytes_mapped.fetch_sub(old_size - new_size, std::memory_order_relaxed);
  }
  return q;
}

const char* read_env_raw(const char* name) {
  if (environ == nullptr) return nullptr;
  size_t len = strlen(name);
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
  }
  return nullptr;
}

}  // namespace ffa::os

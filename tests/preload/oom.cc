// Out of memory. Under setrlimit(RLIMIT_AS) set kHeadroom above the process's current address
// space, from one thread and then from 8 threads at once, for small blocks, 100 KiB blocks and
// 10 MiB blocks:
//  - malloc/calloc until failure: the failure is NULL with errno == ENOMEM (never a crash or a
//    hang: alarm() turns a hang into a failure), and it does come (the limit is enforced);
//  - then C++ new throws std::bad_alloc and nothrow new returns nullptr;
//  - realloc that cannot grow returns NULL + ENOMEM and leaves the block intact;
//  - after freeing everything (every block's contents checked first), recovery: one thread
//    allocates the same blocks again under the same limit; 8 threads (and a refill in another
//    order) do so under the limit raised by kRecoverySlack, since a concurrent or reordered
//    refill fragments differently; all less 1% (glibc needs that, see run_recover), and the
//    smallest-first refill may miss one 10 MiB block, as long as nothing freed stays live;
//  - memory freed as one kind serves another kind under the same limit (at least half);
//  - a block grown by realloc until that fails: NULL + ENOMEM, contents intact;
//  - with the limit lifted, a 256 MiB block works and blocks from before the limit are intact.
// With --refill N, N rounds of the 8-thread exhaust/free/refill, of 100 KiB and 10 MiB blocks in
// turn, replace every step above but the last: a refill that starts while a thread is still
// unmapping what was freed (secure builds make every large block a region) must get that
// address space, not ENOMEM.
// Then the fault switch ffa_fail_nth_map_for_test: one mmap fails while 8 threads allocate large
// (and, separately, many small) blocks: every failure is NULL + ENOMEM and a retry succeeds.
// (Huge realloc under memory pressure: oom_realloc_huge.c.) OOM_TRACE=1 prints progress.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include <atomic>
#include <new>

#include "ffalloc/ffalloc.h"
#include "preload_check.h"

namespace {

constexpr size_t kHeadroom = size_t{96} << 20;
constexpr size_t kRunaway = size_t{4} << 30;
// Recovery runs under the limit raised by this much: a concurrent refill may fragment the
// arena differently from the first fill, but memory that was freed must not be lost.
constexpr size_t kRecoverySlack = size_t{16} << 20;
constexpr int kThreads = 8;
constexpr int kAlarm = 50;

ffa_owns_fn owns;
bool trace;  // OOM_TRACE=1: progress on stderr

#define TRACE(...)                                   \
  do {                                               \
    if (trace) fprintf(stderr, "oom: " __VA_ARGS__); \
  } while (0)

long vm_kib() {
  long size = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  CHECK(f != nullptr);
  CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
  fclose(f);
  return size * (sysconf(_SC_PAGESIZE) / 1024);
}

rlimit original_limit;

// Sets RLIMIT_AS to the current address space + headroom. Reads /proc before, never after.
void limit_address_space(size_t headroom) {
  rlimit r = original_limit;
  r.rlim_cur = rlim_t(vm_kib()) * 1024 + headroom;
  CHECK(setrlimit(RLIMIT_AS, &r) == 0);
}
void raise_limit(size_t slack) {
  rlimit r;
  CHECK(getrlimit(RLIMIT_AS, &r) == 0);
  r.rlim_cur += slack;
  CHECK(setrlimit(RLIMIT_AS, &r) == 0);
}
void lift_limit() { CHECK(setrlimit(RLIMIT_AS, &original_limit) == 0); }

// A block starts with a header: next block, size, tag. Lists go through the blocks themselves so
// holding them needs no memory. The last 8 bytes repeat the tag.
struct Block {
  Block* next;
  size_t size;
  uint64_t tag;
};
uint64_t tag_of(const Block* b) { return (uintptr_t(b) * 0x9e3779b97f4a7c15ull) ^ b->size; }
void stamp(Block* b, size_t size, Block* next) {
  b->next = next;
  b->size = size;
  b->tag = tag_of(b);
  memcpy(reinterpret_cast<char*>(b) + size - 8, &b->tag, 8);
}
void verify(const Block* b) {
  CHECK(b->tag == tag_of(b));
  uint64_t tail;
  memcpy(&tail, reinterpret_cast<const char*>(b) + b->size - 8, 8);
  CHECK(tail == b->tag);
}
size_t free_list(Block* b) {
  size_t n = 0;
  while (b != nullptr) {
    verify(b);
    Block* next = b->next;
    CHECK_OWNS(owns, b);
    free(b);
    b = next;
    ++n;
  }
  return n;
}

enum Kind { kSmall, k100K, k10M, kKinds };
const char* kind_name[] = {"small", "100 KiB", "10 MiB"};
size_t size_of(Kind k, size_t i) {
  switch (k) {
    case kSmall: return 24 + (i * 40) % 1000;
    case k100K: return 100 << 10;
    default: return 10 << 20;
  }
}

// Allocates kind-k blocks until malloc (or calloc, every 3rd call) fails; CHECKs the failure is
// NULL + ENOMEM. Bounded: the limit must stop it (kRunaway).
Block* exhaust(Kind k, size_t* count) {
  Block* list = nullptr;
  size_t total = 0;
  for (size_t i = 0;; ++i) {
    size_t n = size_of(k, i);
    errno = 0;
    void* p = i % 3 == 2 ? calloc(1, n) : malloc(n);
    if (p == nullptr) {
      if (errno != ENOMEM) {
        fprintf(stderr, "oom: %s block %zu: NULL with errno %d, not ENOMEM\n", kind_name[k], i, errno);
        _exit(1);
      }
      *count = i;
      return list;
    }
    if (i % 3 == 2) CHECK(static_cast<char*>(p)[n / 2] == 0);
    stamp(static_cast<Block*>(p), n, list);
    list = static_cast<Block*>(p);
    total += n;
    // Address space reserved before the limit (glibc's 64 MiB per-thread arena heaps) may be
    // used without counting again, but 4 GiB means the limit does not bite.
    if (total > kRunaway) {
      fprintf(stderr, "oom: %s: %zu MiB allocated under a limit of +%zu MiB: no failure\n",
              kind_name[k], total >> 20, kHeadroom >> 20);
      _exit(1);
    }
  }
}

// With memory exhausted: new throws bad_alloc, nothrow new returns nullptr (each within a bounded
// number of attempts: a few may still succeed from memory ffalloc set aside).
void check_new_fails(Kind k, Block** hold) {
  size_t n = size_of(k, 0);
  bool threw = false;
  for (int i = 0; i < 100000 && !threw; ++i) {
    try {
      void* p = i % 2 ? ::operator new[](n) : ::operator new(n);
      stamp(static_cast<Block*>(p), n, *hold);
      *hold = static_cast<Block*>(p);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  }
  CHECK(threw);
  bool null = false;
  for (int i = 0; i < 100000 && !null; ++i) {
    void* p = ::operator new(n, std::nothrow);
    if (p == nullptr) {
      null = true;
    } else {
      stamp(static_cast<Block*>(p), n, *hold);
      *hold = static_cast<Block*>(p);
    }
  }
  CHECK(null);
}

// realloc that cannot grow: NULL + ENOMEM, block intact.
void check_realloc_fails(Block** hold) {
  Block* b = *hold;
  if (b == nullptr) return;
  size_t old = b->size;
  errno = 0;
  void* q = realloc(b, size_t{1} << 40);
  CHECK(q == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(b->size == old);
  verify(b);
}

// One thread's part of a phase: exhaust, new/nothrow, realloc; hold everything until told.
struct Phase {
  Kind kind;
  Block* held;
  size_t count;
};
void run_exhaust(Phase* ph) {
  ph->held = exhaust(ph->kind, &ph->count);
  TRACE("%s: malloc failed after %zu blocks\n", kind_name[ph->kind], ph->count);
  check_new_fails(ph->kind, &ph->held);
  TRACE("%s: new failed\n", kind_name[ph->kind]);
  check_realloc_fails(&ph->held);
}
// Recovery: the same number of the same blocks must fit again now that everything is free,
// less 1% (count / 100 blocks, so none below 100 blocks): glibc may have moved the thread to
// another arena when it ran out, and 8 racing threads or a refill in another order fragment
// differently. Losing more than 1% of what was freed fails; `spare` more blocks may be missing
// where the caller says why.
void run_recover(Phase* ph, size_t spare = 0) {
  Block* list = nullptr;
  size_t need = ph->count - ph->count / 100 - spare;
  size_t got = 0;
  for (; got < ph->count; ++got) {
    size_t n = size_of(ph->kind, got);
    errno = 0;
    void* p = malloc(n);
    if (p == nullptr) {
      CHECK(errno == ENOMEM);
      break;
    }
    stamp(static_cast<Block*>(p), n, list);
    list = static_cast<Block*>(p);
  }
  if (got < need) {
    fprintf(stderr, "oom: recovery: %s block %zu of %zu failed after everything was freed\n",
            kind_name[ph->kind], got, ph->count);
    _exit(1);
  }
  CHECK(free_list(list) == got);
}

// --- 8 threads doing the same phase at once ------------------------------------------------

pthread_barrier_t go, done;
Phase thread_phase[kThreads];
enum Command { kExhaust, kFree, kRecover, kQuit };
Command command;

void* worker(void* arg) {
  Phase* ph = static_cast<Phase*>(arg);
  free(malloc(100));  // a thread that has allocated before, as in a real program
  while (true) {
    pthread_barrier_wait(&go);
    Command c = command;
    if (c == kQuit) return nullptr;
    if (c == kExhaust) run_exhaust(ph);
    if (c == kFree) {
      free_list(ph->held);
      ph->held = nullptr;
    }
    if (c == kRecover) run_recover(ph);
    pthread_barrier_wait(&done);
  }
}
void all_threads(Command c) {
  command = c;
  pthread_barrier_wait(&go);
  if (c != kQuit) pthread_barrier_wait(&done);
}

// The 8 threads exhaust kind-k blocks at once under the limit in force, free them all, then each
// gets its count back under the limit raised by kRecoverySlack; the limit is lifted after.
// Returns how many blocks the 8 got.
size_t eight_threads(Kind kind) {
  for (auto& p : thread_phase) p = Phase{kind, nullptr, 0};
  all_threads(kExhaust);
  size_t total = 0;
  for (auto& p : thread_phase) total += p.count;
  all_threads(kFree);
  raise_limit(kRecoverySlack);
  all_threads(kRecover);
  lift_limit();
  return total;
}

// Growing one block with realloc until it fails: NULL + ENOMEM and the block intact.
void realloc_growth() {
  size_t n = 1 << 20;
  char* p = static_cast<char*>(malloc(n));
  CHECK(p != nullptr);
  memset(p, 0x5d, 4096);
  for (int i = 0;; ++i) {
    CHECK(i < 200);
    size_t next = n + n / 2;
    errno = 0;
    char* q = static_cast<char*>(realloc(p, next));
    if (q == nullptr) {
      CHECK(errno == ENOMEM);
      break;
    }
    p = q;
    n = next;
    q[n - 1] = 0x5d;
  }
  for (int i = 0; i < 4096; ++i) CHECK(p[i] == 0x5d);
  CHECK(p[n - 1] == 0x5d);
  free(p);
}

// --- the fault switch --------------------------------------------------------------------

using FailNth = void (*)(uint64_t);
using StatsGet = void (*)(ffa_stats*);
FailNth fail_nth;
std::atomic<int> injected_nulls{0};

void* fault_worker(void* arg) {
  int t = int(intptr_t(arg));
  for (int round = 0; round < 6; ++round) {
    pthread_barrier_wait(&go);
    // Sizes no earlier allocation left cached: every call needs a fresh mapping.
    size_t n = (size_t{17} << 20) + size_t(t * 8 + round + 1) * 4096 * 3;
    void* p = nullptr;
    for (int attempt = 0; attempt < 3 && p == nullptr; ++attempt) {
      errno = 0;
      p = malloc(n);
      if (p == nullptr) {
        CHECK(errno == ENOMEM);
        injected_nulls.fetch_add(1);
      }
    }
    CHECK(p != nullptr);  // one injected failure: a retry must succeed
    memset(p, t, 4096);
    static_cast<char*>(p)[n - 1] = char(t);
    pthread_barrier_wait(&done);
    CHECK(static_cast<char*>(p)[0] == char(t) && static_cast<char*>(p)[n - 1] == char(t));
    free(p);
    // Small blocks in bulk (new spans, arena growth) under a pending failure too.
    pthread_barrier_wait(&go);
    Block* list = nullptr;
    for (int i = 0; i < 20000; ++i) {
      size_t m = sizeof(Block) + 8 + size_t((i * 97 + t) % 2000);  // room for header and tail
      errno = 0;
      void* q = malloc(m);
      if (q == nullptr) {
        CHECK(errno == ENOMEM);
        injected_nulls.fetch_add(1);
        q = malloc(m);
        CHECK(q != nullptr);
      }
      stamp(static_cast<Block*>(q), m, list);
      list = static_cast<Block*>(q);
    }
    pthread_barrier_wait(&done);
    free_list(list);
  }
  return nullptr;
}

void fault_switch() {
  fail_nth = reinterpret_cast<FailNth>(dlsym(RTLD_DEFAULT, "ffa_fail_nth_map_for_test"));
  auto stats_get = reinterpret_cast<StatsGet>(dlsym(RTLD_DEFAULT, "ffa_stats_get"));
  CHECK(fail_nth != nullptr && stats_get != nullptr);
  ffa_stats before{};
  stats_get(&before);
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i)
    CHECK(pthread_create(&t[i], nullptr, fault_worker, reinterpret_cast<void*>(intptr_t(i))) == 0);
  for (int round = 0; round < 6; ++round) {
    for (int part = 0; part < 2; ++part) {
      fail_nth(1 + uint64_t(round % 3));  // the 1st, 2nd or 3rd mapping from now fails
      pthread_barrier_wait(&go);
      pthread_barrier_wait(&done);
      fail_nth(0);
    }
  }
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], nullptr) == 0);
  ffa_stats after{};
  stats_get(&after);
  printf("oom: fault switch: %llu injected map failures, %d NULL returns\n",
         (unsigned long long)(after.os_map_failures - before.os_map_failures), injected_nulls.load());
  CHECK(after.os_map_failures > before.os_map_failures);  // the switch did fire
}

// The 8-thread phase again and again. The frees leave hundreds of regions queued for unmapping;
// the first refill malloc takes the whole queue and the others must not fail while it works
// through it (before the fix: 4-24 rounds of 40 passed, in secure builds).
void refill_rounds(int rounds) {
  for (int r = 0; r < rounds; ++r) {
    limit_address_space(kHeadroom);
    eight_threads(r % 2 == 0 ? k100K : k10M);
  }
  printf("oom: refill: %d rounds recovered\n", rounds);
}

// Every kind from one thread and from 8, each kind's memory serving the others, all kinds at
// once, realloc growth: the steps the header lists, in that order.
void every_phase() {
  for (int k = 0; k < kKinds; ++k) {
    Kind kind = Kind(k);
    // One thread.
    TRACE("%s: one thread\n", kind_name[k]);
    Phase ph{kind, nullptr, 0};
    limit_address_space(kHeadroom);
    run_exhaust(&ph);
    size_t held = ph.count;
    CHECK(free_list(ph.held) >= held);
    ph.held = nullptr;
    run_recover(&ph);
    // Eight threads at once.
    TRACE("%s: 8 threads\n", kind_name[k]);
    size_t total = eight_threads(kind);
    printf("oom: %s: one thread got %zu blocks, 8 threads %zu; all recovered\n", kind_name[k], held, total);
    CHECK(held > 0);  // the headroom holds blocks of every kind
  }
  // Memory freed as one kind serves another kind under the same limit: at least half as many
  // bytes fit (glibc and ffalloc fit over 80%; an allocator that keeps address space it cannot
  // reuse for the other kind would fit next to nothing).
  for (int from = 0; from < kKinds; ++from) {
    for (int to = 0; to < kKinds; ++to) {
      if (from == to) continue;
      limit_address_space(kHeadroom);
      Phase a{Kind(from), nullptr, 0};
      a.held = exhaust(a.kind, &a.count);
      size_t bytes = 0;
      for (Block* b = a.held; b != nullptr; b = b->next) bytes += b->size;
      free_list(a.held);
      Phase b{Kind(to), nullptr, 0};
      b.held = exhaust(b.kind, &b.count);
      size_t bytes2 = 0;
      for (Block* x = b.held; x != nullptr; x = x->next) bytes2 += x->size;
      free_list(b.held);
      lift_limit();
      printf("oom: cross: %s freed (%zu MiB) -> %s: %zu MiB\n", kind_name[from], bytes >> 20, kind_name[to], bytes2 >> 20);
      if (bytes2 < bytes / 2) {
        fprintf(stderr, "oom: %zu MiB of %s blocks freed under the limit, then only %zu MiB of %s blocks fit\n",
                bytes >> 20, kind_name[from], bytes2 >> 20, kind_name[to]);
        _exit(1);
      }
    }
  }
  // All kinds at once, largest first, then recovery of each under the same limit.
  uint64_t live_before_mixed = 0;
  if (auto stats_get = reinterpret_cast<StatsGet>(dlsym(RTLD_DEFAULT, "ffa_stats_get"))) {
    ffa_stats now{};
    stats_get(&now);
    live_before_mixed = now.small_bytes_in_use + now.large_bytes_in_use;
  }
  limit_address_space(kHeadroom);
  Phase mixed[kKinds];
  for (int k = kKinds - 1; k >= 0; --k) {
    mixed[k] = Phase{Kind(k), nullptr, 0};
    run_exhaust(&mixed[k]);
  }
  for (auto& m : mixed) free_list(m.held);
  TRACE("mixed: freed\n");
  // Nothing freed stays counted as live (what follows is about fragmentation, not leaks).
  if (auto stats_get = reinterpret_cast<StatsGet>(dlsym(RTLD_DEFAULT, "ffa_stats_get"))) {
    ffa_stats now{};
    stats_get(&now);
    uint64_t live = now.small_bytes_in_use + now.large_bytes_in_use;
    CHECK(live < live_before_mixed + (size_t{1} << 20));
  }
  raise_limit(kRecoverySlack);
  // The refill goes smallest first after an exhaustion that went largest first: 10 MiB blocks
  // that found the arena whole may now find it cut up by the 100 KiB and small blocks, and
  // ffalloc can come back one 10 MiB block short of about 80 (its caches shift where the
  // smaller blocks land). One such block is spared; the leak check above still holds.
  for (int k = 0; k < kKinds; ++k) run_recover(&mixed[k], k == kKinds - 1 ? 1 : 0);
  TRACE("mixed: recovered\n");
  realloc_growth();
  TRACE("realloc growth: done\n");
  lift_limit();
}

void on_alarm(int) {
  static const char msg[] = "oom: hung (alarm)\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int refill = argc == 3 && strcmp(argv[1], "--refill") == 0 ? atoi(argv[2]) : 0;
  owns = ffa_require_active();
  trace = getenv("OOM_TRACE") != nullptr;
  signal(SIGALRM, on_alarm);
  alarm(kAlarm);
  CHECK(getrlimit(RLIMIT_AS, &original_limit) == 0);
  printf("oom: start\n");  // stdout's buffer exists before memory runs out
  fflush(stdout);

  // Blocks from before the limit, checked at the end.
  Block* keep = nullptr;
  for (int i = 0; i < 500; ++i) {
    size_t n = i % 50 == 0 ? (size_t{1} << 20) + size_t(i) : 32 + size_t(i) * 8;
    auto* b = static_cast<Block*>(malloc(n));
    CHECK(b != nullptr);
    stamp(b, n, keep);
    keep = b;
  }

  // Threads (and their stacks) exist before the limit is set.
  CHECK(pthread_barrier_init(&go, nullptr, kThreads + 1) == 0);
  CHECK(pthread_barrier_init(&done, nullptr, kThreads + 1) == 0);
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_create(&t[i], nullptr, worker, &thread_phase[i]) == 0);
  if (refill > 0) {
    refill_rounds(refill);
  } else {
    every_phase();
  }

  all_threads(kQuit);
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], nullptr) == 0);

  // Unlimited again: a big allocation works and old blocks are intact.
  char* big = static_cast<char*>(malloc(size_t{256} << 20));
  CHECK(big != nullptr);
  for (size_t i = 0; i < (size_t{256} << 20); i += 1 << 20) big[i] = 1;
  free(big);
  CHECK(free_list(keep) == 500);

  if (owns != nullptr) fault_switch();
  printf("oom: ok\n");
  return 0;
}

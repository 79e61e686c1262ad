/* Thread exit: 2000 short-lived threads (joinable and detached) allocate, free blocks that other
 * (often already exited) threads allocated, and malloc/free from pthread key destructors in all
 * four destructor rounds and from C++ thread_local destructors, i.e. after the allocator's own
 * per-thread teardown. Memory must be reused: RSS stays bounded over the 2000 lifetimes. */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "preload_check.h"

enum { kThreads = 2000, kBatch = 8, kMailbox = 4096, kSmall = 200 };
#define MAGIC 0x5eed5eedu

void tls_exercise(int seed); /* thread_exit_tls.cc */
int tls_dtor_count(void);

static ffa_owns_fn owns;
static pthread_key_t key;
static atomic_int key_dtor_calls;
static atomic_int detached_done;

/* Blocks handed from one thread to be freed by a later one. Each starts with a tag. */
static pthread_mutex_t mailbox_mu = PTHREAD_MUTEX_INITIALIZER;
static void* mailbox[kMailbox];
static int mailbox_n;

static void* tagged_alloc(size_t n) {
  uint32_t* p = malloc(n);
  CHECK(p != NULL);
  memset(p, 0x77, n);
  p[0] = MAGIC ^ (uint32_t)n;
  p[1] = (uint32_t)n;
  return p;
}
static void tagged_free(void* v) {
  uint32_t* p = v;
  CHECK(p[0] == (MAGIC ^ p[1])); /* block intact: nobody reused it while it was live */
  CHECK_OWNS(owns, p);
  free(p);
}
static void* mailbox_take(void) {
  void* p = NULL;
  pthread_mutex_lock(&mailbox_mu);
  if (mailbox_n > 0) p = mailbox[--mailbox_n];
  pthread_mutex_unlock(&mailbox_mu);
  return p;
}
static void mailbox_put(void* p) {
  pthread_mutex_lock(&mailbox_mu);
  if (mailbox_n < kMailbox) {
    mailbox[mailbox_n++] = p;
    p = NULL;
  }
  pthread_mutex_unlock(&mailbox_mu);
  if (p != NULL) tagged_free(p);
}

struct key_value {
  int round;
  void* payload;
};

/* Runs in every destructor round (re-arms itself), so at least one call happens after the
 * allocator's own thread teardown, whichever round that is in. */
static void key_dtor(void* v) {
  struct key_value* kv = v;
  atomic_fetch_add(&key_dtor_calls, 1);
  tagged_free(kv->payload);
  void* other = mailbox_take(); /* cross-thread free during teardown */
  if (other != NULL) tagged_free(other);
  void* scratch = tagged_alloc(64 + (size_t)kv->round * 5000);
  tagged_free(scratch);
  if (kv->round + 1 < PTHREAD_DESTRUCTOR_ITERATIONS) {
    struct key_value* next = malloc(sizeof *next);
    CHECK(next != NULL);
    next->round = kv->round + 1;
    next->payload = tagged_alloc(48);
    CHECK(pthread_setspecific(key, next) == 0);
  }
  mailbox_put(tagged_alloc(32)); /* allocated during teardown, freed by another thread */
  free(kv);
}

static void* worker(void* arg) {
  int id = (int)(intptr_t)arg;
  tls_exercise(id);
  struct key_value* kv = malloc(sizeof *kv);
  CHECK(kv != NULL);
  kv->round = 0;
  kv->payload = tagged_alloc(100 + (size_t)(id % 900));
  CHECK(pthread_setspecific(key, kv) == 0);

  for (int i = 0; i < 16; ++i) { /* free what earlier threads left */
    void* p = mailbox_take();
    if (p == NULL) break;
    tagged_free(p);
  }
  void* mine[kSmall + 5];
  int n = 0;
  for (int i = 0; i < kSmall; ++i) mine[n++] = tagged_alloc(16 + (size_t)((i * 37 + id) % 1009));
  for (int i = 0; i < 4; ++i) mine[n++] = tagged_alloc(64 << 10);
  mine[n++] = tagged_alloc(1 << 20);
  for (int i = 0; i < n; ++i) {
    if (i % 4 == 0)
      mailbox_put(mine[i]);
    else
      tagged_free(mine[i]);
  }
  if (id & 1) atomic_fetch_add(&detached_done, 1);
  return NULL;
}

static long rss_kib(void) {
  long size = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  CHECK(f != NULL);
  CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void) {
  owns = ffa_require_active();
  CHECK(pthread_key_create(&key, key_dtor) == 0);
  long warm_rss = 0;
  int detached_started = 0;
  for (int base = 0; base < kThreads; base += kBatch) {
    pthread_t t[kBatch];
    int detach = (base / kBatch) & 1;
    for (int i = 0; i < kBatch; ++i) {
      int id = base + i;
      if (detach) id |= 1;
      else id &= ~1;
      CHECK(pthread_create(&t[i], NULL, worker, (void*)(intptr_t)id) == 0);
      if (detach) {
        CHECK(pthread_detach(t[i]) == 0);
        ++detached_started;
      }
    }
    if (!detach)
      for (int i = 0; i < kBatch; ++i) CHECK(pthread_join(t[i], NULL) == 0);
    while (atomic_load(&detached_done) < detached_started) nanosleep(&(struct timespec){0, 100000}, NULL);
    if (base == 200) warm_rss = rss_kib();
  }
  /* Detached threads may still be in their destructors; wait for all key destructor rounds. */
  for (int spin = 0; spin < 50000 && atomic_load(&key_dtor_calls) < kThreads * PTHREAD_DESTRUCTOR_ITERATIONS; ++spin)
    nanosleep(&(struct timespec){0, 100000}, NULL);
  for (int spin = 0; spin < 50000 && tls_dtor_count() < kThreads; ++spin) nanosleep(&(struct timespec){0, 100000}, NULL);
  CHECK(atomic_load(&key_dtor_calls) == kThreads * PTHREAD_DESTRUCTOR_ITERATIONS);
  CHECK(tls_dtor_count() == kThreads);
  for (void* p; (p = mailbox_take()) != NULL;) tagged_free(p);
  long final_rss = rss_kib();
  printf("thread_exit: rss after 200 threads %ld KiB, after %d threads %ld KiB\n", warm_rss, kThreads, final_rss);
  /* Each thread touches ~1.5 MiB; 2000 leaked thread caches would be far above these bounds. */
  CHECK(final_rss - warm_rss < 64 * 1024);
  CHECK(final_rss < 256 * 1024);
  return 0;
}

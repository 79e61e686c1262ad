/* fork() while other threads are inside malloc: the child must be able to allocate, start
 * threads and free memory inherited from the parent (including blocks owned by parent threads
 * that do not exist in the child) without deadlocking. A hung child dies by SIGALRM. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#include "preload_check.h"

enum { kWorkers = 4, kSlots = 64, kForks = 50 };

static ffa_owns_fn owns;
static atomic_int stop;
static _Atomic(unsigned char*) slots[kWorkers][kSlots]; /* each block: byte 0..n = slot tag */

static size_t slot_size(unsigned r) {
  if (r % 97 == 0) return (size_t)1 << 20;
  if (r % 13 == 0) return 40000 + r % 30000;
  return 16 + r % 2000;
}

static void* worker(void* arg) {
  int w = (int)(intptr_t)arg;
  unsigned r = (unsigned)w * 2654435761u + 1;
  while (!atomic_load(&stop)) {
    r = r * 1103515245u + 12345u;
    int k = (int)((r >> 8) % kSlots);
    size_t n = slot_size(r >> 4);
    unsigned char* p = malloc(n);
    CHECK(p != NULL);
    memset(p, (unsigned char)k, 16);
    if ((r & 7) == 0) {
      p = realloc(p, n * 2 + 1);
      CHECK(p != NULL && p[15] == (unsigned char)k);
    }
    unsigned char* old = atomic_exchange(&slots[w][k], p);
    if (old != NULL) {
      CHECK(old[0] == (unsigned char)k && old[15] == (unsigned char)k);
      free(old);
    }
  }
  return NULL;
}

static void* child_thread(void* arg) {
  for (int i = 0; i < 2000; ++i) {
    void* p = malloc(16 + (size_t)(i % 500) * 8);
    CHECK(p != NULL);
    CHECK_OWNS(owns, p);
    free(p);
  }
  void* big = malloc(3 << 20);
  CHECK(big != NULL);
  memset(big, 5, 3 << 20);
  free(big);
  return arg;
}

static void run_child(char* inherited, char* inherited_big) {
  alarm(20); /* a deadlock in the child fails the test instead of hanging it */
  void* mine = malloc(1234);
  CHECK(mine != NULL);
  CHECK_OWNS(owns, mine);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  for (int i = 0; i < 1000; ++i) CHECK(inherited[i] == (char)(i * 3));
  CHECK(inherited_big[0] == 9 && inherited_big[(2 << 20) - 1] == 9);
  free(inherited);
  free(inherited_big);
  /* Blocks owned by parent threads that do not exist here. */
  for (int w = 0; w < kWorkers; ++w)
    for (int k = 0; k < kSlots; ++k) {
      unsigned char* p = atomic_load(&slots[w][k]);
      if (p != NULL) {
        CHECK(p[0] == (unsigned char)k);
        free(p);
      }
    }
  free(mine);
  exit(0); /* the full exit path, atexit and library destructors included */
}

int main(void) {
  owns = ffa_require_active();
  pthread_t t[kWorkers];
  for (int w = 0; w < kWorkers; ++w) CHECK(pthread_create(&t[w], NULL, worker, (void*)(intptr_t)w) == 0);
  char* inherited = malloc(1000);
  char* inherited_big = malloc(2 << 20);
  CHECK(inherited != NULL && inherited_big != NULL);
  for (int i = 0; i < 1000; ++i) inherited[i] = (char)(i * 3);
  memset(inherited_big, 9, 2 << 20);
  int failures = 0;
  for (int i = 0; i < kForks; ++i) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) run_child(inherited, inherited_big);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork_child: child %d: %s %d\n", i, WIFSIGNALED(status) ? "killed by signal" : "exit status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      ++failures;
    }
    void* p = malloc(100 + (size_t)i); /* the parent keeps working between forks */
    CHECK(p != NULL);
    free(p);
  }
  atomic_store(&stop, 1);
  for (int w = 0; w < kWorkers; ++w) CHECK(pthread_join(t[w], NULL) == 0);
  for (int i = 0; i < 1000; ++i) CHECK(inherited[i] == (char)(i * 3));
  free(inherited);
  free(inherited_big);
  for (int w = 0; w < kWorkers; ++w)
    for (int k = 0; k < kSlots; ++k) free(atomic_load(&slots[w][k]));
  CHECK(failures == 0);
  return 0;
}

/* fork() while other threads allocate AND hold glibc's stdio locks (glibc bug 19431's scenario:
 * an allocator that takes its own locks in a pthread_atfork prepare handler deadlocks against
 * fork's _IO_list_lock, as jemalloc and tcmalloc did). Three threads loop on malloc/free,
 * flockfile + fprintf + malloc inside the FILE lock, and fopen/fclose (which allocate and take
 * _IO_list_lock). The parent forks kForks times; every child must malloc, use stdio, start a
 * thread, free memory inherited from the parent (and from parent threads that do not exist in
 * the child) and exit 0. A child that hangs is killed by alarm() and counts as a failure. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#include "preload_check.h"

enum { kThreads = 3, kSlots = 32, kForks = 200, kChildAlarm = 10, kParentAlarm = 50 };

static ffa_owns_fn owns;
static atomic_int stop;
static FILE* devnull; /* shared by the threads: its lock is often held at fork time */
static _Atomic(unsigned char*) slots[kThreads][kSlots];

static size_t size_for(unsigned r) {
  if (r % 61 == 0) return 200000 + r % 100000; /* large */
  return 8 + r % 3000;
}

static void put_slot(int t, unsigned r, unsigned char* p, size_t n) {
  int k = (int)(r % kSlots);
  memset(p, k + 1, n < 64 ? n : 64);
  unsigned char* old = atomic_exchange(&slots[t][k], p);
  if (old != NULL) {
    CHECK(old[0] == (unsigned char)(k + 1));
    free(old);
  }
}

static void* stress(void* arg) {
  int t = (int)(intptr_t)arg;
  unsigned r = 12345u + 7919u * (unsigned)t;
  char name[64];
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    r = r * 1103515245u + 12345u;
    switch ((r >> 16) % 3) {
      case 0: { /* plain allocation churn */
        size_t n = size_for(r >> 3);
        unsigned char* p = malloc(n);
        CHECK(p != NULL);
        put_slot(t, r >> 7, p, n);
        break;
      }
      case 1: { /* allocate and free while holding a FILE lock */
        flockfile(devnull);
        void* p = malloc(size_for(r >> 5));
        CHECK(p != NULL);
        fprintf(devnull, "thread %d holds the lock with %p\n", t, p);
        free(p);
        flockfile(stdout); /* recursive FILE locks of two streams */
        fputs("x", devnull);
        funlockfile(stdout);
        funlockfile(devnull);
        break;
      }
      default: { /* fopen/fclose: malloc + _IO_list_lock, free under the list lock */
        FILE* f = fopen("/dev/null", "w");
        CHECK(f != NULL);
        if (r & 1) CHECK(setvbuf(f, NULL, _IOFBF, 1000 + r % 5000) == 0); /* a malloc'd buffer */
        snprintf(name, sizeof name, "%u", r);
        fputs(name, f);
        CHECK(fclose(f) == 0);
        break;
      }
    }
  }
  return NULL;
}

static void* child_thread(void* arg) {
  char** blocks = arg;
  for (int i = 0; i < 500; ++i) {
    char* p = malloc(24 + (size_t)i * 7);
    CHECK(p != NULL);
    CHECK_OWNS(owns, p);
    snprintf(p, 24, "c%d", i);
    free(p);
  }
  /* Free parent memory from a thread that is new in the child. */
  for (int i = 0; i < 8; ++i) free(blocks[i]);
  void* big = malloc(3 << 20);
  CHECK(big != NULL);
  memset(big, 1, 3 << 20);
  free(big);
  return NULL;
}

static void run_child(char* inherited, char** to_thread) {
  signal(SIGALRM, SIG_DFL); /* a hung child dies by SIGALRM (the parent's handler is for it) */
  alarm(kChildAlarm);
  /* stdio: printf to /dev/null on the child's stdout, the shared FILE, and a new FILE. */
  CHECK(freopen("/dev/null", "w", stdout) != NULL);
  for (int i = 0; i < 100; ++i) printf("child line %d %s\n", i, "with some text to format");
  CHECK(fflush(stdout) == 0);
  fprintf(devnull, "child writes to the shared stream\n");
  FILE* f = fopen("/dev/null", "w");
  CHECK(f != NULL);
  CHECK(fprintf(f, "%0500d\n", 1) > 0);
  CHECK(fclose(f) == 0);

  void* mine = malloc(777);
  CHECK(mine != NULL);
  CHECK_OWNS(owns, mine);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, child_thread, to_thread) == 0);
  CHECK(pthread_join(th, NULL) == 0);

  for (int i = 0; i < 4096; ++i) CHECK(inherited[i] == (char)(i * 7));
  free(inherited);
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kSlots; ++k) {
      unsigned char* p = atomic_load(&slots[t][k]);
      if (p != NULL) {
        CHECK(p[0] == (unsigned char)(k + 1));
        free(p);
      }
    }
  free(mine);
  exit(0); /* the whole exit path: atexit handlers, stdio flush, library destructors */
}

static void parent_hung(int sig) {
  (void)sig;
  static const char msg[] = "fork_stdio: parent hung (deadlock in fork or in a stdio/malloc lock)\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

int main(void) {
  owns = ffa_require_active();
  signal(SIGALRM, parent_hung);
  alarm(kParentAlarm);
  devnull = fopen("/dev/null", "w");
  CHECK(devnull != NULL);
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_create(&t[i], NULL, stress, (void*)(intptr_t)i) == 0);

  int failures = 0;
  for (int i = 0; i < kForks; ++i) {
    char* inherited = malloc(4096);
    char* to_thread[8];
    CHECK(inherited != NULL);
    for (int j = 0; j < 4096; ++j) inherited[j] = (char)(j * 7);
    for (int j = 0; j < 8; ++j) {
      to_thread[j] = malloc(j < 4 ? 100 : 100000);
      CHECK(to_thread[j] != NULL);
    }
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) run_child(inherited, to_thread);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork_stdio: child %d %s %d%s\n", i,
              WIFSIGNALED(status) ? "killed by signal" : "exited with status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
              WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung: deadlock)" : "");
      ++failures;
    }
    for (int j = 0; j < 4096; ++j) CHECK(inherited[j] == (char)(j * 7)); /* parent copy intact */
    free(inherited);
    for (int j = 0; j < 8; ++j) free(to_thread[j]);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  for (int i = 0; i < kThreads; ++i)
    for (int k = 0; k < kSlots; ++k) free(atomic_load(&slots[i][k]));
  CHECK(fclose(devnull) == 0);
  if (failures != 0) {
    fprintf(stderr, "fork_stdio: %d of %d children failed\n", failures, kForks);
    return 1;
  }
  printf("fork_stdio: %d children ok\n", kForks);
  return 0;
}

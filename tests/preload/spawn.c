/* posix_spawn, system() and popen() from a threaded program whose other threads allocate and
 * free all the time. Every child is this very program re-executed (via /proc/self/exe) or
 * /bin/sh, inherits LD_PRELOAD, so it runs on ffalloc too: it must prove that, allocate, and
 * print a checksum the parent verifies. Also checks that the parent's heap is unharmed by
 * posix_spawn's vfork-style child (it shares the parent's memory until exec). A hang is caught
 * by alarm(). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#include "preload_check.h"

extern char** environ;

enum { kThreads = 3, kRounds = 25, kAlarm = 50 };

static atomic_int stop;

static void* stress(void* arg) {
  unsigned r = 99u + (unsigned)(intptr_t)arg;
  void* keep[16] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    r = r * 1103515245u + 12345u;
    int k = (int)((r >> 8) % 16);
    free(keep[k]);
    keep[k] = malloc((r >> 12) % 7 == 0 ? 100000 + (r >> 4) % 50000 : 16 + (r >> 4) % 1000);
    CHECK(keep[k] != NULL);
    memset(keep[k], 3, 16);
  }
  for (int k = 0; k < 16; ++k) free(keep[k]);
  return NULL;
}

/* The child side: allocate, compute, print "sum=<n> ffalloc=<0|1>". */
static int child_main(int n) {
  const char* g = getenv("FFA_TEST_EXPECT_GLIBC");
  int expect_glibc = g != NULL && strcmp(g, "1") == 0;
  ffa_owns_fn owns = (ffa_owns_fn)dlsym(RTLD_DEFAULT, "ffa_owns");
  unsigned long* v[64];
  unsigned long sum = 0;
  for (int i = 0; i < 64; ++i) {
    v[i] = malloc(sizeof(unsigned long) * (size_t)(n + i));
    CHECK(v[i] != NULL);
    for (int j = 0; j < n + i; ++j) v[i][j] = (unsigned long)(i + j);
  }
  int active = owns != NULL && owns(v[0]) == 1;
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < n + i; ++j) sum += v[i][j];
    free(v[i]);
  }
  printf("sum=%lu ffalloc=%d\n", sum, active);
  return active || expect_glibc ? 0 : 2;
}

static unsigned long expected_sum(int n) {
  unsigned long sum = 0;
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < n + i; ++j) sum += (unsigned long)(i + j);
  return sum;
}

static void check_child_output(const char* out, int n, const char* via) {
  unsigned long sum = 0;
  int active = -1;
  if (sscanf(out, "sum=%lu ffalloc=%d", &sum, &active) != 2 || sum != expected_sum(n)) {
    fprintf(stderr, "spawn: %s: bad child output %s", via, out);
    exit(1);
  }
  const char* g = getenv("FFA_TEST_EXPECT_GLIBC");
  if (!(g != NULL && strcmp(g, "1") == 0) && active != 1) {
    fprintf(stderr, "spawn: %s: the child did not run on ffalloc\n", via);
    exit(1);
  }
}

static char self[4096];

static void via_posix_spawn(int n) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  CHECK(posix_spawn_file_actions_init(&fa) == 0);
  CHECK(posix_spawn_file_actions_adddup2(&fa, fds[1], 1) == 0);
  CHECK(posix_spawn_file_actions_addclose(&fa, fds[0]) == 0);
  char arg[32];
  snprintf(arg, sizeof arg, "%d", n);
  char* argv[] = {self, "--child", arg, NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
  CHECK(rc == 0);
  CHECK(posix_spawn_file_actions_destroy(&fa) == 0);
  close(fds[1]);
  char buf[256];
  size_t got = 0;
  ssize_t r;
  while ((r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  buf[got] = 0;
  close(fds[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  check_child_output(buf, n, "posix_spawn");

  /* posix_spawnp through the shell, with an exit status to check. */
  char* sh_argv[] = {"sh", "-c", "exit 7", NULL};
  CHECK(posix_spawnp(&pid, "sh", NULL, NULL, sh_argv, environ) == 0);
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

static void via_system(int n) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "'%s' --child %d > /dev/null", self, n);
  int st = system(cmd);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  st = system("exit 5");
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 5);
}

static void via_popen(int n) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "'%s' --child %d", self, n);
  FILE* f = popen(cmd, "r");
  CHECK(f != NULL);
  char line[256] = {0};
  CHECK(fgets(line, sizeof line, f) != NULL);
  int st = pclose(f);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  check_child_output(line, n, "popen");

  /* A shell pipeline whose output is long enough to fill several stdio buffers. */
  f = popen("i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done", "r");
  CHECK(f != NULL);
  int lines = 0;
  char want[32];
  while (fgets(line, sizeof line, f) != NULL) {
    snprintf(want, sizeof want, "line%d\n", lines);
    CHECK(strcmp(line, want) == 0);
    ++lines;
  }
  CHECK(pclose(f) == 0);
  CHECK(lines == 3000);

  /* popen for writing: the child reads what we write. */
  f = popen("wc -c > /dev/null", "w");
  CHECK(f != NULL);
  for (int i = 0; i < 1000; ++i) CHECK(fprintf(f, "%d\n", i) > 0);
  CHECK(pclose(f) == 0);
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) return child_main(atoi(argv[2]));
  ffa_require_active();
  alarm(kAlarm); /* a hang anywhere (parent or a child we wait for) fails the test */
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(len > 0);
  self[len] = 0;

  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_create(&t[i], NULL, stress, (void*)(intptr_t)i) == 0);
  char* canary = malloc(10000);
  CHECK(canary != NULL);
  memset(canary, 0x6b, 10000);
  for (int round = 0; round < kRounds; ++round) {
    int n = 100 + round * 37;
    via_posix_spawn(n);
    via_system(n);
    via_popen(n);
  }
  for (int i = 0; i < 10000; ++i) CHECK(canary[i] == 0x6b);
  free(canary);
  atomic_store(&stop, 1);
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  printf("spawn: %d rounds ok\n", kRounds);
  return 0;
}

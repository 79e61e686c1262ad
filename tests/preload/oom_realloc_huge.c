/* Out of memory while realloc grows a huge block. Growing a mapped region may move it (mremap)
 * to addresses whose bookkeeping (ffalloc's page map) needs memory of its own; if that memory
 * cannot be had, realloc must fail like any other out-of-memory realloc: NULL, errno ENOMEM,
 * the old block intact and still usable. Never abort, never crash. Two ways to run out:
 *  1. RLIMIT_AS: the limit leaves 1 MiB after the grown block (no room for anything else);
 *  2. the fault switch: the 1st, 2nd or 3rd mapping call of a growing realloc fails.
 * glibc passes both (it just mremaps). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "preload_check.h"

static long vm_bytes(void) {
  long size = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  CHECK(f != NULL);
  CHECK(fscanf(f, "%ld", &size) == 1);
  fclose(f);
  return size * sysconf(_SC_PAGESIZE);
}

static void fill(char* p, size_t n, char c) {
  memset(p, c, 4096);
  p[n - 1] = c;
}
static int intact(const char* p, size_t n, char c) {
  for (int i = 0; i < 4096; ++i)
    if (p[i] != c) return 0;
  return p[n - 1] == c;
}

/* realloc(*p, to) must succeed with the contents kept or fail with NULL + ENOMEM and *p intact.
 * Updates *p and *n to the block to keep using. */
static void grow(char** p, size_t* n, size_t to, char c, const char* how) {
  errno = 0;
  char* q = realloc(*p, to);
  if (q == NULL) {
    if (errno != ENOMEM) {
      fprintf(stderr, "oom_realloc_huge: %s: realloc to %zu MiB: NULL with errno %d\n", how, to >> 20, errno);
      _exit(1);
    }
    CHECK(intact(*p, *n, c));
    (*p)[*n - 1] = c; /* still writable */
    return;
  }
  CHECK(intact(q, *n, c));
  q[to - 1] = c;
  *p = q;
  *n = to;
}

int main(void) {
  ffa_require_active();
  const size_t n = (size_t)64 << 20;

  /* 1. RLIMIT_AS: headroom 512 MiB .. 4 GiB, the block grows to take all but 1 MiB of it. */
  struct rlimit original;
  CHECK(getrlimit(RLIMIT_AS, &original) == 0);
  for (size_t headroom_mib = 512; headroom_mib <= 4096; headroom_mib *= 2) {
    size_t cur = n;
    char* p = malloc(cur);
    CHECK(p != NULL);
    fill(p, cur, 0x5a);
    struct rlimit r = original;
    size_t headroom = headroom_mib << 20;
    r.rlim_cur = (rlim_t)vm_bytes() + headroom;
    CHECK(setrlimit(RLIMIT_AS, &r) == 0);
    grow(&p, &cur, n + headroom - ((size_t)1 << 20), 0x5a, "RLIMIT_AS");
    CHECK(setrlimit(RLIMIT_AS, &original) == 0);
    free(p);
  }

  /* 2. The fault switch (ffalloc only): 64 MiB grown to 1, 2, 4, 8 GiB (address space only). */
  void (*fail_nth)(uint64_t) = (void (*)(uint64_t))dlsym(RTLD_DEFAULT, "ffa_fail_nth_map_for_test");
  if (fail_nth != NULL) {
    for (unsigned nth = 1; nth <= 3; ++nth) {
      size_t cur = n;
      char* p = malloc(cur);
      CHECK(p != NULL);
      fill(p, cur, 0x3c);
      for (size_t to = (size_t)1 << 30; to <= ((size_t)8 << 30); to *= 2) {
        char how[32];
        snprintf(how, sizeof how, "mapping call #%u fails", nth);
        fail_nth(nth);
        grow(&p, &cur, to, 0x3c, how);
        fail_nth(0);
      }
      free(p);
    }
  }
  printf("oom_realloc_huge: ok\n");
  return 0;
}

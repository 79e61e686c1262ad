/* Allocation before main and after main: programs malloc in constructors (before main) and in
 * atexit handlers and destructors (after main returns), and free there what was allocated in
 * the other phase. The last destructor prints a line that the checker requires. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "preload_check.h"

static ffa_owns_fn owns;
static char* g_small;    /* malloc, pattern */
static uint32_t* g_zero; /* calloc */
static char* g_grown;    /* realloc'd to 1 MiB */
static void* g_aligned;  /* posix_memalign 4096 */
static char* g_dup;      /* strdup (libc-internal allocation) */

static void fill(char* p, size_t n, int seed) {
  for (size_t i = 0; i < n; ++i) p[i] = (char)(i * 7 + (size_t)seed);
}
static int check(const char* p, size_t n, int seed) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != (char)(i * 7 + (size_t)seed)) return 0;
  return 1;
}

/* Allocates, uses and frees a spread of sizes, checking ownership. */
static void churn(void) {
  static const size_t sizes[] = {1, 24, 200, 4000, 70000, 1 << 20, 9 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
    char* p = malloc(sizes[i]);
    CHECK(p != NULL);
    CHECK_OWNS(owns, p);
    fill(p, sizes[i], 3);
    CHECK(check(p, sizes[i], 3));
    free(p);
  }
}

__attribute__((constructor(101))) static void before_main(void) {
  owns = ffa_require_active();
  g_small = malloc(100);
  CHECK(g_small != NULL);
  CHECK_OWNS(owns, g_small);
  fill(g_small, 100, 1);
  g_zero = calloc(1000, sizeof(uint32_t));
  CHECK(g_zero != NULL);
  CHECK_OWNS(owns, g_zero);
  for (int i = 0; i < 1000; ++i) CHECK(g_zero[i] == 0);
  g_grown = malloc(16);
  CHECK(g_grown != NULL);
  fill(g_grown, 16, 2);
  g_grown = realloc(g_grown, 1 << 20);
  CHECK(g_grown != NULL);
  CHECK_OWNS(owns, g_grown);
  CHECK(check(g_grown, 16, 2));
  fill(g_grown, 1 << 20, 2);
  CHECK(posix_memalign(&g_aligned, 4096, 5000) == 0);
  CHECK(((uintptr_t)g_aligned & 4095) == 0);
  CHECK_OWNS(owns, g_aligned);
  g_dup = strdup("allocated before main");
  CHECK(g_dup != NULL);
  CHECK_OWNS(owns, g_dup);
  churn();
}

static void at_exit_handler(void) {
  CHECK(check(g_small, 100, 1));
  free(g_small);
  g_small = NULL;
  CHECK(check(g_grown, 1 << 20, 2));
  g_grown = realloc(g_grown, 100);
  CHECK(g_grown != NULL && check(g_grown, 100, 2));
  churn();
}

__attribute__((destructor(101))) static void after_main(void) {
  CHECK(g_small == NULL); /* the atexit handler ran first */
  for (int i = 0; i < 1000; ++i) CHECK(g_zero[i] == 0x01010101u);
  free(g_zero);
  CHECK(check(g_grown, 100, 2));
  free(g_grown);
  free(g_aligned);
  CHECK(strcmp(g_dup, "allocated before main") == 0);
  free(g_dup);
  churn();
  char* late = strdup("first_operation: destructor ok\n");
  CHECK(late != NULL);
  CHECK_OWNS(owns, late);
  CHECK(write(1, late, strlen(late)) == (ssize_t)strlen(late));
  free(late);
}

int main(void) {
  CHECK(g_small != NULL && check(g_small, 100, 1));
  memset(g_zero, 1, 1000 * sizeof(uint32_t));
  CHECK(atexit(at_exit_handler) == 0);
  churn();
  return 0;
}

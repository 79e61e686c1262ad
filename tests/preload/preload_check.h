/* Shared by the tests/preload programs: proves that malloc is ffalloc's before a test relies on
 * it (so no test passes on glibc by accident), and a CHECK macro that fails loudly from any
 * context (constructors, destructors, threads, forked children). */
#ifndef FFA_PRELOAD_CHECK_H_
#define FFA_PRELOAD_CHECK_H_

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fflush(stdout);                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
      fflush(stderr);                                                                 \
      _exit(1);                                                                       \
    }                                                                                 \
  } while (0)

typedef int (*ffa_owns_fn)(const void*);

/* Hides a pointer from the optimizer (no folding of misuse, no elision of malloc/free). */
static inline void* ffa_test_opaque(void* p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

/* Returns ffa_owns; exits 1 unless the process's malloc is ffalloc. With
 * FFA_TEST_EXPECT_GLIBC=1 (to validate a program's own expectations on glibc) returns NULL. */
static inline ffa_owns_fn ffa_require_active(void) {
  const char* g = getenv("FFA_TEST_EXPECT_GLIBC");
  if (g != NULL && strcmp(g, "1") == 0) return NULL;
  ffa_owns_fn owns = (ffa_owns_fn)dlsym(RTLD_DEFAULT, "ffa_owns");
  if (owns == NULL) {
    fprintf(stderr, "FATAL: ffa_owns not found: libffalloc.so is not preloaded\n");
    _exit(2);
  }
  void* p = ffa_test_opaque(malloc(10));
  if (owns(p) != 1) {
    fprintf(stderr, "FATAL: malloc() is not served by ffalloc\n");
    _exit(2);
  }
  free(p);
  return owns;
}

/* CHECK that ffalloc owns p (skipped when validating against glibc). */
#define CHECK_OWNS(owns, p) CHECK((owns) == NULL || (owns)(p) == 1)

#endif /* FFA_PRELOAD_CHECK_H_ */

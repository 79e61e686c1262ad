/* Misuse: a large (1 MiB) block freed twice with 1000 other malloc/free in between. Expect
 * "ffalloc: double free of 0x..." (or "invalid pointer" once its memory went elsewhere). */
#include "misuse_util.h"

int main(void) {
  ffa_owns_fn owns = ffa_require_active();
  char* p = malloc(1 << 20);
  CHECK(p != NULL);
  memset(p, 1, 1 << 20);
  announce(p);
  free(p);
  churn_other_sizes();
  CHECK_NOT_LIVE(owns, p);
  free(ffa_test_opaque(p));
  void* a = malloc(1 << 20);
  free(a);
  NOT_DETECTED("misuse_double_free_large_delayed");
}

/* Misuse: a huge (64 MiB, a mapped region) block freed twice. Expect "double free" (region still
 * cached) or "invalid pointer" (already unmapped: indistinguishable from a foreign pointer). */
#include "misuse_util.h"

int main(void) {
  ffa_owns_fn owns = ffa_require_active();
  size_t n = (size_t)64 << 20;
  char* p = malloc(n);
  CHECK(p != NULL);
  memset(p, 1, 4096);
  p[n - 1] = 1;
  announce(p);
  free(p);
  churn_other_sizes();
  CHECK_NOT_LIVE(owns, p);
  free(ffa_test_opaque(p));
  NOT_DETECTED("misuse_double_free_huge");
}

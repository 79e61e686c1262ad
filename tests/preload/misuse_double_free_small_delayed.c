/* Misuse: a small block freed twice with 1000 other malloc/free in between (the first free is no
 * longer the most recent one, and same-class neighbours were freed after it). Expect
 * "ffalloc: double free of 0x...". */
#include "misuse_util.h"

int main(void) {
  ffa_owns_fn owns = ffa_require_active();
  void* p = malloc(48);
  void* q[8];
  CHECK(p != NULL);
  for (int i = 0; i < 8; ++i) CHECK((q[i] = malloc(48)) != NULL);
  announce(p);
  free(p);
  for (int i = 0; i < 8; ++i) free(q[i]);
  churn_other_sizes();
  CHECK_NOT_LIVE(owns, p);
  free(ffa_test_opaque(p));
  void* a = malloc(48); /* detection on the next use of the class would do, but not never */
  free(a);
  NOT_DETECTED("misuse_double_free_small_delayed");
}

/* Misuse: realloc of a small block that was already freed (with other allocations in between).
 * Expect "ffalloc: realloc of freed pointer 0x...". */
#include "misuse_util.h"

int main(void) {
  ffa_owns_fn owns = ffa_require_active();
  char* p = malloc(48);
  CHECK(p != NULL);
  memset(p, 7, 48);
  announce(p);
  free(p);
  churn_other_sizes();
  CHECK_NOT_LIVE(owns, p);
  void* q = realloc(ffa_test_opaque(p), 100);
  free(q);
  NOT_DETECTED("misuse_realloc_freed");
}

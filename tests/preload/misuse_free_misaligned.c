/* Misuse: free of p + 1 of a live small block, from the owning thread (the fast path must not
 * take it for an object). Expect "ffalloc: free of invalid pointer (misaligned) 0x...". */
#include "misuse_util.h"

int main(void) {
  ffa_require_active();
  char* p = malloc(64);
  CHECK(p != NULL);
  memset(p, 7, 64);
  announce(p + 1);
  free(ffa_test_opaque(p + 1));
  NOT_DETECTED("misuse_free_misaligned");
}

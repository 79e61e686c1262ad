/* Misuse: free of p + 4096 inside a live 1 MiB block. Expect "ffalloc: free of invalid pointer
 * (interior) 0x...". */
#include "misuse_util.h"

int main(void) {
  ffa_require_active();
  char* p = malloc(1 << 20);
  CHECK(p != NULL);
  memset(p, 7, 1 << 20);
  announce(p + 4096);
  free(ffa_test_opaque(p + 4096));
  NOT_DETECTED("misuse_free_interior_large");
}

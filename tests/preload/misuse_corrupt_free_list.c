/* Misuse: a write after free over a freed block's free-list link and marker
 * (memset(p, 0x41, 16)). malloc of the same size must notice before it follows the link (which
 * would hand out 0x4141414141414141): expect "ffalloc: corrupted free list ... 0x..." naming p. */
#include "misuse_util.h"

int main(void) {
  ffa_require_active();
  char* p = malloc(64);
  CHECK(p != NULL);
  announce(p);
  free(p);
  memset(ffa_test_opaque(p), 0x41, 16);
  /* The block is reached once the blocks ahead of it are used up. */
  for (int i = 0; i < 100000; ++i) {
    char* q = malloc(64);
    CHECK(q != NULL);
    CHECK(q != (char*)0x4141414141414141ull);
    q[0] = 1;
  }
  NOT_DETECTED("misuse_corrupt_free_list");
}

/* Misuse: another thread frees p + 16 of a live 64-byte block (an interior pointer, 16-byte
 * aligned). Expect "ffalloc: free of invalid pointer (interior) 0x...". */
#include <pthread.h>

#include "misuse_util.h"

static void* bad_free(void* p) {
  void* mine = malloc(64);
  CHECK(mine != NULL);
  free(ffa_test_opaque(p));
  free(mine);
  return NULL;
}

int main(void) {
  ffa_require_active();
  char* p = malloc(64);
  CHECK(p != NULL);
  memset(p, 7, 64);
  announce(p + 16);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, bad_free, p + 16) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  NOT_DETECTED("misuse_free_interior_small_remote");
}

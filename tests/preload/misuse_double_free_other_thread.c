/* Misuse: a small block freed by its owner thread, then freed again by another thread (the
 * remote-free path). Expect "ffalloc: double free of 0x...". */
#include <pthread.h>

#include "misuse_util.h"

static void* second_free(void* p) {
  void* mine = malloc(32); /* this thread has a heap of its own */
  CHECK(mine != NULL);
  free(ffa_test_opaque(p));
  free(mine);
  return NULL;
}

int main(void) {
  ffa_owns_fn owns = ffa_require_active();
  void* p = malloc(40);
  CHECK(p != NULL);
  announce(p);
  free(p);
  churn_other_sizes();
  CHECK_NOT_LIVE(owns, p);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, second_free, p) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  NOT_DETECTED("misuse_double_free_other_thread");
}

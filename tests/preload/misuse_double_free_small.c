/* Misuse: freeing a small block twice. ffalloc must stop the program (SIGABRT) with one
 * "ffalloc: " line on stderr naming a double free and the block's address, rather than corrupt
 * its free lists. Run through check_misuse.py. */
#include "preload_check.h"

int main(void) {
  ffa_require_active();
  void* p = malloc(48);
  CHECK(p != NULL);
  printf("ptr=%p\n", p);
  fflush(stdout);
  free(p);
  free(ffa_test_opaque(p));
  /* Allow detection on the next use of the size class, but not never. */
  void* a = malloc(48);
  void* b = malloc(48);
  free(a);
  free(b);
  fprintf(stderr, "misuse_double_free_small: not detected\n");
  return 3;
}

/* Misuse: freeing a large (1 MiB) block twice. ffalloc must stop the program (SIGABRT) with one
 * "ffalloc: " line on stderr naming the problem and the address, not crash on unmapped memory
 * or hand the region out twice. Run through check_misuse.py. */
#include "preload_check.h"

int main(void) {
  ffa_require_active();
  void* p = malloc(1 << 20);
  CHECK(p != NULL);
  memset(p, 1, 1 << 20);
  printf("ptr=%p\n", p);
  fflush(stdout);
  free(p);
  free(ffa_test_opaque(p));
  void* a = malloc(1 << 20);
  void* b = malloc(1 << 20);
  free(a);
  free(b);
  fprintf(stderr, "misuse_double_free_large: not detected\n");
  return 3;
}

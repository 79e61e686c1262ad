/* Misuse: free() of a pointer into a static array. ffalloc must stop the program (SIGABRT)
 * with one "ffalloc: " line on stderr naming an invalid pointer and the address, instead of
 * adopting the data segment as a free block. Run through check_misuse.py. */
#include "preload_check.h"

static char table[4096];

int main(void) {
  ffa_require_active();
  void* p = table + 64;
  printf("ptr=%p\n", p);
  fflush(stdout);
  free(ffa_test_opaque(p));
  fprintf(stderr, "misuse_free_static: not detected (%d)\n", table[0]);
  return 3;
}

/* Misuse: free() of the address of a stack variable. ffalloc must stop the program (SIGABRT)
 * with one "ffalloc: " line on stderr naming an invalid pointer and the address, instead of
 * adopting stack memory as a free block. Run through check_misuse.py. */
#include "preload_check.h"

int main(void) {
  ffa_require_active();
  volatile long local[8] = {0};
  void* p = (void*)&local[2];
  printf("ptr=%p\n", p);
  fflush(stdout);
  free(ffa_test_opaque(p));
  fprintf(stderr, "misuse_free_stack: not detected (local[0]=%ld)\n", local[0]);
  return 3;
}

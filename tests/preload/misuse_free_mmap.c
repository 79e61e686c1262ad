/* Misuse: free of memory the program mapped itself, next to ffalloc's own mappings (so the page
 * map may well cover the address). Expect "ffalloc: free of invalid pointer ... 0x...". */
#include <sys/mman.h>

#include "misuse_util.h"

int main(void) {
  ffa_require_active();
  void* big = malloc(8 << 20); /* ffalloc maps memory first: the kernel puts ours next to it */
  CHECK(big != NULL);
  void* m = mmap(NULL, 16 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED);
  memset(m, 1, 16 << 10);
  announce(m);
  free(ffa_test_opaque(m));
  free(big);
  NOT_DETECTED("misuse_free_mmap");
}

/* Links nothing of ffalloc: prints whether the malloc it gets is ffalloc's (ffa_owns is found
 * only when libffalloc.so is loaded), and allocates enough for the statistics to count. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  int (*owns)(const void*) = (int (*)(const void*))dlsym(RTLD_DEFAULT, "ffa_owns");
  void* blocks[1000];
  for (int i = 0; i < 1000; ++i) {
    blocks[i] = malloc(16 + i % 200);
    if (blocks[i] == NULL) return 1;
    memset(blocks[i], i, 16);
  }
  void* big = malloc(1 << 20);
  if (big == NULL) return 1;
  memset(big, 1, 1 << 20);
  int active = owns != NULL && owns(blocks[0]) == 1 && owns(big) == 1;
  for (int i = 0; i < 1000; ++i) free(blocks[i]);
  free(big);
  puts(active ? "probe: ffalloc active" : "probe: ffalloc inactive");
  return 0;
}

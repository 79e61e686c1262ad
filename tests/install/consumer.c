/* A project using ffalloc as a meson subproject: dependency('ffalloc') gives the prefixed API. */
#include <stdio.h>
#include <stdlib.h>

#include <ffalloc/ffalloc.h>

int main(void) {
  void* p = ffa_calloc(10, 1000);
  if (p == NULL || ffa_owns(p) != 1) {
    fputs("consumer: ffa_calloc's block is not ffalloc's\n", stderr);
    return 1;
  }
  ffa_free(p);
  puts("consumer: ok");
  return 0;
}

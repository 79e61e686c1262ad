/* Built against the installed ffalloc.pc: the prefixed API is ffalloc's, plain malloc is not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ffalloc/ffalloc.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                \
    }                                                                          \
  } while (0)

int main(void) {
  char* p = ffa_malloc(100);
  CHECK(p != NULL && ffa_owns(p) == 1);
  strcpy(p, "prefixed");
  p = ffa_realloc(p, 1 << 20);
  CHECK(p != NULL && ffa_owns(p) == 1 && strcmp(p, "prefixed") == 0);
  void* q = malloc(100); /* the system allocator's: the prefixed library interposes nothing */
  CHECK(q != NULL && ffa_owns(q) == 0);
  free(q);
  ffa_free(p);
  puts("prefixed: ok");
  return 0;
}

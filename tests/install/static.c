/* Built against the installed ffalloc-static.pc (libffalloc.a, no LD_PRELOAD): this program's
 * malloc, and libc's allocations for it, are ffalloc's, and libffalloc.so is not loaded. */
#define _GNU_SOURCE
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
  CHECK(getenv("LD_PRELOAD") == NULL);
  void* m = malloc(100);
  CHECK(m != NULL && ffa_owns(m) == 1);
  void* c = calloc(1000, 100);
  CHECK(c != NULL && ffa_owns(c) == 1);
  char* d = strdup("allocated by libc");
  CHECK(d != NULL && ffa_owns(d) == 1);

  FILE* maps = fopen("/proc/self/maps", "r");
  CHECK(maps != NULL);
  char line[4096];
  while (fgets(line, sizeof line, maps)) CHECK(strstr(line, "libffalloc") == NULL);
  fclose(maps);

  free(d);
  free(c);
  free(m);
  puts("static: ok");
  return 0;
}

/* Library for dlopen.c: allocates in its constructor and hands memory across the library
 * boundary in both directions, as plugins do. Its destructor frees and allocates too. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

static char* ctor_text;
static unsigned char* ctor_big;

__attribute__((constructor)) static void lib_init(void) {
  ctor_text = strdup("allocated in the library constructor");
  ctor_big = malloc(300000);
  if (ctor_big != NULL) memset(ctor_big, 0x3C, 300000);
}

__attribute__((destructor)) static void lib_fini(void) {
  for (size_t i = 0; ctor_big != NULL && i < 300000; i += 4096)
    if (ctor_big[i] != 0x3C) abort();
  free(ctor_big);
  free(ctor_text); /* NULL unless the program did not take it */
  free(malloc(64));
}

/* Ownership of the constructor's string passes to the caller. */
char* lib_take_ctor_text(void) {
  char* p = ctor_text;
  ctor_text = NULL;
  return p;
}

void* lib_alloc(size_t n, int fill) {
  void* p = malloc(n);
  if (p != NULL) memset(p, fill, n);
  return p;
}

void* lib_realloc(void* p, size_t n) { return realloc(p, n); }

/* Checks that p holds n bytes of `fill`, then frees it; returns 1 when it did. */
int lib_check_and_free(void* p, size_t n, int fill) {
  const unsigned char* b = p;
  for (size_t i = 0; i < n; ++i)
    if (b[i] != (unsigned char)fill) return 0;
  free(p);
  return 1;
}

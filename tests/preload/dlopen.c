/* dlopen/dlclose of a library that allocates in its constructor: memory allocated on either
 * side of the boundary can be freed on the other, and memory from the library outlives
 * dlclose. argv[1] is the library path. */
#define _GNU_SOURCE
#include <stdint.h>

#include "preload_check.h"

typedef char* (*take_fn)(void);
typedef void* (*alloc_fn)(size_t, int);
typedef void* (*realloc_fn)(void*, size_t);
typedef int (*check_free_fn)(void*, size_t, int);

static int all_bytes(const void* p, size_t n, int fill) {
  const unsigned char* b = p;
  for (size_t i = 0; i < n; ++i)
    if (b[i] != (unsigned char)fill) return 0;
  return 1;
}

int main(int argc, char** argv) {
  ffa_owns_fn owns = ffa_require_active();
  CHECK(argc == 2);
  char* kept[20];
  for (int round = 0; round < 20; ++round) {
    void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) fprintf(stderr, "dlopen: %s\n", dlerror());
    CHECK(h != NULL);
    take_fn take = (take_fn)dlsym(h, "lib_take_ctor_text");
    alloc_fn lib_alloc = (alloc_fn)dlsym(h, "lib_alloc");
    realloc_fn lib_realloc = (realloc_fn)dlsym(h, "lib_realloc");
    check_free_fn lib_check_and_free = (check_free_fn)dlsym(h, "lib_check_and_free");
    CHECK(take && lib_alloc && lib_realloc && lib_check_and_free);

    kept[round] = take();
    CHECK(kept[round] != NULL);
    CHECK_OWNS(owns, kept[round]);
    CHECK(strcmp(kept[round], "allocated in the library constructor") == 0);

    /* library -> program */
    size_t sizes[] = {10, 5000, 1 << 20};
    for (int i = 0; i < 3; ++i) {
      void* p = lib_alloc(sizes[i], 0xAB);
      CHECK(p != NULL);
      CHECK_OWNS(owns, p);
      CHECK(all_bytes(p, sizes[i], 0xAB));
      free(p);
    }
    /* program -> library */
    for (int i = 0; i < 3; ++i) {
      void* p = malloc(sizes[i]);
      CHECK(p != NULL);
      memset(p, 0xCD, sizes[i]);
      CHECK(lib_check_and_free(p, sizes[i], 0xCD) == 1);
    }
    /* realloc in the library of a program block, freed by the program */
    char* q = malloc(100);
    CHECK(q != NULL);
    memset(q, 0x11, 100);
    q = lib_realloc(q, 200000);
    CHECK(q != NULL);
    CHECK_OWNS(owns, q);
    CHECK(all_bytes(q, 100, 0x11));
    free(q);
    CHECK(dlclose(h) == 0);
  }
  /* Memory allocated by the library's constructor outlives the library. */
  for (int round = 0; round < 20; ++round) {
    CHECK(strcmp(kept[round], "allocated in the library constructor") == 0);
    free(kept[round]);
  }
  return 0;
}

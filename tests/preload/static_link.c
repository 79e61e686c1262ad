/* Static override: a program linked with libffalloc.a (no LD_PRELOAD) gets ffalloc for its own
 * malloc family calls and for allocations libc makes on its behalf (strdup, getline,
 * open_memstream, asprintf), and can free the latter. Proved block by block with ffa_owns. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ffalloc/ffalloc.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define OWNED(p) CHECK((p) != NULL && ffa_owns(p) == 1)

static void* thread_main(void* arg) {
  void* p = malloc(777);
  OWNED(p);
  free(arg); /* block from the main thread */
  return p;
}

int main(void) {
  CHECK(getenv("LD_PRELOAD") == NULL || strstr(getenv("LD_PRELOAD"), "ffalloc") == NULL);

  void* m = malloc(100);
  OWNED(m);
  void* c = calloc(10, 1000);
  OWNED(c);
  char* r = malloc(8);
  OWNED(r);
  strcpy(r, "realloc");
  r = realloc(r, 5 << 20);
  OWNED(r);
  CHECK(strcmp(r, "realloc") == 0);
  void* a = NULL;
  CHECK(posix_memalign(&a, 4096, 10000) == 0);
  OWNED(a);
  CHECK(((uintptr_t)a & 4095) == 0);
  void* al = aligned_alloc(64, 640);
  OWNED(al);
  CHECK(malloc_usable_size(m) >= 100);

  /* Allocations made inside libc. */
  char* d = strdup("duplicated by libc");
  OWNED(d);
  char* s = NULL;
  CHECK(asprintf(&s, "%d-%s", 42, "asprintf") > 0);
  OWNED(s);
  char* buf = NULL;
  size_t len = 0;
  FILE* ms = open_memstream(&buf, &len);
  CHECK(ms != NULL);
  for (int i = 0; i < 5000; ++i) fprintf(ms, "line %d\n", i);
  CHECK(fclose(ms) == 0);
  OWNED(buf);
  CHECK(len > 30000 && strncmp(buf, "line 0\n", 7) == 0);
  char text[] = "first line\nsecond line\n";
  FILE* f = fmemopen(text, sizeof text - 1, "r");
  CHECK(f != NULL);
  char* line = NULL;
  size_t cap = 0;
  CHECK(getline(&line, &cap, f) == 11);
  OWNED(line);
  CHECK(strcmp(line, "first line\n") == 0);
  fclose(f);

  pthread_t t;
  void* from_thread = NULL;
  void* for_thread = malloc(333);
  OWNED(for_thread);
  CHECK(pthread_create(&t, NULL, thread_main, for_thread) == 0);
  CHECK(pthread_join(t, &from_thread) == 0);
  OWNED(from_thread);

  void* all[] = {m, c, r, a, al, d, s, buf, line, from_thread};
  for (size_t i = 0; i < sizeof all / sizeof *all; ++i) free(all[i]);
  puts("static_link: ok");
  return 0;
}

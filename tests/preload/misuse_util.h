/* Shared by the misuse programs: announce the pointer check_run.py must find in ffalloc's
 * message, and keep the allocator busy between a misuse's two halves. */
#ifndef FFA_MISUSE_UTIL_H_
#define FFA_MISUSE_UTIL_H_

#include "preload_check.h"

static inline void announce(const void* p) {
  printf("ptr=%p\n", p);
  fflush(stdout);
}

/* 1000 malloc/free of small blocks whose sizes (200..3000 bytes) share no size class with the
 * 16..128-byte blocks the misuse programs use, with up to 32 blocks live at a time. */
static inline void churn_other_sizes(void) {
  void* ring[32] = {0};
  for (int i = 0; i < 1000; ++i) {
    int k = i % 32;
    free(ring[k]);
    ring[k] = malloc(200 + (size_t)(i * 37) % 2800);
    CHECK(ring[k] != NULL);
    memset(ring[k], 0x2a, 200);
  }
  for (int k = 0; k < 32; ++k) free(ring[k]);
}

/* The misuse must be real: p is not (again) the start of a live block. */
#define CHECK_NOT_LIVE(owns, p) CHECK((owns) == NULL || (owns)(p) == 0)

#define NOT_DETECTED(name)                                 \
  do {                                                     \
    fprintf(stderr, "%s: misuse not detected\n", name);    \
    return 3;                                              \
  } while (0)

#endif /* FFA_MISUSE_UTIL_H_ */

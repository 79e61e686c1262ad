// The interposed C malloc family and glibc's aliases: each a one-line forward into ffa::libc.
// Every symbol ffalloc interposes in C is listed here and in exports.map.
#include <malloc.h>
#include <stdio.h>

#include "c_api.h"
#include "ffalloc/ffalloc.h"

using namespace ffa;

#define FFA_PUBLIC extern "C" FFA_EXPORT

FFA_PUBLIC void* malloc(size_t size) noexcept { return libc::malloc(size); }
FFA_PUBLIC void free(void* p) noexcept { libc::free(p); }
FFA_PUBLIC void cfree(void* p) noexcept { libc::free(p); }
FFA_PUBLIC void* calloc(size_t count, size_t size) noexcept { return libc::calloc(count, size); }
FFA_PUBLIC void* realloc(void* p, size_t size) noexcept { return libc::realloc(p, size); }
FFA_PUBLIC void* reallocarray(void* p, size_t count, size_t size) noexcept {
  return libc::reallocarray(p, count, size);
}
FFA_PUBLIC int posix_memalign(void** out, size_t align, size_t size) noexcept {
  return libc::posix_memalign(out, align, size);
}
FFA_PUBLIC void* aligned_alloc(size_t align, size_t size) noexcept {
  return libc::aligned_alloc(align, size);
}
FFA_PUBLIC void* memalign(size_t align, size_t size) noexcept { return libc::memalign(align, size); }
FFA_PUBLIC void* valloc(size_t size) noexcept { return libc::valloc(size); }
FFA_PUBLIC void* pvalloc(size_t size) noexcept { return libc::pvalloc(size); }
FFA_PUBLIC size_t malloc_usable_size(void* p) noexcept { return libc::malloc_usable_size(p); }
FFA_PUBLIC void free_sized(void* p, size_t) noexcept { libc::free(p); }
FFA_PUBLIC void free_aligned_sized(void* p, size_t, size_t) noexcept { libc::free(p); }

FFA_PUBLIC int malloc_trim(size_t pad) noexcept { return ffa_malloc_trim(pad); }
FFA_PUBLIC void malloc_stats(void) noexcept { ffa_malloc_stats(); }
FFA_PUBLIC int mallopt(int param, int value) noexcept { return ffa_mallopt(param, value); }
FFA_PUBLIC int malloc_info(int options, FILE* out) noexcept { return ffa_malloc_info(options, out); }
FFA_PUBLIC struct mallinfo2 mallinfo2(void) noexcept {
  ffa_stats s;
  ffa_stats_get(&s);
  struct mallinfo2 info = {};
  info.arena = s.bytes_reserved;
  info.hblkhd = s.region_bytes_cached;
  info.uordblks = s.arena_bytes_in_use;
  info.fordblks = s.bytes_reserved > s.arena_bytes_in_use ? s.bytes_reserved - s.arena_bytes_in_use : 0;
  info.keepcost = 0;
  return info;
}

// glibc's internal names: some programs and libraries call these directly.
FFA_PUBLIC void* __libc_malloc(size_t size) noexcept { return libc::malloc(size); }
FFA_PUBLIC void __libc_free(void* p) noexcept { libc::free(p); }
FFA_PUBLIC void* __libc_calloc(size_t count, size_t size) noexcept {
  return libc::calloc(count, size);
}
FFA_PUBLIC void* __libc_realloc(void* p, size_t size) noexcept { return libc::realloc(p, size); }
FFA_PUBLIC void* __libc_memalign(size_t align, size_t size) noexcept {
  return libc::memalign(align, size);
}
FFA_PUBLIC void* __libc_valloc(size_t size) noexcept { return libc::valloc(size); }
FFA_PUBLIC void* __libc_pvalloc(size_t size) noexcept { return libc::pvalloc(size); }
FFA_PUBLIC int __posix_memalign(void** out, size_t align, size_t size) noexcept {
  return libc::posix_memalign(out, align, size);
}

// Fatal error and message output: format on the stack, write(2), never allocate.
#include "base/base.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ffa {

size_t format_uint(char* buf, uint64_t v, bool hex) {
  char tmp[24];
  size_t n = 0;
  const unsigned base = hex ? 16 : 10;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  size_t out = 0;
  if (hex) {
    buf[out++] = '0';
    buf[out++] = 'x';
  }
  while (n > 0) buf[out++] = tmp[--n];
  return out;
}

static void write_all(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

void message(const char* msg) {
  char buf[256];
  size_t n = 0;
  const char prefix[] = "ffalloc: ";
  memcpy(buf, prefix, sizeof(prefix) - 1);
  n = sizeof(prefix) - 1;
  size_t len = strnlen(msg, sizeof(buf) - n - 2);
  memcpy(buf + n, msg, len);
  n += len;
  buf[n++] = '\n';
  write_all(buf, n);
}

void fatal(const char* what, const void* ptr) {
  char buf[256];
  size_t n = 0;
  const char prefix[] = "ffalloc: ";
  memcpy(buf, prefix, sizeof(prefix) - 1);
  n = sizeof(prefix) - 1;
  size_t len = strnlen(what, 160);
  memcpy(buf + n, what, len);
  n += len;
  if (ptr != nullptr) {
    buf[n++] = ' ';
    n += format_uint(buf + n, uintptr_t(ptr), true);
  }
  buf[n++] = '\n';
  write_all(buf, n);
  abort();
}

}  // namespace ffa

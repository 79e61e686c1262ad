// Every C++ operator new and delete, forwarded to ffa::libc. The only file of ffalloc compiled
// with exceptions: a failed new runs the std::new_handler loop and then throws std::bad_alloc.
#include <new>

#include "c_api.h"

using namespace ffa;

namespace {

// The standard's loop, entered after a failed attempt: call the new_handler, retry, until an
// attempt succeeds or the handler gives up (throws, or there is none).
FFA_NOINLINE void* new_slow(size_t size, size_t align, bool nothrow) {
  while (true) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
      try {
        handler();
      } catch (...) {
        return nullptr;
      }
    } else {
      handler();
    }
    void* p = align <= kMinAlign ? libc::malloc(size) : libc::aligned(align, size);
    if (p != nullptr) return p;
  }
}

FFA_INLINE void* new_impl(size_t size) {
  void* p = libc::malloc(size);
  return FFA_LIKELY(p != nullptr) ? p : new_slow(size, kMinAlign, false);
}

FFA_INLINE void* new_nothrow(size_t size) noexcept {
  void* p = libc::malloc(size);
  if (FFA_LIKELY(p != nullptr)) return p;
  try {
    return new_slow(size, kMinAlign, true);
  } catch (...) {
    return nullptr;
  }
}

FFA_INLINE void* new_aligned(size_t size, std::align_val_t align) {
  void* p = libc::aligned(size_t(align), size);
  return FFA_LIKELY(p != nullptr) ? p : new_slow(size, size_t(align), false);
}

FFA_INLINE void* new_aligned_nothrow(size_t size, std::align_val_t align) noexcept {
  void* p = libc::aligned(size_t(align), size);
  if (FFA_LIKELY(p != nullptr)) return p;
  try {
    return new_slow(size, size_t(align), true);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

#define FFA_NEW FFA_EXPORT

FFA_NEW void* operator new(size_t size) { return new_impl(size); }
FFA_NEW void* operator new[](size_t size) { return new_impl(size); }
FFA_NEW void* operator new(size_t size, const std::nothrow_t&) noexcept { return new_nothrow(size); }
FFA_NEW void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size);
}
FFA_NEW void* operator new(size_t size, std::align_val_t align) { return new_aligned(size, align); }
FFA_NEW void* operator new[](size_t size, std::align_val_t align) {
  return new_aligned(size, align);
}
FFA_NEW void* operator new(size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, align);
}
FFA_NEW void* operator new[](size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, align);
}

FFA_NEW void operator delete(void* p) noexcept { libc::free(p); }
FFA_NEW void operator delete[](void* p) noexcept { libc::free(p); }
FFA_NEW void operator delete(void* p, const std::nothrow_t&) noexcept { libc::free(p); }
FFA_NEW void operator delete[](void* p, const std::nothrow_t&) noexcept { libc::free(p); }
FFA_NEW void operator delete(void* p, size_t) noexcept { libc::free(p); }
FFA_NEW void operator delete[](void* p, size_t) noexcept { libc::free(p); }
FFA_NEW void operator delete(void* p, std::align_val_t) noexcept { libc::free(p); }
FFA_NEW void operator delete[](void* p, std::align_val_t) noexcept { libc::free(p); }
FFA_NEW void operator delete(void* p, size_t, std::align_val_t) noexcept { libc::free(p); }
FFA_NEW void operator delete[](void* p, size_t, std::align_val_t) noexcept { libc::free(p); }
FFA_NEW void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  libc::free(p);
}
FFA_NEW void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  libc::free(p);
}

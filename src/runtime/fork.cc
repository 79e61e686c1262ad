// fork: take every global lock before fork so the child inherits consistent structures, release
// them in the parent, reset them in the child. The locks are few and fixed; none is held across
// a call into libc that takes locks of its own, so no cycle with glibc's fork locking exists.
// Heaps of threads that do not exist in the child stay unadopted there: their memory is leaked in
// the child only, and frees of it from the child are still safe (lock-free remote frees).
#include <pthread.h>

#include "runtime/runtime.h"

namespace ffa {

namespace {

// Built at call time: fork handlers may run before this library's static initializers.
template <typename Fn>
void for_each_lock(Fn fn) {
  SpinLock* locks[] = {&heap_list_lock(), &arena().publish_lock(), &region_cache().lock()};
  for (SpinLock* lock : locks) fn(lock);
}

void prepare() {
  for_each_lock([](SpinLock* lock) { lock->lock(); });
}

void parent() {
  for_each_lock([](SpinLock* lock) { lock->unlock(); });
}

void child() {
  for_each_lock([](SpinLock* lock) { lock->reset_after_fork(); });
}

}  // namespace

void fork_handlers_install() {
  if (pthread_atfork(prepare, parent, child) != 0) fatal("pthread_atfork failed");
}

}  // namespace ffa

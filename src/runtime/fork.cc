// fork: take every global lock before fork so the child inherits consistent structures, release
// them in the parent, reset them in the child. The locks are few and fixed; none is held across
// a call into libc that takes locks of its own, so no cycle with glibc's fork locking exists.
// Heaps of threads that do not exist in the child stay unadopted there: their memory is leaked in
// the child only, and frees of it from the child are still safe (lock-free remote frees).
#include <pthread.h>

#include "runtime/runtime.h"

namespace ffa {

namespace {

// Built at call time: fork handlers may run before this library's static initializers. The
// order is fixed, so two forking threads cannot deadlock each other.
void for_each_lock(void (*fn)(SpinLock*)) {
  fn(&heap_list_lock());
  fn(&arena().publish_lock());
  for_each_large_lock(fn);
}

void prepare() {
  for_each_lock([](SpinLock* lock) { lock->lock(); });
}

void parent() {
  for_each_lock([](SpinLock* lock) { lock->unlock(); });
}

void child() {
  for_each_lock([](SpinLock* lock) { lock->reset_after_fork(); });
  background_thread_start();  // threads do not survive fork
}

}  // namespace

void fork_handlers_install() {
  if (pthread_atfork(prepare, parent, child) != 0) fatal("pthread_atfork failed");
}

}  // namespace ffa

// fork: ffalloc holds no blocking lock anywhere (shared structures are updated with atomic
// operations; the per-CPU caches use try-locks nobody waits on), so there is nothing to take
// before fork and no order to get wrong against glibc's own fork locking (stdio, its malloc): a
// thread stuck in ffalloc at the moment of fork cannot block the child. Heaps of threads that do
// not exist in the child stay marked in use there: their memory is leaked in the child only, and
// frees of it from the child are safe (lock-free remote frees). The child handler sets aside a
// CPU cache that was locked at the fork, forgets region unmaps that threads of the parent had
// in flight, and restarts the optional decay thread.
#include <pthread.h>

#include "large/cpu_cache.h"
#include "large/region.h"
#include "runtime/runtime.h"

namespace ffa {

namespace {

void child() {
  cpu_caches_after_fork_child();
  region_cache().forget_unmaps_in_flight();
  background_thread_start();
}

}  // namespace

void fork_handlers_install() {
  if (pthread_atfork(nullptr, nullptr, child) != 0) fatal("pthread_atfork failed");
}

}  // namespace ffa

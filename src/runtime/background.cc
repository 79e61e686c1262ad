// The optional decay thread (FFALLOC_BACKGROUND_THREAD=1): with it, memory goes back to the OS
// on time even when the program stops calling malloc after a burst.
#include <pthread.h>
#include <time.h>

#include "large/decay.h"
#include "runtime/runtime.h"

namespace ffa {

namespace {

void* decay_loop(void*) {
  while (true) {
    uint64_t half = large_config.decay_ns / 2;
    timespec ts{time_t(half / 1000000000u), long(half % 1000000000u)};
    nanosleep(&ts, nullptr);
    decay_tick();
    heap_reap_parked();
  }
  return nullptr;
}

}  // namespace

void background_thread_start() {
  if (!options.background_thread) return;
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&thread, &attr, decay_loop, nullptr) != 0) {
    message("could not start the background decay thread");
  }
  pthread_attr_destroy(&attr);
}

}  // namespace ffa

// Global init and per-thread heaps.
//
// Global init is a small state machine (Uninit -> Booting -> Ready) run by the first slow-path
// call, which may come from ld.so or libc before any constructor. It never calls getenv or
// malloc. Thread exit: a pthread key destructor parks the heap for adoption; a malloc from a
// destructor that runs later in the same thread borrows a parked heap for that one operation
// (re-arming the key instead would leak the heap after the last destructor round).
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstring>

#include "ffalloc/ffalloc.h"
#include "runtime/runtime.h"

namespace ffa {

constinit thread_local Heap* tls_heap = &kEmptyHeap;


namespace {

enum class InitState : int { kUninit, kBooting, kReady };
std::atomic<InitState> init_state{InitState::kUninit};
constinit thread_local bool tls_booting = false;
constinit thread_local bool tls_torn_down = false;
pthread_key_t heap_key;

void thread_exit(void* value) {
  auto* heap = static_cast<Heap*>(value);
  tls_heap = &kEmptyHeap;
  tls_torn_down = true;
  heap_release(heap);
  // A slow path like any other, and often the last one a pool's threads run after a burst:
  // without this tick, memory they freed before parking waits for the next malloc slow path.
  heap_maybe_tick();
}

void global_init() {
  InitState expected = InitState::kUninit;
  if (init_state.compare_exchange_strong(expected, InitState::kBooting,
                                         std::memory_order_acquire)) {
    tls_booting = true;
    if (sysconf(_SC_PAGESIZE) != long(os::kPageSize)) fatal("unsupported page size");
    // AT_RANDOM: 16 random bytes the kernel gave the process; no syscall, no allocation.
    if (const auto* random = reinterpret_cast<const uint64_t*>(getauxval(AT_RANDOM))) {
      uint64_t seed;
      memcpy(&seed, random + 1, sizeof(seed));
      free_secret ^= seed;
    }
    options_init();
    if (pthread_key_create(&heap_key, thread_exit) != 0) fatal("pthread_key_create failed");
    init_state.store(InitState::kReady, std::memory_order_release);
    tls_booting = false;
    fork_handlers_install();  // these may allocate: we are Ready by now
    background_thread_start();
    return;
  }
  // Another thread is booting: wait for it (a re-entrant call from the booting thread itself
  // goes straight on).
  while (!tls_booting && init_state.load(std::memory_order_acquire) != InitState::kReady) {
    sched_yield();
  }
}

}  // namespace

Heap* thread_heap_for_slow_path() noexcept {
  if (tls_heap != &kEmptyHeap) return tls_heap;
  if (init_state.load(std::memory_order_acquire) != InitState::kReady) {
    global_init();
    if (tls_heap != &kEmptyHeap) return tls_heap;  // init allocated re-entrantly
  }
  Heap* heap = heap_acquire();
  if (heap == nullptr || tls_torn_down) return heap;  // lent for one operation
  tls_heap = heap;
  if (!tls_booting) pthread_setspecific(heap_key, heap);
  return heap;
}

void thread_heap_return(Heap* heap) noexcept {
  if (heap != tls_heap) heap_release(heap);
}

}  // namespace ffa

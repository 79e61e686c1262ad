// runtime: process and thread lifecycle on top of the heaps: staged global init, the per-thread
// heap pointer (initial-exec TLS), thread exit, fork, options and stats. Includes every layer
// below through heap/heap.h.
#pragma once

#include "ffalloc/ffalloc.h"
#include "heap/heap.h"

namespace ffa {

/// The calling thread's heap; kEmptyHeap until its first slow-path call.
extern constinit thread_local Heap* tls_heap;

/// The calling thread's heap, set up (global init, heap adoption) if needed. Null on ENOMEM.
/// After the thread's heap was torn down (malloc from a later thread-exit destructor) it lends
/// a heap for one operation instead: give it back with thread_heap_return().
Heap* thread_heap_for_slow_path() noexcept;
/// Gives back a lent heap (no-op for the thread's own heap).
void thread_heap_return(Heap* heap) noexcept;

/// Run-time options, read once from FFALLOC_* environment variables at global init.
struct Options {
  using uint = uint64_t;
#define FFA_OPTION(type, name, default_value, description) type name = default_value;
#include "runtime/options.def"
#undef FFA_OPTION
};
extern Options options;
/// Reads the options and applies them to the layers below (runtime/options.cc).
void options_init();

/// Starts the decay thread if FFALLOC_BACKGROUND_THREAD is set (runtime/background.cc). Called
/// after init and again in a fork child, which inherits no threads.
void background_thread_start();

/// Installs the pthread_atfork handler that restarts the decay thread in a child (runtime/fork.cc).
void fork_handlers_install();

/// Fills the public stats struct (runtime/stats.cc).
/// class_object_slots (optional, kSmallClasses entries): objects each class's spans hold, used
/// or free (malloc_info's free counts; not in ffa_stats, whose size callers compiled in).
void stats_collect(::ffa_stats* out, uint64_t* class_object_slots = nullptr);
/// Writes the stats report to stderr without allocating.
void stats_print();

/// Hands the heap's free memory back: tidy this thread's heap, drain the region cache, purge the
/// arena's free runs. Returns bytes given back to the OS.
size_t trim();

}  // namespace ffa

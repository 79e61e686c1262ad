// Heap: one per thread, no lock on its fast paths. Small objects come from the current span of
// each size class; large blocks from the large path with this heap's large cache. Includes the
// layers below (base, platform, core, large).
//
// A heap outlives its thread: at thread exit it is tidied and marked free, and the next new
// thread adopts it with everything it still owns. Heaps are never freed, which is what makes a
// remote freer's pointer to a span's owner always safe to follow.
#pragma once

#include <cstring>

#include "large/large.h"

namespace ffa {

struct SpanList {
  Span* head = nullptr;
  Span* tail = nullptr;
};

/// Per-thread counters of the small path (written by the owning thread only).
struct SmallCounters {
  std::atomic<uint64_t> mallocs{0}, spans_created{0}, spans_released{0}, remote_frees{0};
};

#ifndef FFA_STATS
#define FFA_STATS 1
#endif
/// Whether the fast paths count (meson -Dstats=false compiles the counting out).
constexpr bool kFastPathStats = FFA_STATS;

/// A span of 2 page-sized objects that lies empty is memory the thread does not use: past this
/// many such classes, the one emptied longest ago gives its span back (see Heap::note_idle_span).
constexpr unsigned kIdleSpans = 4;
/// Spans behind a current one that one sweep checks for emptiness (Heap::release_empty_behind).
constexpr unsigned kEmptiedSpanSweep = 4;
/// The first page-sized class (kPageObjectMin).
constexpr unsigned kFirstPageClass = small_class_compute(kPageObjectMin);

struct Heap {
  // The current span per size for n <= kDirectMax (saves the class lookup on the fast path),
  // then per class. Both are changed only through set_direct().
  Span* direct_by_size[kDirectSlots];
  Span* direct[kSmallClasses];            // &kEmptySpan when none
  SpanList available[kSmallClasses];      // spans with room; direct[c] is the head
  std::atomic<FreeObject*> delayed{nullptr};  // remote frees into spans parked as full
  // Page-sized classes whose current span was last emptied, newest first (see note_idle_span).
  uint8_t idle_classes[kIdleSpans] = {};
  uint8_t idle_count = 0;
  uint8_t span_growth[kSmallClasses] = {};  // spans made per class, up to kSpanGrowthSteps
  LargeCache large;
  SmallCounters counters;
  Heap* next_all = nullptr;               // every heap ever made (adoption, stats)
  std::atomic<bool> in_use{false};        // owned by a thread

  constexpr Heap() {
    for (auto& span : direct_by_size) span = &kEmptySpan;
    for (auto& span : direct) span = &kEmptySpan;
  }

  FFA_INLINE void* malloc_small(size_t size) noexcept {
    Span* span = size <= kDirectMax ? direct_by_size[size_slot(size)] : direct[small_class(size)];
    FreeObject* object = span->free;
    if (FFA_LIKELY(object != nullptr)) {
      if (FFA_UNLIKELY(!object->is_marked_free())) return corrupted_free_list(object);
      if constexpr (FFA_SECURE) check_link(object, span);
      span->free = object->next();
      span->used++;
      object->marker = 0;
      if constexpr (FFA_SECURE) set_canary(object, span);
      if constexpr (kFastPathStats) bump(counters.mallocs);
      return object;
    }
    return malloc_small_slow(size);
  }

  /// Secure builds: the last word of every handed-out object holds its canary.
  static FFA_INLINE void set_canary(void* object, const Span* span) {
    uintptr_t canary = canary_for(object);
    memcpy(static_cast<char*>(object) + span->object_size - kCanaryBytes, &canary, kCanaryBytes);
  }
  /// Secure builds: a link must stay inside its span (a forged or clobbered link is reported
  /// before malloc could follow it anywhere else).
  static FFA_INLINE void check_link(const FreeObject* object, const Span* span) {
    uintptr_t next = uintptr_t(object->next());
    if (FFA_UNLIKELY(next != 0 && next - uintptr_t(span->start) >=
                                      (uintptr_t(span->slices) << kSliceShift))) {
      corrupted_free_list(const_cast<FreeObject*>(object));
    }
  }
  static FFA_INLINE void check_canary(void* object, const Span* span) {
    uintptr_t canary;
    memcpy(&canary, static_cast<char*>(object) + span->object_size - kCanaryBytes, kCanaryBytes);
    if (FFA_UNLIKELY(canary != canary_for(object))) overflow(object);
  }

  /// Local free of an object of a span this heap owns.
  FFA_INLINE void free_local(Span* span, void* p) noexcept {
    auto* object = static_cast<FreeObject*>(p);
    if (FFA_UNLIKELY(object->is_marked_free())) return double_free(p);
    if constexpr (FFA_SECURE) {
      if (FFA_UNLIKELY(size_t(static_cast<char*>(p) - span->start) % span->object_size != 0)) {
        return interior_free(p);
      }
      check_canary(p, span);
    }
    object->set_next(span->local_free);
    object->marker = object->expected_marker();
    span->local_free = object;  // local frees are not counted: stats derive them
    if (FFA_UNLIKELY(--span->used <= 0)) return free_local_slow(span);  // empty, or parked full
  }

  void* malloc_small_slow(size_t size) noexcept;
  void free_local_slow(Span* span) noexcept;
  void note_idle_span(unsigned c) noexcept;
  void release_emptied_spans(unsigned c) noexcept;
  void release_empty_behind(unsigned c) noexcept;
  void settle_idle_class(unsigned c, bool just_emptied) noexcept;
  void set_direct(unsigned c, Span* span) noexcept;
  /// Returns every empty span to the arena and the large cache's blocks too; processes delayed
  /// frees. Called at thread exit and by malloc_trim.
  void tidy() noexcept;

  /// Report and abort. Not [[noreturn]] so that callers can tail-call them.
  static void double_free(void* p) noexcept;
  [[noreturn]] static void overflow(void* p) noexcept;
  static void interior_free(void* p) noexcept;
  static void* corrupted_free_list(FreeObject* object) noexcept;
};

/// The heap every thread starts with: all bins empty, so the first malloc takes the slow path,
/// which is the only place that sets up a real heap.
extern constinit Heap kEmptyHeap;

/// Free of a small object by a thread that does not own its span: lock-free push. self is the
/// freeing thread's heap (it counts the event) and may be kEmptyHeap.
void free_remote(Heap* self, Span* span, void* p) noexcept;

/// Adopts a free heap or maps a new one (lock-free). Null on ENOMEM.
Heap* heap_acquire();
/// Tidies the heap and marks it free for adoption.
void heap_release(Heap* heap);
/// Tidies up to 16 heaps of exited threads (memory freed into them since goes back). Run with
/// each decay tick.
void heap_reap_parked() noexcept;
/// A decay tick if one is due, with its reaping of parked heaps: what every slow path that may
/// be a program's last for a while calls (a coarse clock read when none is due).
void heap_maybe_tick() noexcept;
/// Calls fn on every heap ever created (stats). Lock-free.
void for_each_heap(void (*fn)(const Heap*, void*), void* arg);

}  // namespace ffa

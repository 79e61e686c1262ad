// Small-object slow paths, remote frees and heap lifetime.
//
// Life of a span: claimed from the arena by a heap, queued in available[c] and made current
// (direct); when it runs dry the heap parks it as full and forgets it; the first free into it
// (local, or remote through the delayed list) queues it again at the back; when its last object
// comes back and it is not the current span it goes back to the arena.
#include "heap/heap.h"

#include "large/decay.h"

#include <errno.h>

#include <new>

namespace ffa {

namespace {

// Every heap ever made, in a push-only list (its links never change once published). A heap is
// adopted by claiming its in_use flag: no list surgery, so no lock and no ABA problem, and a
// fork child simply never sees a parent thread's heap as free.
std::atomic<Heap*> all_heaps{nullptr};

// One more arena chunk. When the OS refuses it (RLIMIT_AS), cached regions may hold the address
// space: memory freed as large blocks must serve small objects too, so they are unmapped first
// (not when the arena is at its chunk limit, where that would not help).
bool grow_arena() {
  if (arena().grow(/*try_only=*/false)) return true;
  return arena().chunk_count() < Arena::kMaxChunks &&
         region_cache().release_all() && arena().grow(/*try_only=*/false);
}

// A heap lives in arena slices when it can (so a new thread can start even when the address
// space is exhausted but the arena has room), else in its own mapping. Never freed either way.
void* heap_memory() {
  constexpr size_t kSlices = (sizeof(Heap) + kSliceSize - 1) / kSliceSize;
  ClaimFailure why;
  Span* span = arena().try_claim(kSlices, kSliceSize, &why);
  if (span == nullptr && why == ClaimFailure::kNoSpace && grow_arena()) {
    span = arena().try_claim(kSlices, kSliceSize, &why);
  }
  if (span != nullptr) {
    span->kind = SpanKind::kMeta;
    memset(span->start, 0, kSlices * kSliceSize);  // slices may be dirty from earlier use
    return span->start;
  }
  void* base;
  size_t mapped;
  return os::map(sizeof(Heap), os::kPageSize, &base, &mapped);
}

Heap* new_heap() {
  void* memory = heap_memory();
  if (memory == nullptr) return nullptr;
  Heap* heap = new (memory) Heap();
  heap->in_use.store(true, std::memory_order_relaxed);
  Heap* head = all_heaps.load(std::memory_order_relaxed);
  do {
    heap->next_all = head;
  } while (!all_heaps.compare_exchange_weak(head, heap, std::memory_order_release,
                                            std::memory_order_relaxed));
  return heap;
}

void list_push_front(SpanList& list, Span* span) {
  span->prev = nullptr;
  span->next = list.head;
  if (list.head != nullptr) list.head->prev = span;
  else list.tail = span;
  list.head = span;
}

void list_push_back(SpanList& list, Span* span) {
  span->next = nullptr;
  span->prev = list.tail;
  if (list.tail != nullptr) list.tail->next = span;
  else list.head = span;
  list.tail = span;
}

void list_remove(SpanList& list, Span* span) {
  if (span->prev != nullptr) span->prev->next = span->next;
  else list.head = span->next;
  if (span->next != nullptr) span->next->prev = span->prev;
  else list.tail = span->prev;
  span->next = span->prev = nullptr;
}

// Moves the remote-free stack into the span's free list. The owner only calls this while the
// span is not parked as full, so the flag bit is clear and an exchange is enough.
bool collect_remote(Span* span) {
  if (span->remote_free.load(std::memory_order_relaxed) == 0) return false;
  auto* list = reinterpret_cast<FreeObject*>(span->remote_free.exchange(0, std::memory_order_acquire));
  if (list == nullptr) return false;
  uint32_t count = 1;
  FreeObject* tail = list;
  while (FreeObject* next = tail->next()) {
    if (!next->is_marked_free()) Heap::corrupted_free_list(next);
    tail = next;
    ++count;
  }
  tail->set_next(span->free);
  span->free = list;
  span->used -= count;
  return true;
}

// Carves objects from the untouched end of the span, about a page at a time, so a span's memory
// is faulted in only as it is used.
void extend(Span* span) {
  uint32_t size = span->object_size;
  uint32_t batch = uint32_t(os::kPageSize / size);
  if (batch < 4) batch = 4;
  if (batch > uint32_t(span->reserved - span->capacity)) batch = span->reserved - span->capacity;
  char* first = span->start + size_t(span->capacity) * size;
  FreeObject* next = span->free;
  for (uint32_t i = batch; i-- > 0;) {
    auto* object = reinterpret_cast<FreeObject*>(first + size_t(i) * size);
    object->set_next(next);
    object->marker = object->expected_marker();
    next = object;
  }
  span->free = next;
  span->capacity = uint16_t(span->capacity + batch);
}

bool refill(Span* span) {
  if (span->local_free != nullptr) {
    span->free = span->local_free;
    span->local_free = nullptr;
    return true;
  }
  if (collect_remote(span)) return true;
  if (span->capacity < span->reserved) {
    extend(span);
    return true;
  }
  return false;
}

// Parks a dry span as full, unless remote frees are already waiting in it.
bool try_park_full(Span* span) {
  uintptr_t expected = 0;
  return span->remote_free.compare_exchange_strong(expected, kFullFlag, std::memory_order_acq_rel);
}

// Warm slices are reused first anyway: claims are first fit from the arena's low end.
void release_span(Heap* heap, Span* span) {
  span->free = span->local_free = nullptr;
  bump(heap->counters.spans_released);
  arena().release(span);
}

Span* new_span(Heap* heap, unsigned c) {
  size_t slices = span_slices(c, heap->span_growth[c]);
  ClaimFailure why;
  Span* span = nullptr;
  for (int attempt = 0; span == nullptr && attempt < 8; ++attempt) {
    span = arena().try_claim(slices, kSliceSize, &why);
    if (span == nullptr && why == ClaimFailure::kNoSpace && !grow_arena()) {
      return nullptr;
    }
  }
  if (span == nullptr) return nullptr;
  span->owner = heap;
  span->object_size = uint32_t(small_class_size(c));
  span->size_class = uint8_t(c);
  span->reserved = uint16_t((slices << kSliceShift) / span->object_size);
  span->capacity = 0;
  span->used = 0;
  span->free = span->local_free = nullptr;
  span->remote_free.store(0, std::memory_order_relaxed);
  span->kind = SpanKind::kSmall;  // last: from here on the page map describes a small span
  bump(heap->counters.spans_created);
  if (heap->span_growth[c] < kSpanGrowthSteps) heap->span_growth[c]++;
  return span;
}

// Pushes an object the owner itself frees; no double-free check (callers did it).
void push_local(Heap* heap, Span* span, FreeObject* object) {
  object->set_next(span->local_free);
  span->local_free = object;
  if (--span->used <= 0) heap->free_local_slow(span);
}

// Remote frees that found their span parked as full.
void process_delayed(Heap* heap) {
  if (heap->delayed.load(std::memory_order_relaxed) == nullptr) return;
  FreeObject* list = heap->delayed.exchange(nullptr, std::memory_order_acquire);
  while (list != nullptr) {
    if (!list->is_marked_free()) Heap::corrupted_free_list(list);
    FreeObject* next = list->next();
    push_local(heap, page_map().lookup(list), list);
    list = next;
  }
}

}  // namespace

constinit Heap kEmptyHeap{};

// The one call upwards, into runtime/thread_state.cc: the empty heap's slow path is where a
// thread gets its real heap.
Heap* thread_heap_for_slow_path() noexcept;
void thread_heap_return(Heap* heap) noexcept;

void Heap::set_direct(unsigned c, Span* span) noexcept {
  if (direct[c] == span) return;  // the usual case: the current span was refilled
  direct[c] = span;
  if (small_class_size(c) <= kDirectMax) {
    unsigned first = c == 0 ? 0 : size_slot(small_class_size(c - 1)) + 1;
    for (unsigned slot = first; slot <= size_slot(small_class_size(c)); ++slot) {
      direct_by_size[slot] = span;
    }
  }
}

void* Heap::malloc_small_slow(size_t size) noexcept {
  if (this == &kEmptyHeap) {
    Heap* heap = thread_heap_for_slow_path();
    if (heap == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    void* p = heap->malloc_small(size);
    thread_heap_return(heap);
    return p;
  }
  unsigned c = small_class(size);
  heap_maybe_tick();
  // Other threads free this class's objects (see release_emptied_spans).
  bool freed_remotely = c >= kFirstPageClass &&
                        (delayed.load(std::memory_order_relaxed) != nullptr ||
                         direct[c]->remote_free.load(std::memory_order_relaxed) != 0);
  process_delayed(this);
  Span* span = direct[c];
  while (span != &kEmptySpan) {
    if (refill(span)) break;
    list_remove(available[c], span);
    if (!try_park_full(span)) {  // remote frees arrived meanwhile: refill collects them
      list_push_front(available[c], span);
      continue;
    }
    span->used |= kParkedFull;
    span = available[c].head != nullptr ? available[c].head : &kEmptySpan;
  }
  if (span == &kEmptySpan) {
    span = new_span(this, c);
    if (span == nullptr) {
      set_direct(c, &kEmptySpan);
      errno = ENOMEM;
      return nullptr;
    }
    list_push_front(available[c], span);
    refill(span);
  }
  set_direct(c, span);
  FreeObject* object = span->free;
  if (!object->is_marked_free()) return corrupted_free_list(object);
  if constexpr (FFA_SECURE) check_link(object, span);
  span->free = object->next();
  span->used++;
  object->marker = 0;
  if constexpr (FFA_SECURE) set_canary(object, span);
  if constexpr (kFastPathStats) bump(counters.mallocs);
  if (freed_remotely) release_emptied_spans(c);
  return object;
}

void Heap::free_local_slow(Span* span) noexcept {
  unsigned c = span->size_class;
  if (span->used < 0) {
    // Room again. Clearing the flag may lose to a remote freer, which then clears it itself.
    uintptr_t expected = kFullFlag;
    span->remote_free.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    span->used &= ~kParkedFull;
    // Back of the queue: the current span keeps serving, and by the time this one's turn comes
    // it has gathered more frees (putting it first would make every free into a full span cost
    // a slow-path round trip).
    list_push_back(available[c], span);
    if (direct[c] == &kEmptySpan) set_direct(c, span);
  }
  if (span->used == 0) {
    if (span != direct[c]) {
      list_remove(available[c], span);
      release_span(this, span);
    } else if (c >= kFirstPageClass) {
      settle_idle_class(c, /*just_emptied=*/true);
    }
  }
}

// A thread keeps its current span even while it lies empty, so the next malloc of the class
// needs no claim. For page-sized classes that is 8-64 KiB a class, and a thread that once used
// each of the 13 of them would hold 408 KiB of empty spans for good (3.3 MiB over the seed
// workload's 8 committers). So only the kIdleSpans classes emptied most recently keep theirs; a
// loop over one or a few classes never gives a span back. Called unless c is already the newest.
void Heap::note_idle_span(unsigned c) noexcept {
  unsigned n = 0;
  for (unsigned i = 0; i < idle_count; ++i) {
    if (idle_classes[i] != c) idle_classes[n++] = idle_classes[i];
  }
  if (n == kIdleSpans) {
    unsigned oldest = idle_classes[--n];
    Span* span = direct[oldest];
    if (span != &kEmptySpan) collect_remote(span);  // used again since, and freed by others?
    if (span != &kEmptySpan && span->used == 0) {  // not in use again since it was emptied
      list_remove(available[oldest], span);
      release_span(this, span);
      set_direct(oldest, available[oldest].head != nullptr ? available[oldest].head : &kEmptySpan);
    }
  }
  memmove(idle_classes + 1, idle_classes, n);
  idle_classes[0] = uint8_t(c);
  idle_count = uint8_t(n + 1);
}

// A page-sized class's span holds 2-4 objects. When another thread frees them (the seed's push
// thread), the owner learns that a span lies empty only when it collects the span's remote
// frees, which it does for the current span once that runs dry and for the spans behind it
// never: each class it ever used kept one or two empty spans for good, 44 spans (1.4 MiB)
// holding 50-100 KiB of objects over 2 committers. So a slow path of a page-sized class that
// finds remote frees (every few objects in that shape; never when a thread frees its own, which
// free_local_slow handles) collects the other classes' current spans. A class whose current span
// is empty holds no object: it is idle, and gets the local rules: the empty spans behind its
// current one go back, and the current one stays for the kIdleSpans classes emptied last only.
// A class in use keeps the spans behind its current one, empty or not: with a consumer some
// spans behind, they are the next current ones, and giving them back cost a claim every 7
// objects (one 8 KiB class, a consumer 16 objects behind: 60,012 spans created for 400,000
// objects instead of 52).
// Seed workload, peak RSS medians over 8-12 interleaved runs: 18.9 -> 17.7 MiB with 2 committers,
// 25.5 -> 24.0 MiB with 8; on 16 cores 40.4 -> 38.7 MiB with 16, 50.2 -> 46.7 MiB with 32; CPU
// within noise (instructions per run +0.1%).
void Heap::release_emptied_spans(unsigned c) noexcept {
  for (unsigned other = kFirstPageClass; other < kSmallClasses; ++other) {
    Span* span = direct[other];
    if (other == c || span == &kEmptySpan) continue;
    bool collected = collect_remote(span);
    if (span->used == 0) settle_idle_class(other, collected);
  }
}

// Class c holds no object (its current span lies empty): the empty spans behind that span go
// back, and the span itself, when it has just emptied, joins those kept for the kIdleSpans
// classes emptied last.
void Heap::settle_idle_class(unsigned c, bool just_emptied) noexcept {
  if (direct[c]->next != nullptr) release_empty_behind(c);
  if (just_emptied && idle_classes[0] != c) note_idle_span(c);  // [0] is 0 while the list is empty
}

// Collects the remote frees of the first few spans behind idle class c's current one and gives
// back those left empty. The others go to the back of the list, where later calls reach the
// spans they hid.
void Heap::release_empty_behind(unsigned c) noexcept {
  Span* first_kept = nullptr;
  for (unsigned n = 0; n < kEmptiedSpanSweep; ++n) {
    Span* span = direct[c]->next;
    if (span == nullptr || span == first_kept) break;
    collect_remote(span);
    list_remove(available[c], span);
    if (span->used == 0) {
      release_span(this, span);
      continue;
    }
    list_push_back(available[c], span);
    if (first_kept == nullptr) first_kept = span;
  }
}

void Heap::tidy() noexcept {
  process_delayed(this);
  for (unsigned c = 0; c < kSmallClasses; ++c) {
    Span* span = available[c].head;
    while (span != nullptr) {
      Span* next = span->next;
      collect_remote(span);
      if (span->used == 0) {
        list_remove(available[c], span);
        release_span(this, span);
      }
      span = next;
    }
    set_direct(c, available[c].head != nullptr ? available[c].head : &kEmptySpan);
  }
  idle_count = 0;  // their empty spans just went back
  idle_classes[0] = 0;
  memset(span_growth, 0, sizeof(span_growth));  // the next thread starts small again
  large_cache_flush(&large);
}

void Heap::double_free(void* p) noexcept { fatal("double free of", p); }

void Heap::interior_free(void* p) noexcept { fatal("free of invalid pointer (interior)", p); }

void Heap::overflow(void* p) noexcept { fatal("buffer overflow detected (canary) in block", p); }

void* Heap::corrupted_free_list(FreeObject* object) noexcept {
  fatal("corrupted free list (write after free?) at", object);
}

void free_remote(Heap* self, Span* span, void* p) noexcept {
  auto* object = static_cast<FreeObject*>(p);
  if (FFA_UNLIKELY(object->is_marked_free())) Heap::double_free(p);
  if constexpr (FFA_SECURE) Heap::check_canary(p, span);
  object->marker = object->expected_marker();
  Heap* owner = span->owner;
  if (self != &kEmptyHeap) {
    bump(self->counters.remote_frees);
  } else {  // a thread without a heap: shared counter, so a real atomic add
    kEmptyHeap.counters.remote_frees.fetch_add(1, std::memory_order_relaxed);
  }
  uintptr_t old = span->remote_free.load(std::memory_order_relaxed);
  while (true) {
    if (old & kFullFlag) {
      // Parked as full: the owner will not look at this span again until told. Take the flag
      // (exactly one freer wins it) and tell the owner through its delayed list.
      if (span->remote_free.compare_exchange_weak(old, old & ~kFullFlag,
                                                  std::memory_order_acq_rel)) {
        FreeObject* head = owner->delayed.load(std::memory_order_relaxed);
        do {
          object->set_next(head);
        } while (!owner->delayed.compare_exchange_weak(head, object, std::memory_order_release,
                                                       std::memory_order_relaxed));
        return;
      }
      continue;
    }
    object->set_next(reinterpret_cast<FreeObject*>(old));
    if (span->remote_free.compare_exchange_weak(old, uintptr_t(object), std::memory_order_release,
                                                std::memory_order_relaxed)) {
      return;
    }
  }
}

Heap* heap_acquire() {
  for (Heap* heap = all_heaps.load(std::memory_order_acquire); heap != nullptr;
       heap = heap->next_all) {
    bool expected = false;
    if (!heap->in_use.load(std::memory_order_relaxed) &&
        heap->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return heap;
    }
  }
  return new_heap();
}

void heap_release(Heap* heap) {
  heap->tidy();
  heap->in_use.store(false, std::memory_order_release);
}

void heap_maybe_tick() noexcept {
  if (decay_maybe_tick()) heap_reap_parked();
}

void heap_reap_parked() noexcept {
  // Blocks that other threads freed into an exited thread's spans wait in those spans until a
  // thread adopts the heap. Claiming each parked heap briefly and tidying it gives that memory
  // back without waiting for a new thread. Bounded per call.
  constexpr unsigned kMaxPerCall = 16;
  static std::atomic<Heap*> cursor{nullptr};
  Heap* heap = cursor.load(std::memory_order_relaxed);
  if (heap == nullptr) heap = all_heaps.load(std::memory_order_acquire);
  for (unsigned i = 0; i < kMaxPerCall && heap != nullptr; ++i, heap = heap->next_all) {
    bool expected = false;
    if (!heap->in_use.load(std::memory_order_relaxed) &&
        heap->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      heap_release(heap);
    }
  }
  cursor.store(heap, std::memory_order_relaxed);
}

void for_each_heap(void (*fn)(const Heap*, void*), void* arg) {
  for (Heap* heap = all_heaps.load(std::memory_order_acquire); heap != nullptr;
       heap = heap->next_all) {
    fn(heap, arg);
  }
}

}  // namespace ffa

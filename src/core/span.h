// Span: the descriptor the page map points at for every slice ffalloc hands out. One struct
// describes a small-object span, a large arena run or a mapped region, told apart by `kind`.
// Includes only base/ and core/size_class.h.
//
// Small-object free lists are sharded (mimalloc's design): `free` is popped by the owner,
// `local_free` takes the owner's frees, `remote_free` is a lock-free stack other threads push
// onto. Its low bit (kFullFlag) means "the owner parked this span as full": the first remote
// freer that sees it clears it and hands its object to the owner heap's delayed list instead, so
// the owner learns the span has room again without ever scanning full spans.
#pragma once

#include "base/base.h"
#include "core/size_class.h"

namespace ffa {

struct Heap;
struct LargeCache;

/// Random value mixed into free-object markers (and, in secure builds, list links); set once at
/// global init, before the first allocation.
inline constinit uintptr_t free_secret = 0x5bd1e9955bd1e995ull;

/// A freed small object. Its first word links the free list (encoded with the secret and its own
/// address in secure builds, so a use-after-free write cannot steer malloc); its second word, the
/// marker, is address ^ secret while the object is free and 0 once handed out. The marker makes
/// a double free cheap to detect, and a clobbered marker on a listed object exposes a write
/// after free before its link is trusted.
struct FreeObject {
  uintptr_t link;
  uintptr_t marker;

  FFA_INLINE uintptr_t expected_marker() const { return uintptr_t(this) ^ free_secret; }
  FFA_INLINE bool is_marked_free() const { return marker == expected_marker(); }
  FFA_INLINE FreeObject* next() const {
    if constexpr (FFA_SECURE) return reinterpret_cast<FreeObject*>(link ^ key());
    return reinterpret_cast<FreeObject*>(link);
  }
  FFA_INLINE void set_next(FreeObject* next) {
    link = FFA_SECURE ? uintptr_t(next) ^ key() : uintptr_t(next);
  }

 private:
  FFA_INLINE uintptr_t key() const { return free_secret * 0x9e3779b97f4a7c15ull ^ (uintptr_t(this) >> 4); }
};

/// Secure builds end every small object with a canary word, checked when it is freed.
constexpr size_t kCanaryBytes = FFA_SECURE ? 8 : 0;

FFA_INLINE uintptr_t canary_for(const void* object) {
  return (uintptr_t(object) ^ free_secret) * 0xff51afd7ed558ccdull;
}

enum class SpanKind : uint8_t {
  kFree = 0,        // arena slices not handed out (or a stale descriptor)
  kSmall,           // small-object span owned by `owner`
  kLarge,           // live large block (arena run)
  kLargeCached,     // large block parked in a thread's or a CPU's block cache
  kRegion,          // live mapped region
  kRegionCached,    // mapped region parked in the region cache
  kMeta,            // arena slices holding ffalloc's own metadata (a heap)
};

constexpr uintptr_t kFullFlag = 1;
constexpr int32_t kParkedFull = INT32_MIN;

struct Span {
  // Owner-thread fields, first cache line: the fast paths touch only these.
  FreeObject* free = nullptr;
  FreeObject* local_free = nullptr;
  // Objects handed out as far as the owner knows, with kParkedFull (the sign bit) set while the
  // span is parked as full: one decrement-and-test on free catches both "now empty" and "was
  // full", the two events the owner must act on.
  int32_t used = 0;
  uint32_t object_size = 0;
  Heap* owner = nullptr;          // null unless kind == kSmall
  SpanKind kind = SpanKind::kFree;
  uint8_t size_class = 0;
  uint8_t is_zero = 0;            // large/region: contents known to be zero
  uint8_t pad = 0;
  uint16_t capacity = 0;          // objects carved so far
  uint16_t reserved = 0;          // objects that fit
  char* start = nullptr;
  std::atomic<uintptr_t> remote_free{0};
  // Cold fields.
  Span* next = nullptr;           // links: a heap's span queue, or a block cache's bin
  Span* prev = nullptr;
  uint32_t slices = 0;            // run length in slices (arena) or payload slices (region)
  uint32_t chunk = 0;             // arena chunk index (arena runs only)
  LargeCache* home = nullptr;     // large block: the cache of the thread it was handed out to
  uint32_t cpu = 0;               // large block: the CPU it was handed out on
};

inline constinit Span kEmptySpan{};

}  // namespace ffa

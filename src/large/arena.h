// Arena: the contiguous tier. Chunks of 32 MiB (2 MiB aligned) split into 8 KiB slices; a bitmap
// per chunk, claimed with atomic compare-and-swap, says which slices are handed out. Small-object
// spans and large runs share it. Includes base/, platform/ and core/.
//
// Contract of try_claim (the seed's lesson): no syscall, no lock, no zeroing, a bounded scan. On
// a miss it returns null at once with the reason, and the caller falls back.
#pragma once

#include "core/page_map.h"

namespace ffa {

constexpr size_t kChunkSize = 32 * kMiB;
constexpr size_t kChunkAlign = 2 * kMiB;
constexpr unsigned kSlicesPerChunk = unsigned(kChunkSize / kSliceSize);  // 4096
constexpr unsigned kBitmapWords = kSlicesPerChunk / 64;

struct ArenaChunk {
  char* base;
  unsigned index;
  std::atomic<uint64_t> in_use[kBitmapWords];  // bit set: slice claimed (or metadata)
  Span spans[kSlicesPerChunk];                 // descriptor of the run starting at each slice
};

enum class ClaimFailure : uint8_t { kNone, kNoSpace, kContended };

class Arena {
 public:
  static constexpr unsigned kMaxChunks = 4096;  // 128 GiB

  /// Claims `slices` contiguous slices whose start is aligned to `align` bytes (a power of two,
  /// at least a slice, at most kChunkAlign). Scans at most every chunk once from *hint, which is
  /// updated. Returns the run's descriptor (kind kFree, start and slices set, page map pointing
  /// at it) or null with *why set. Never makes a syscall and never waits.
  Span* try_claim(size_t slices, size_t align, unsigned* hint, ClaimFailure* why);

  /// Reserves one more chunk: one mmap, made outside every lock (a lock is taken only to publish
  /// the chunk). With try_only, returns false at once when another thread is already growing
  /// (its chunk will serve us next time). False on ENOMEM or when at kMaxChunks.
  bool grow(bool try_only);

  /// Returns the run described by span to the bitmap (atomic, lock-free).
  void release(Span* span);

  /// Gives every free run back to the OS (madvise) by claiming it, purging and releasing it.
  /// Returns the number of bytes purged. Takes no lock; other threads may claim concurrently.
  size_t purge_free_runs();

  /// Arena-wide index of the run's first slice (a hint for try_claim).
  unsigned slice_index(const Span* span) const {
    const ArenaChunk* c = chunk(span->chunk);
    return span->chunk * kSlicesPerChunk + unsigned((span->start - c->base) >> kSliceShift);
  }

  size_t bytes_in_use() const { return in_use_bytes_.load(std::memory_order_relaxed); }
  unsigned chunk_count() const { return count_.load(std::memory_order_acquire); }
  ArenaChunk* chunk(unsigned i) const { return chunks_[i].load(std::memory_order_acquire); }
  SpinLock& publish_lock() { return publish_lock_; }

  static Arena& instance() { return arena_; }

 private:
  Span* try_claim_in(ArenaChunk* chunk, size_t slices, size_t align_slices, unsigned from,
                     ClaimFailure* why);
  bool claim_bits(ArenaChunk* chunk, unsigned pos, unsigned n);
  void clear_bits(ArenaChunk* chunk, unsigned pos, unsigned n);

  std::atomic<ArenaChunk*> chunks_[kMaxChunks];
  std::atomic<unsigned> count_{0};
  std::atomic<size_t> in_use_bytes_{0};
  std::atomic<unsigned> growing_{0};
  SpinLock publish_lock_;
  static Arena arena_;
};

inline Arena& arena() { return Arena::instance(); }

}  // namespace ffa

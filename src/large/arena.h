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
constexpr size_t kChunkAlign = 2 * kMiB;  // with FFALLOC_THP; else chunks are page aligned
constexpr unsigned kSlicesPerChunk = unsigned(kChunkSize / kSliceSize);  // 4096
constexpr unsigned kBitmapWords = kSlicesPerChunk / 64;

/// One bit per slice in each bitmap. A slice is `dirty` from its first claim until it is purged
/// (its pages may be resident and non-zero); `recent` marks slices released since the last decay
/// tick, which the next tick spares.
struct ArenaChunk {
  char* base;
  unsigned index;
  // Slices not claimed: lets a claim pass over a chunk without room in one load. Its own cache
  // line, since every claim and release in the chunk updates it.
  alignas(64) std::atomic<unsigned> free_slices;
  alignas(64) std::atomic<uint64_t> in_use[kBitmapWords];  // claimed (or metadata)
  std::atomic<uint64_t> dirty[kBitmapWords];
  std::atomic<uint64_t> recent[kBitmapWords];
  // When each word's slices last saw a release, in units of 2^20 ns (wraps; compare by
  // difference): after a decay gap, tells memory freed just now from memory idle for seconds.
  std::atomic<uint32_t> released_at[kBitmapWords];
  Span spans[kSlicesPerChunk];                 // descriptor of the run starting at each slice
};

enum class ClaimFailure : uint8_t { kNone, kNoSpace, kContended };

class Arena {
 public:
  static constexpr unsigned kMaxChunks = 4096;  // 128 GiB
  /// CAS races a claim may lose in one chunk before it passes over that chunk as contended.
  static constexpr unsigned kMaxLostRaces = 8;

  /// Claims `slices` contiguous slices whose start is aligned to `align` bytes (a power of two,
  /// at least a slice, at most kChunkAlign): first fit over the whole arena, the lowest run of
  /// the lowest chunk with room, every chunk at most once. Returns the run's descriptor (kind
  /// kFree, start and slices set, page map pointing at it, is_zero set when no slice of it was
  /// ever handed out or since purged) or null with *why: kContended when a chunk was passed
  /// over after kMaxLostRaces lost races, else kNoSpace. Never makes a syscall and never waits.
  Span* try_claim(size_t slices, size_t align, ClaimFailure* why);

  /// Extends a claimed run in place by `more` slices if the slices right after it are free.
  /// Lock-free, no syscall; false when they are not (or the run ends its chunk).
  bool try_extend(Span* span, size_t more);
  /// Gives back the last `fewer` slices of a claimed run (they become free at once).
  void shrink(Span* span, size_t fewer);

  /// Reserves one more chunk: one mmap, then a lock-free publish. With try_only, returns false
  /// at once when another thread is already growing (its chunk will serve us next time). False
  /// on ENOMEM or when at kMaxChunks.
  bool grow(bool try_only);

  /// Returns the run described by span to the bitmap (atomic, lock-free).
  void release(Span* span);


  /// Decay: gives free, dirty runs back to the OS (madvise outside any lock) by claiming each,
  /// purging it and releasing it. With spare_recent, runs released since the previous call are
  /// left alone (so memory is purged between one and two calls after it was freed); with
  /// released_since_ns too, only those of them in bitmap words (64 slices) that saw a release
  /// at or after that time (os::now_coarse_ns) are. Does nothing when fewer than min_bytes
  /// qualify (the recent marks still age); stops after about max_bytes. Returns the bytes
  /// purged. Takes no lock.
  size_t purge_free_runs(bool spare_recent, size_t min_bytes, size_t max_bytes,
                         uint64_t released_since_ns = 0);

  /// Bytes of free slices that may still be resident (approximate, for stats and caps).
  size_t dirty_free_bytes() const;

  /// Ask for transparent huge pages on chunks mapped from now on (FFALLOC_THP).
  void set_huge_pages(bool on) { huge_pages_ = on; }

  /// Test hook: the next n claim attempts behave as if another thread won the race.
  void lose_races_for_test(unsigned n) { lose_races_.store(n, std::memory_order_relaxed); }

  /// Bytes of claimed slices: spans, large runs and cached blocks (not the chunks' headers).
  size_t bytes_in_use() const { return in_use_bytes_.load(std::memory_order_relaxed); }
  size_t peak_bytes_in_use() const { return peak_in_use_bytes_.load(std::memory_order_relaxed); }
  unsigned chunk_count() const { return count_.load(std::memory_order_acquire); }
  ArenaChunk* chunk(unsigned i) const { return chunks_[i].load(std::memory_order_acquire); }

  static Arena& instance() { return arena_; }

 private:
  Span* try_claim_in(ArenaChunk* chunk, size_t slices, size_t align, ClaimFailure* why);
  Span* publish(ArenaChunk* chunk, unsigned pos, unsigned n);
  bool claim_bits(ArenaChunk* chunk, unsigned pos, unsigned n);

  std::atomic<ArenaChunk*> chunks_[kMaxChunks];
  std::atomic<unsigned> count_{0};
  void note_in_use(size_t bytes) {
    if (bytes > peak_in_use_bytes_.load(std::memory_order_relaxed)) {
      peak_in_use_bytes_.store(bytes, std::memory_order_relaxed);  // racy max: good enough
    }
  }

  // One counter every claim and release updates. Measured on 16 cores (seed workload, 4 to 16
  // committers): dropping it for a popcount at stats time changed nothing beyond noise.
  std::atomic<size_t> in_use_bytes_{0};
  std::atomic<size_t> peak_in_use_bytes_{0};
  std::atomic<unsigned> growing_{0};
  std::atomic<unsigned> lose_races_{0};
  bool huge_pages_ = false;
  static Arena arena_;
};

inline Arena& arena() { return Arena::instance(); }

}  // namespace ffa

// Bitmap claims: find the lowest run of zero bits that fits, then set it word by word with CAS.
// A CAS that finds a bit already taken means another thread won the race: undo what we set and
// look again; after a few such losses pass the chunk over rather than keep fighting.
#include "large/arena.h"

namespace ffa {

constinit Arena Arena::arena_{};

static constexpr unsigned kMetaSlices =
    unsigned((sizeof(ArenaChunk) + kSliceSize - 1) / kSliceSize);

static uint64_t run_mask(unsigned bit, unsigned n) {
  return (n >= 64 ? ~uint64_t(0) : ((uint64_t(1) << n) - 1)) << bit;
}

// Calls fn(word, mask) for each bitmap word the run [pos, pos+n) touches.
template <typename Fn>
static void for_each_word(unsigned pos, unsigned n, Fn fn) {
  unsigned done = 0;
  while (done < n) {
    unsigned bit = (pos + done) % 64;
    unsigned take = n - done < 64 - bit ? n - done : 64 - bit;
    fn((pos + done) / 64, run_mask(bit, take));
    done += take;
  }
}

static void set_bits(std::atomic<uint64_t>* map, unsigned pos, unsigned n) {
  for_each_word(pos, n, [map](unsigned w, uint64_t mask) {
    if ((map[w].load(std::memory_order_relaxed) & mask) != mask) {
      map[w].fetch_or(mask, std::memory_order_relaxed);
    }
  });
}

static void clear_bits(std::atomic<uint64_t>* map, unsigned pos, unsigned n) {
  for_each_word(pos, n, [map](unsigned w, uint64_t mask) {
    map[w].fetch_and(~mask, std::memory_order_release);
  });
}

// The time unit of ArenaChunk::released_at.
static uint32_t release_time(uint64_t ns) { return uint32_t(ns >> 20); }

// Marks [pos, pos + n) as just released: recent, and the time in each word it touches (a store
// only when the time moved on, so a line other CPUs read is not taken for nothing).
static void mark_released(ArenaChunk* chunk, unsigned pos, unsigned n) {
  set_bits(chunk->recent, pos, n);
  uint32_t now = release_time(os::now_coarse_ns());
  for_each_word(pos, n, [chunk, now](unsigned w, uint64_t) {
    if (chunk->released_at[w].load(std::memory_order_relaxed) != now) {
      chunk->released_at[w].store(now, std::memory_order_relaxed);
    }
  });
}

static bool any_bits(const std::atomic<uint64_t>* map, unsigned pos, unsigned n) {
  bool any = false;
  for_each_word(pos, n, [&](unsigned w, uint64_t mask) {
    any |= (map[w].load(std::memory_order_relaxed) & mask) != 0;
  });
  return any;
}

bool Arena::grow(bool try_only) {
  if (try_only && growing_.load(std::memory_order_relaxed) != 0) return false;
  if (count_.load(std::memory_order_relaxed) >= kMaxChunks) return false;
  growing_.fetch_add(1, std::memory_order_relaxed);
  void* mapped_base;
  size_t mapped_size;
  // 2 MiB alignment only when huge pages are wanted: the alignment slack costs address space,
  // which matters under RLIMIT_AS.
  void* p = os::map(kChunkSize, huge_pages_ ? kChunkAlign : os::kPageSize, &mapped_base,
                    &mapped_size);
  bool ok = p != nullptr && page_map().ensure(p, kChunkSize);
  if (ok && huge_pages_) os::advise_huge_pages(p, kChunkSize);
  if (ok) {
    auto* chunk = static_cast<ArenaChunk*>(p);  // fresh mapping: zeroed, so all slices free
    chunk->base = static_cast<char*>(p);
    chunk->free_slices.store(kSlicesPerChunk - kMetaSlices, std::memory_order_relaxed);
    for (unsigned i = 0; i < kMetaSlices; ++i) {
      chunk->in_use[i / 64].fetch_or(uint64_t(1) << (i % 64), std::memory_order_relaxed);
    }
    // Publish in the first empty slot: a slot is filled before the count covers it, so
    // readers that trust the count always find a chunk. Losers help the count along.
    while (true) {
      unsigned n = count_.load(std::memory_order_acquire);
      if (n >= kMaxChunks) {
        ok = false;
        break;
      }
      chunk->index = n;
      ArenaChunk* expected = nullptr;
      bool won = chunks_[n].compare_exchange_strong(expected, chunk, std::memory_order_acq_rel);
      count_.compare_exchange_strong(n, n + 1, std::memory_order_acq_rel);
      if (won) break;
    }
  }
  if (!ok && p != nullptr) os::unmap(mapped_base, mapped_size);
  growing_.fetch_sub(1, std::memory_order_relaxed);
  return ok;
}

bool Arena::claim_bits(ArenaChunk* chunk, unsigned pos, unsigned n) {
  if (FFA_UNLIKELY(lose_races_.load(std::memory_order_relaxed) != 0)) {
    lose_races_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  unsigned done = 0;
  while (done < n) {
    unsigned bit = (pos + done) % 64;
    unsigned take = n - done < 64 - bit ? n - done : 64 - bit;
    uint64_t mask = run_mask(bit, take);
    std::atomic<uint64_t>& word = chunk->in_use[(pos + done) / 64];
    uint64_t old = word.load(std::memory_order_relaxed);
    do {
      if (old & mask) {
        clear_bits(chunk->in_use, pos, done);
        return false;
      }
    } while (!word.compare_exchange_weak(old, old | mask, std::memory_order_acquire,
                                         std::memory_order_relaxed));
    done += take;
  }
  return true;
}

// First index >= pos whose bit is clear, or kSlicesPerChunk.
static unsigned next_clear(const ArenaChunk* chunk, unsigned pos) {
  while (pos < kSlicesPerChunk) {
    uint64_t free_bits = ~chunk->in_use[pos / 64].load(std::memory_order_relaxed) &
                         (~uint64_t(0) << (pos % 64));
    if (free_bits != 0) return (pos & ~63u) + unsigned(__builtin_ctzll(free_bits));
    pos = (pos & ~63u) + 64;
  }
  return kSlicesPerChunk;
}

// First index in [pos, end) whose bit is set, or end.
static unsigned next_set(const ArenaChunk* chunk, unsigned pos, unsigned end) {
  while (pos < end) {
    uint64_t set_bits = chunk->in_use[pos / 64].load(std::memory_order_relaxed) &
                        (~uint64_t(0) << (pos % 64));
    if (set_bits != 0) {
      unsigned found = (pos & ~63u) + unsigned(__builtin_ctzll(set_bits));
      return found < end ? found : end;
    }
    pos = (pos & ~63u) + 64;
  }
  return end;
}

// Lowest start of `n` free slices in a row, or kSlicesPerChunk: one pass over the bitmap, a word
// at a time. A run either carries over from the words below (`run` free slices end where this
// word starts) or lies inside one word, where folding the free mask onto itself keeps bit i only
// if bits i .. i+n-1 are all free (log2 n steps). Walking hole by hole instead cost 140 ns a claim
// in a fragmented chunk (seed workload, 8 local committers).
static unsigned find_free_run(const ArenaChunk* chunk, unsigned n) {
  unsigned run = 0;
  for (unsigned w = 0; w < kBitmapWords; ++w) {
    uint64_t used = chunk->in_use[w].load(std::memory_order_relaxed);
    if (used == 0) {
      run += 64;
      if (run >= n) return w * 64 + 64 - run;
      continue;
    }
    if (run + unsigned(__builtin_ctzll(used)) >= n) return w * 64 - run;
    if (n < 64) {
      uint64_t starts = ~used;
      for (unsigned have = 1; have < n && starts != 0;) {
        unsigned step = have < n - have ? have : n - have;
        starts &= starts >> step;
        have += step;
      }
      if (starts != 0) return w * 64 + unsigned(__builtin_ctzll(starts));
    }
    run = unsigned(__builtin_clzll(used));
  }
  return kSlicesPerChunk;
}

// The same for a start aligned beyond a slice: run by run, since the alignment is of the address
// (chunks themselves are only page aligned).
static unsigned find_aligned_free_run(const ArenaChunk* chunk, unsigned n, size_t align) {
  for (unsigned at = next_clear(chunk, kMetaSlices); at < kSlicesPerChunk;) {
    unsigned run_end = next_set(chunk, at, kSlicesPerChunk);
    uintptr_t at_address = uintptr_t(chunk->base) + size_t(at) * kSliceSize;
    unsigned start = unsigned((align_up(at_address, align) - uintptr_t(chunk->base)) / kSliceSize);
    if (start + n <= run_end) return start;
    at = next_clear(chunk, run_end);
  }
  return kSlicesPerChunk;
}

// First fit: the lowest run that can hold the request. Runs too small are skipped, so a
// fragmented chunk is never mistaken for a full one; the scan is bounded by the chunk (4096
// slices). Measured against best fit among the first 8 fits on the seed workload: no larger a
// footprint (peak RSS equal or up to 0.7 MiB lower) for fewer runs looked at (CPU per commit
// -1.7% at 1 committer, -2.1% at 2, -2.9% at 8). Claims of 256 KiB and up placed from the top
// of the chunk instead, so small ones do not split the big holes, cost 1.1-1.3 MiB more peak RSS
// at 2 and 8 committers (10 runs each; 512 KiB and up: 2.1-2.7 MiB more).
Span* Arena::try_claim_in(ArenaChunk* chunk, size_t slices, size_t align, ClaimFailure* why) {
  unsigned n = unsigned(slices);
  for (unsigned lost = 0;;) {
    unsigned pos = align <= kSliceSize ? find_free_run(chunk, n)
                                       : find_aligned_free_run(chunk, n, align);
    if (pos == kSlicesPerChunk) return nullptr;
    if (claim_bits(chunk, pos, n)) return publish(chunk, pos, n);
    if (++lost >= Arena::kMaxLostRaces) {
      *why = ClaimFailure::kContended;
      return nullptr;
    }
  }
}

// Fills in the descriptor of a run whose bits this thread just claimed.
Span* Arena::publish(ArenaChunk* chunk, unsigned pos, unsigned n) {
  Span* span = &chunk->spans[pos];
  span->start = chunk->base + size_t(pos) * kSliceSize;
  span->slices = n;
  span->chunk = chunk->index;
  span->is_zero = !any_bits(chunk->dirty, pos, n);
  set_bits(chunk->dirty, pos, n);
  chunk->free_slices.fetch_sub(n, std::memory_order_relaxed);
  page_map().set(span->start, size_t(n) * kSliceSize, span);
  note_in_use(in_use_bytes_.fetch_add(size_t(n) * kSliceSize, std::memory_order_relaxed) +
              size_t(n) * kSliceSize);
  return span;
}

Span* Arena::try_claim(size_t slices, size_t align, ClaimFailure* why) {
  *why = ClaimFailure::kNoSpace;
  if (slices > kSlicesPerChunk - kMetaSlices || align > kChunkAlign) return nullptr;
  // First fit over the whole arena keeps it packed at its low end: freed (still resident)
  // slices are reused before fresh ones are touched, in whichever chunk they are. Starting each
  // thread at the chunk of its last claim let a thread that once overflowed into a new chunk
  // keep growing it while the chunk below had room (seed workload, 8 local committers: peak RSS
  // 42.0 -> 37.0 MiB; CPU unchanged, +6% when cross-CPU cache traffic is dear). A chunk without
  // enough free slices costs one load. One where the races keep being lost is passed over too:
  // giving up there would send the claim to a region, a syscall, while the next chunk has room.
  bool contended = false;
  unsigned count = count_.load(std::memory_order_acquire);
  for (unsigned c = 0; c < count; ++c) {
    ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
    if (chunk->free_slices.load(std::memory_order_relaxed) < slices) continue;
    ClaimFailure chunk_why = ClaimFailure::kNoSpace;
    Span* span = try_claim_in(chunk, slices, align, &chunk_why);
    if (span != nullptr) {
      *why = ClaimFailure::kNone;
      return span;
    }
    contended |= chunk_why == ClaimFailure::kContended;
  }
  *why = contended ? ClaimFailure::kContended : ClaimFailure::kNoSpace;
  return nullptr;
}

void Arena::release(Span* span) {
  ArenaChunk* chunk = chunks_[span->chunk].load(std::memory_order_relaxed);
  unsigned pos = unsigned((span->start - chunk->base) / kSliceSize);
  unsigned n = span->slices;
  span->kind = SpanKind::kFree;
  span->owner = nullptr;
  in_use_bytes_.fetch_sub(size_t(n) * kSliceSize, std::memory_order_relaxed);
  mark_released(chunk, pos, n);
  clear_bits(chunk->in_use, pos, n);
  chunk->free_slices.fetch_add(n, std::memory_order_relaxed);
}

bool Arena::try_extend(Span* span, size_t more) {
  ArenaChunk* chunk = chunks_[span->chunk].load(std::memory_order_relaxed);
  unsigned end = unsigned((span->start - chunk->base) / kSliceSize) + span->slices;
  if (end + more > kSlicesPerChunk || !claim_bits(chunk, end, unsigned(more))) return false;
  if (any_bits(chunk->dirty, end, unsigned(more))) span->is_zero = 0;
  set_bits(chunk->dirty, end, unsigned(more));
  chunk->free_slices.fetch_sub(unsigned(more), std::memory_order_relaxed);
  span->slices += unsigned(more);
  page_map().set(chunk->base + size_t(end) * kSliceSize, more * kSliceSize, span);
  note_in_use(in_use_bytes_.fetch_add(more * kSliceSize, std::memory_order_relaxed) +
              more * kSliceSize);
  return true;
}

void Arena::shrink(Span* span, size_t fewer) {
  ArenaChunk* chunk = chunks_[span->chunk].load(std::memory_order_relaxed);
  span->slices -= unsigned(fewer);
  unsigned end = unsigned((span->start - chunk->base) / kSliceSize) + span->slices;
  // The tail's descriptor must not describe a live block: a free of a pointer into the tail is
  // then reported instead of freeing this run.
  chunk->spans[end].kind = SpanKind::kFree;
  page_map().set(chunk->base + size_t(end) * kSliceSize, fewer * kSliceSize, &chunk->spans[end]);
  in_use_bytes_.fetch_sub(fewer * kSliceSize, std::memory_order_relaxed);
  mark_released(chunk, end, unsigned(fewer));
  clear_bits(chunk->in_use, end, unsigned(fewer));
  chunk->free_slices.fetch_add(unsigned(fewer), std::memory_order_relaxed);
}

namespace {

// Which slices a purge may take: free, dirty and, when recent ones are spared, not recent (in
// every word, or only in words that saw a release since a given time).
struct PurgeRule {
  bool spare_recent;
  bool since_given;
  uint32_t since;

  bool spares_recent_in(const ArenaChunk* chunk, unsigned w) const {
    if (!spare_recent) return false;
    if (!since_given) return true;
    return int32_t(chunk->released_at[w].load(std::memory_order_relaxed) - since) >= 0;
  }
  uint64_t purgeable(const ArenaChunk* chunk, unsigned w) const {
    uint64_t bits = ~chunk->in_use[w].load(std::memory_order_relaxed) &
                    chunk->dirty[w].load(std::memory_order_relaxed);
    if (spares_recent_in(chunk, w)) bits &= ~chunk->recent[w].load(std::memory_order_relaxed);
    return bits;
  }
};

}  // namespace

size_t Arena::purge_free_runs(bool spare_recent, size_t min_bytes, size_t max_bytes,
                              uint64_t released_since_ns) {
  const PurgeRule rule{spare_recent, released_since_ns != 0, release_time(released_since_ns)};
  size_t purged = 0;
  unsigned count = count_.load(std::memory_order_acquire);
  if (min_bytes != 0) {
    size_t slices = 0;
    for (unsigned c = 0; c < count; ++c) {
      ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
      for (unsigned w = 0; w < kBitmapWords; ++w) {
        slices += unsigned(__builtin_popcountll(rule.purgeable(chunk, w)));
      }
    }
    if (slices * kSliceSize < min_bytes) {  // not worth a syscall: only age the recent marks
      for (unsigned c = 0; c < count; ++c) {
        for (auto& word : chunks_[c].load(std::memory_order_acquire)->recent) {
          word.store(0, std::memory_order_relaxed);
        }
      }
      return 0;
    }
  }
  for (unsigned c = 0; c < count && purged < max_bytes; ++c) {
    ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
    unsigned pos = kMetaSlices;
    while (pos < kSlicesPerChunk && purged < max_bytes) {
      // Next slice that is free, dirty and (if asked) not recently released.
      unsigned w = pos / 64;
      uint64_t candidates = rule.purgeable(chunk, w) & (~uint64_t(0) << (pos % 64));
      if (candidates == 0) {
        pos = (w + 1) * 64;
        continue;
      }
      unsigned start = w * 64 + unsigned(__builtin_ctzll(candidates));
      unsigned end = start + 1;
      while (end < kSlicesPerChunk && end - start < 8192) {
        if (!(rule.purgeable(chunk, end / 64) & (uint64_t(1) << (end % 64)))) break;
        ++end;
      }
      if (claim_bits(chunk, start, end - start)) {
        os::purge(chunk->base + size_t(start) * kSliceSize, size_t(end - start) * kSliceSize);
        clear_bits(chunk->dirty, start, end - start);
        clear_bits(chunk->in_use, start, end - start);
        purged += size_t(end - start) * kSliceSize;
      }
      pos = end;
    }
    // What was recent now ages by one call (only once the whole chunk was looked at).
    if (spare_recent && pos >= kSlicesPerChunk) {
      for (auto& word : chunk->recent) word.store(0, std::memory_order_relaxed);
    }
  }
  return purged;
}

size_t Arena::dirty_free_bytes() const {
  size_t slices = 0;
  unsigned count = count_.load(std::memory_order_acquire);
  for (unsigned c = 0; c < count; ++c) {
    ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
    for (unsigned w = 0; w < kBitmapWords; ++w) {
      slices += unsigned(__builtin_popcountll(~chunk->in_use[w].load(std::memory_order_relaxed) &
                                               chunk->dirty[w].load(std::memory_order_relaxed)));
    }
  }
  return slices * kSliceSize;
}

}  // namespace ffa

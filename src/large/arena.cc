// Bitmap claims: find a run of zero bits from the hint, then set it word by word with CAS. A CAS
// that finds a bit already taken means another thread won the race: undo what we set and look
// further; after a few such losses report kContended rather than keep fighting.
#include "large/arena.h"

namespace ffa {

constinit Arena Arena::arena_{};

static constexpr unsigned kMetaSlices =
    unsigned((sizeof(ArenaChunk) + kSliceSize - 1) / kSliceSize);
static constexpr unsigned kMaxLostRaces = 4;

static uint64_t run_mask(unsigned bit, unsigned n) {
  return (n >= 64 ? ~uint64_t(0) : ((uint64_t(1) << n) - 1)) << bit;
}

bool Arena::grow(bool try_only) {
  if (try_only && growing_.load(std::memory_order_relaxed) != 0) return false;
  if (count_.load(std::memory_order_relaxed) >= kMaxChunks) return false;
  growing_.fetch_add(1, std::memory_order_relaxed);
  void* mapped_base;
  size_t mapped_size;
  void* p = os::map(kChunkSize, kChunkAlign, &mapped_base, &mapped_size);
  bool ok = p != nullptr && page_map().ensure(p, kChunkSize);
  if (ok) {
    auto* chunk = static_cast<ArenaChunk*>(p);  // fresh mapping: zeroed, so all slices free
    chunk->base = static_cast<char*>(p);
    for (unsigned i = 0; i < kMetaSlices; ++i) {
      chunk->in_use[i / 64].fetch_or(uint64_t(1) << (i % 64), std::memory_order_relaxed);
    }
    LockGuard guard(publish_lock_);
    unsigned n = count_.load(std::memory_order_relaxed);
    ok = n < kMaxChunks;
    if (ok) {
      chunk->index = n;
      chunks_[n].store(chunk, std::memory_order_release);
      count_.store(n + 1, std::memory_order_release);
    }
  }
  if (!ok && p != nullptr) os::unmap(mapped_base, mapped_size);
  growing_.fetch_sub(1, std::memory_order_relaxed);
  return ok;
}

bool Arena::claim_bits(ArenaChunk* chunk, unsigned pos, unsigned n) {
  unsigned done = 0;
  while (done < n) {
    unsigned bit = (pos + done) % 64;
    unsigned take = n - done < 64 - bit ? n - done : 64 - bit;
    uint64_t mask = run_mask(bit, take);
    std::atomic<uint64_t>& word = chunk->in_use[(pos + done) / 64];
    uint64_t old = word.load(std::memory_order_relaxed);
    do {
      if (old & mask) {
        clear_bits(chunk, pos, done);
        return false;
      }
    } while (!word.compare_exchange_weak(old, old | mask, std::memory_order_acquire,
                                         std::memory_order_relaxed));
    done += take;
  }
  return true;
}

void Arena::clear_bits(ArenaChunk* chunk, unsigned pos, unsigned n) {
  unsigned done = 0;
  while (done < n) {
    unsigned bit = (pos + done) % 64;
    unsigned take = n - done < 64 - bit ? n - done : 64 - bit;
    chunk->in_use[(pos + done) / 64].fetch_and(~run_mask(bit, take), std::memory_order_release);
    done += take;
  }
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

Span* Arena::try_claim_in(ArenaChunk* chunk, size_t slices, size_t align_slices, unsigned from,
                          ClaimFailure* why) {
  unsigned n = unsigned(slices);
  unsigned lost = 0;
  unsigned pos = from;
  while (true) {
    pos = next_clear(chunk, pos);
    pos = unsigned(align_up(pos, align_slices));
    if (pos + n > kSlicesPerChunk) return nullptr;
    unsigned blocked = next_set(chunk, pos, pos + n);
    if (blocked < pos + n) {
      pos = blocked + 1;
      continue;
    }
    if (claim_bits(chunk, pos, n)) break;
    if (++lost >= kMaxLostRaces) {
      *why = ClaimFailure::kContended;
      return nullptr;
    }
  }
  Span* span = &chunk->spans[pos];
  span->start = chunk->base + size_t(pos) * kSliceSize;
  span->slices = n;
  span->chunk = chunk->index;
  page_map().set(span->start, size_t(n) * kSliceSize, span);
  in_use_bytes_.fetch_add(size_t(n) * kSliceSize, std::memory_order_relaxed);
  return span;
}

Span* Arena::try_claim(size_t slices, size_t align, unsigned* hint, ClaimFailure* why) {
  *why = ClaimFailure::kNoSpace;
  if (slices > kSlicesPerChunk - kMetaSlices || align > kChunkAlign) return nullptr;
  size_t align_slices = align <= kSliceSize ? 1 : align / kSliceSize;
  unsigned count = count_.load(std::memory_order_acquire);
  if (count == 0) return nullptr;
  unsigned start_chunk = (*hint / kSlicesPerChunk) % count;
  unsigned start_pos = *hint % kSlicesPerChunk;
  // Every chunk once, starting at the hint; the hint's own chunk is scanned from the hint.
  for (unsigned i = 0; i <= count; ++i) {
    unsigned c = (start_chunk + i) % count;
    unsigned from = i == 0 ? start_pos : kMetaSlices;
    if (i == count) {
      if (start_pos <= kMetaSlices) break;  // the hint's chunk was scanned whole already
      from = kMetaSlices;
    }
    ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
    Span* span = try_claim_in(chunk, slices, align_slices, from, why);
    if (span != nullptr) {
      // The next scan starts at this run: a block freed and claimed again lands on the same warm
      // slices instead of marching on through fresh memory.
      *hint = c * kSlicesPerChunk + unsigned((span->start - chunk->base) / kSliceSize);
      *why = ClaimFailure::kNone;
      return span;
    }
    if (*why == ClaimFailure::kContended) return nullptr;
  }
  return nullptr;
}

void Arena::release(Span* span) {
  ArenaChunk* chunk = chunks_[span->chunk].load(std::memory_order_relaxed);
  unsigned pos = unsigned((span->start - chunk->base) / kSliceSize);
  unsigned n = span->slices;
  span->kind = SpanKind::kFree;
  span->owner = nullptr;
  in_use_bytes_.fetch_sub(size_t(n) * kSliceSize, std::memory_order_relaxed);
  clear_bits(chunk, pos, n);
}

size_t Arena::purge_free_runs() {
  size_t purged = 0;
  unsigned count = count_.load(std::memory_order_acquire);
  for (unsigned c = 0; c < count; ++c) {
    ArenaChunk* chunk = chunks_[c].load(std::memory_order_acquire);
    unsigned pos = kMetaSlices;
    while ((pos = next_clear(chunk, pos)) < kSlicesPerChunk) {
      unsigned end = next_set(chunk, pos, kSlicesPerChunk);
      if (claim_bits(chunk, pos, end - pos)) {
        os::purge(chunk->base + size_t(pos) * kSliceSize, size_t(end - pos) * kSliceSize);
        purged += size_t(end - pos) * kSliceSize;
        clear_bits(chunk, pos, end - pos);
      }
      pos = end;
    }
  }
  return purged;
}

}  // namespace ffa

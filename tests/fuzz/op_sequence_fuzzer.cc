// libFuzzer target: the input is a program of allocator operations over the whole prefixed API
// (ffa_*), run against a shadow model of the live blocks. Every result is checked:
//
//  - alignment (16 bytes always, the requested alignment, pages for valloc/pvalloc);
//  - malloc_usable_size >= the request (pvalloc: the request rounded up to pages), and stable
//    while the block lives;
//  - no two live blocks overlap (over their usable sizes, every byte of which is written);
//  - contents: every live block is filled with its own byte and verified before it is freed or
//    reallocated, and on demand; realloc keeps the common prefix; calloc returns zeroes;
//  - ffa_owns(p) is 1 exactly when p is a live block start: 0 for interiors, foreign pointers,
//    arbitrary addresses and freed starts not handed out again (every ffa_* block of the process
//    is in the model);
//  - errors, as README.md "API semantics" says: impossible sizes and overflowing products give
//    NULL + ENOMEM (the block given to a failing realloc/reallocarray stays intact);
//    posix_memalign returns EINVAL for a bad alignment (*out and errno untouched);
//    aligned_alloc/memalign round an alignment up to a power of two, NULL + EINVAL above 2^63;
//  - malloc_trim leaves live blocks alone, and ffa_stats_get then agrees with the model.
//
// A helper thread runs some operations synchronously (remote malloc, free, realloc; exiting and
// being replaced, which orphans its heap), so the remote-free and heap-adoption paths are covered
// while each input still runs deterministically.
//
// Input encoding (tests/fuzz/make_corpus.py writes seeds in it): a sequence of ops; each op is
// one byte (op = byte % kNumOps, the Op enum below) followed by the op's operands. Operands read
// past the end of the input are 0. Sizes are a class byte and then class-dependent bytes (see
// Reader::size), block references are a 16-bit index into the live blocks. At the end of each
// input all live blocks are verified and freed, so inputs are independent as far as the model is
// concerned (the allocator's caches carry over, as in any long-running program).
//
// FFA_FUZZ_TRACE=1 prints each op (its number in the Op enum) as it runs.
// A failed check prints "op_sequence_fuzzer: CHECK FAILED ..." with the op number and aborts.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "ffalloc/ffalloc.h"

namespace {

constexpr size_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr size_t kSmallMax = 32 * kKiB;
constexpr size_t kLargeMax = 4 * kMiB;
constexpr size_t kHugeMax = 64 * kMiB;
constexpr size_t kMaxLive = 2048;                   // live blocks per input
constexpr size_t kMaxLiveBytes = 160 * kMiB;        // usable bytes live per input
constexpr size_t kMaxHugeBytesPerInput = 192 * kMiB;  // requests above 4 MiB, summed
constexpr int kMaxHugeAlignPerInput = 8;            // alignments above 4 MiB
constexpr size_t kPtrdiffMax = size_t(PTRDIFF_MAX);

size_t page_size() {
  static const size_t p = size_t(sysconf(_SC_PAGESIZE));
  return p;
}

[[noreturn]] void fail(long op, const char* what, const void* p, size_t a, size_t b) {
  fprintf(stderr, "op_sequence_fuzzer: CHECK FAILED at op %ld: %s (ptr %p, %zu, %zu)\n", op, what,
          p, a, b);
  fflush(stderr);
  abort();
}

long g_op = 0;  // index of the op being run, for messages
#define CHECK(cond, what, p, a, b) \
  do {                             \
    if (!(cond)) fail(g_op, what, p, size_t(a), size_t(b)); \
  } while (0)

// Known ffalloc bugs the run may step around, named in FFA_FUZZ_TOLERATE (comma-separated), to
// look for other bugs meanwhile; CI sets nothing, so a known bug keeps failing until fixed.
//   memalign-0   memalign(0, n) and aligned_alloc(0, n) are not called (clz(0) in the
//                rounding: undefined behaviour)
//   aligned-grow alignments above a page (memalign: once rounded up) are not asked for with
//                sizes above 4 MiB (a cached smaller region grown with mremap may move to a
//                merely page-aligned address)
bool tolerated(const char* name) {
  static const char* list = getenv("FFA_FUZZ_TOLERATE");
  if (list == nullptr) return false;
  const size_t n = strlen(name);
  for (const char* s = strstr(list, name); s != nullptr; s = strstr(s + 1, name))
    if ((s == list || s[-1] == ',') && (s[n] == '\0' || s[n] == ',')) return true;
  return false;
}

bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
bool aligned_to(const void* p, size_t a) { return (uintptr_t(p) & (a - 1)) == 0; }
size_t next_pow2(size_t a) {
  size_t r = 1;
  while (r < a) r <<= 1;
  return r;
}

// Keeps the compiler from folding calls with constant impossible arguments.
template <class T>
T opaque(T v) {
  __asm__ volatile("" : "+r"(v));
  return v;
}

// Reads operands; past the end every read is 0.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ >= end_; }
  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
  uint32_t u32() { return uint32_t(u16()) | (uint32_t(u16()) << 16); }
  uint64_t u64() { return uint64_t(u32()) | (uint64_t(u32()) << 32); }

  // A request size: a class byte, then class-dependent bytes.
  //   0-5  tiny: 1 byte, 0..255          6-9  small: 2 bytes, 0..32 KiB
  //   10   boundary: 1 byte, a table      11-13 large: 4 bytes, 32 KiB+1 .. 4 MiB
  //   14   slice multiple +- 8: 2 bytes   15   huge: 4 bytes, 4 MiB .. 64 MiB (192 MiB of
  //                                            these per input; beyond, small)
  size_t size() {
    static const size_t kBoundary[] = {
        0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 255, 256, 257,
        511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 8193,
        16383, 16384, 16385, kSmallMax - 1, kSmallMax, kSmallMax + 1, 64 * kKiB, 256 * kKiB - 1,
        256 * kKiB, 256 * kKiB + 1, kMiB, 2 * kMiB, kLargeMax - 1, kLargeMax, kLargeMax + 1};
    uint8_t c = u8() % 16;
    if (c <= 5) return u8();
    if (c <= 9) return u16() % (kSmallMax + 1);
    if (c == 10) return kBoundary[u8() % (sizeof(kBoundary) / sizeof(kBoundary[0]))];
    if (c <= 13) return kSmallMax + 1 + u32() % (kLargeMax - kSmallMax);
    if (c == 14) {
      uint8_t k = u8();
      return 8 * kKiB * (1 + k % 64) + (u8() % 17) - 8;
    }
    return kLargeMax + u32() % (kHugeMax - kLargeMax + 1);
  }

  // A valid alignment (power of two): mostly <= 4 KiB, sometimes up to 2 MiB, rarely up to
  // 1 TiB (k >= 250, then a byte for the exponent).
  size_t alignment() {
    uint8_t k = u8();
    if (k < 200) return size_t(1) << (k % 13);
    if (k < 250) return size_t(1) << (13 + k % 9);
    return size_t(1) << (22 + u8() % 19);
  }

  // Any alignment value, valid or not.
  size_t any_alignment() {
    uint8_t k = u8();
    switch (k % 8) {
      case 0: return 0;
      case 1: return u8();                            // small, often not a power of two
      case 2: return u16();
      case 3: return (size_t(1) << (u8() % 64)) + 1;  // just above a power of two
      case 4: return (size_t(1) << (u8() % 64)) - 1;
      case 5: return size_t(1) << 63;
      case 6: return SIZE_MAX - u8();
      default: return alignment();
    }
  }

  // A size no allocator can satisfy: beyond PTRDIFF_MAX, or beyond the address space.
  size_t impossible_size() {
    switch (u8() % 6) {
      case 0: return SIZE_MAX;
      case 1: return SIZE_MAX - u8();
      case 2: return kPtrdiffMax + 1;
      case 3: return kPtrdiffMax + 1 + u32();
      case 4: return kPtrdiffMax;
      default: return size_t(1) << (50 + u8() % 14);  // 1 PiB .. 2^63
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// How a block was made, for the free variant allowed on it.
enum class Origin : uint8_t { kMalloc, kAlignedAlloc, kOther };

struct Block {
  size_t size;     // requested
  size_t usable;   // malloc_usable_size when made
  size_t align;    // aligned_alloc's alignment (Origin::kAlignedAlloc)
  size_t index;    // position in Model::order_
  Origin origin;
  uint8_t fill;    // every usable byte holds it
};

// Runs closures on a helper thread, one at a time, waiting for each. restart() lets the thread
// exit (its heap, still owning live blocks, is orphaned) and starts a new one (which may adopt it).
class Remote {
 public:
  static Remote& get() {
    static Remote* r = new Remote;  // never destroyed: the thread outlives every input
    return *r;
  }
  template <class F>
  void run(F f) {
    std::unique_lock<std::mutex> l(mu_);
    job_ = [](void* c) { (*static_cast<F*>(c))(); };
    ctx_ = &f;
    cv_.notify_all();
    cv_.wait(l, [&] { return job_ == nullptr; });
  }
  void restart() {
    run([] { quit_ = true; });
    thread_.join();
    thread_ = std::thread([this] { loop(); });
  }

 private:
  Remote() : thread_([this] { loop(); }) {}
  void loop() {
    quit_ = false;
    std::unique_lock<std::mutex> l(mu_);
    while (!quit_) {
      cv_.wait(l, [&] { return job_ != nullptr; });
      job_(ctx_);
      job_ = nullptr;
      cv_.notify_all();
    }
  }
  static thread_local bool quit_;
  std::mutex mu_;
  std::condition_variable cv_;
  void (*job_)(void*) = nullptr;
  void* ctx_ = nullptr;
  std::thread thread_;
};
thread_local bool Remote::quit_ = false;

// Bytes equal to `fill` over [p, p+n)? Returns the first bad offset, or n.
size_t first_mismatch(const void* p, size_t n, uint8_t fill) {
  static uint8_t ref[256][4096];
  static bool ready = false;
  if (!ready) {
    for (int i = 0; i < 256; ++i) memset(ref[i], i, sizeof(ref[i]));
    ready = true;
  }
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t off = 0; off < n; off += 4096) {
    size_t len = n - off < 4096 ? n - off : 4096;
    if (memcmp(b + off, ref[fill], len) != 0) {
      for (size_t i = 0; i < len; ++i)
        if (b[off + i] != fill) return off + i;
    }
  }
  return n;
}

class Model {
 public:
  size_t live() const { return order_.size(); }
  bool full() const { return order_.size() >= kMaxLive; }
  size_t& huge_bytes_left() { return huge_bytes_left_; }
  int& huge_align_left() { return huge_align_left_; }

  // Checks a block just returned for a request of `size` (and `align`, 0 if none), fills it,
  // and records it.
  void add(void* p, size_t size, size_t align, Origin origin, bool zeroed, size_t min_usable = 0) {
    CHECK(p != nullptr, "allocation returned NULL", p, size, align);
    CHECK(aligned_to(p, 16), "block not 16-byte aligned", p, size, align);
    if (align != 0) CHECK(aligned_to(p, align), "block not aligned as requested", p, size, align);
    size_t usable = ffa_malloc_usable_size(p);
    CHECK(usable >= size, "usable size below the request", p, usable, size);
    CHECK(usable >= min_usable, "usable size below the rounded request", p, usable, min_usable);
    CHECK(ffa_owns(p) == 1, "ffa_owns is 0 for a new block", p, size, usable);
    const uintptr_t a = uintptr_t(p);
    auto next = blocks_.lower_bound(a);
    CHECK(next == blocks_.end() || next->first != a, "block handed out twice", p, size,
          next->second.size);
    if (next != blocks_.end())
      CHECK(a + usable <= next->first, "new block overlaps the next live block", p, usable,
            next->first - a);
    if (next != blocks_.begin()) {
      auto prev = std::prev(next);
      CHECK(prev->first + prev->second.usable <= a, "new block overlaps the previous live block",
            p, prev->second.usable, a - prev->first);
    }
    if (zeroed) {
      size_t bad = first_mismatch(p, size, 0);
      CHECK(bad == size, "calloc block not zeroed", p, bad, size);
    }
    uint8_t fill = uint8_t(next_fill_++ * 37 + 1);
    memset(p, fill, usable);
    Block b{size, usable, origin == Origin::kAlignedAlloc ? align : 0, order_.size(), origin, fill};
    blocks_.emplace(a, b);
    order_.push_back(a);
    live_bytes_ += usable;
  }

  // Picks a live block by a 16-bit index; nullptr if none.
  void* pick(Reader& r) {
    uint16_t i = r.u16();
    if (order_.empty()) return nullptr;
    return reinterpret_cast<void*>(order_[i % order_.size()]);
  }
  const Block& block(void* p) const { return blocks_.at(uintptr_t(p)); }
  bool is_live_start(const void* p) const { return blocks_.count(uintptr_t(p)) != 0; }

  // ffa_owns(p) is 1 exactly for live block starts, whatever p is (every ffa_* block of this
  // process is in the model).
  void check_owns(const void* p) const {
    int want = is_live_start(p) ? 1 : 0;
    int got = ffa_owns(p);
    CHECK(got == want, "ffa_owns wrong (got, want)", p, got, want);
  }

  // The block is intact: usable size unchanged, every byte its fill.
  void verify(void* p) const {
    const Block& b = block(p);
    size_t us = ffa_malloc_usable_size(p);
    CHECK(us == b.usable, "usable size changed while live", p, us, b.usable);
    CHECK(ffa_owns(p) == 1, "ffa_owns is 0 for a live block", p, b.size, b.usable);
    size_t bad = first_mismatch(p, b.usable, b.fill);
    CHECK(bad == b.usable, "live block contents changed (offset, usable)", p, bad, b.usable);
  }

  // Removes a block from the model (after verifying it); the caller frees it.
  Block take(void* p) {
    verify(p);
    auto it = blocks_.find(uintptr_t(p));
    Block b = it->second;
    uintptr_t moved = order_.back();
    order_[b.index] = moved;
    blocks_.at(moved).index = b.index;
    order_.pop_back();
    blocks_.erase(it);
    live_bytes_ -= b.usable;
    return b;
  }

  // After p was freed: ffa_owns(p) must be 0 (nothing was allocated since).
  void freed(void* p) {
    CHECK(ffa_owns(p) == 0, "ffa_owns is 1 right after free", p, 0, 0);
    freed_[freed_next_++ % kFreedRing] = uintptr_t(p);
  }

  // A freed start: owned only if it is a live start again.
  void probe_freed(Reader& r) {
    uintptr_t a = freed_[r.u8() % kFreedRing];
    if (a != 0) check_owns(reinterpret_cast<void*>(a));
  }

  size_t live_bytes() const { return live_bytes_; }

  // Would a new block of `usable` bytes stay within the budget?
  bool fits(size_t size) const { return live_bytes_ + size <= kMaxLiveBytes; }

  void verify_all() const {
    for (uintptr_t a : order_) verify(reinterpret_cast<void*>(a));
  }

  void release_all() {
    while (!order_.empty()) {
      void* p = reinterpret_cast<void*>(order_.back());
      take(p);
      ffa_free(p);
      freed(p);
    }
    huge_bytes_left_ = kMaxHugeBytesPerInput;
    huge_align_left_ = kMaxHugeAlignPerInput;
  }

 private:
  static constexpr size_t kFreedRing = 64;
  std::map<uintptr_t, Block> blocks_;
  std::vector<uintptr_t> order_;
  size_t live_bytes_ = 0;
  uint32_t next_fill_ = 0;
  size_t huge_bytes_left_ = kMaxHugeBytesPerInput;
  int huge_align_left_ = kMaxHugeAlignPerInput;
  uintptr_t freed_[kFreedRing] = {};
  size_t freed_next_ = 0;
};

enum Op : uint8_t {
  kMalloc,            // size
  kCalloc,            // size, elem selector
  kRealloc,           // block, size
  kReallocNull,       // size
  kReallocarray,      // block (or NULL if none/flag), size, elem selector
  kPosixMemalign,     // any_alignment, size
  kAlignedAlloc,      // any_alignment, size
  kMemalign,          // any_alignment, size
  kValloc,            // size
  kPvalloc,           // size
  kFree,              // block
  kFreeSized,         // block
  kFreeAlignedSized,  // block
  kReallocZero,       // block: realloc(p, 0) frees
  kOwnsProbe,         // block, offset byte, freed-ring index
  kForeignProbe,      // selector
  kImpossible,        // selector, block, impossible size / operands
  kRemoteMalloc,      // size, alignment flag
  kRemoteFree,        // block
  kRemoteRealloc,     // block, size
  kVerifyAll,         //
  kTrim,              //
  kFreeMany,          // count byte, then a block per free
  kRemoteRestart,     // the helper thread exits, a new one starts
  kNumOps,
};

// Keeps a request within the per-input budgets: kMaxHugeBytesPerInput of sizes above 4 MiB (each
// is written and verified in full), kMaxHugeAlignPerInput alignments above 4 MiB, and about
// kMaxLiveBytes live. Over budget, the size shrinks to a small one, the alignment (if given) to
// 4 MiB.
size_t budget_size(Model& m, size_t size, size_t* align = nullptr) {
  if (size > kLargeMax) {
    if (m.huge_bytes_left() >= size) {
      m.huge_bytes_left() -= size;
    } else {
      size %= kSmallMax;
    }
  }
  if (align != nullptr && *align > kLargeMax) {
    if (m.huge_align_left() > 0) {
      --m.huge_align_left();
    } else {
      *align = kLargeMax;
    }
  }
  if (!m.fits(size)) size %= kSmallMax;
  return size;
}

size_t pick_elem(Reader& r) {
  static const size_t kElems[] = {1, 2, 3, 4, 8, 12, 16, 24, 40, 100, 4096};
  return kElems[r.u8() % (sizeof(kElems) / sizeof(kElems[0]))];
}

// realloc-like call on a live block p (already taken out of the model as `old`): checks the
// result and puts the new block in.
void after_realloc(Model& m, void* p, const Block& old, void* q, size_t size) {
  if (size == 0) {
    CHECK(q == nullptr, "realloc(p, 0) did not return NULL", q, old.size, 0);
    m.freed(p);
    return;
  }
  CHECK(q != nullptr, "realloc failed", p, old.size, size);
  if (q != p) m.freed(p);
  size_t keep = old.size < size ? old.size : size;
  size_t bad = first_mismatch(q, keep, old.fill);
  CHECK(bad == keep, "realloc lost contents (offset, kept)", q, bad, keep);
  m.add(q, size, 0, Origin::kMalloc, false);
}

void alloc_aligned(Model& m, Reader& r, Op op) {
  size_t align = r.any_alignment();
  size_t size = r.size();
  if (align == 0 && op != kPosixMemalign && tolerated("memalign-0")) align = 1;
  if (size > kLargeMax && align > page_size() && align <= (size_t(1) << 62) &&
      (is_pow2(align) || op == kMemalign) && tolerated("aligned-grow"))
    align = page_size();
  const bool pow2 = is_pow2(align);
  // Impossible alignments are kImpossible's job; README promises up to 1 TiB.
  if (pow2 && align > (size_t(1) << 40)) align = size_t(1) << 40;
  if (!pow2 && align > (size_t(1) << 20) && align <= (size_t(1) << 62))
    align = (align & 0xfffff) | 3;  // still not a power of two, now < 1 MiB
  size = budget_size(m, size, pow2 ? &align : nullptr);
  errno = 4321;
  if (op == kPosixMemalign) {
    void* out = reinterpret_cast<void*>(0x1234);
    int rc = ffa_posix_memalign(&out, opaque(align), size);
    if (!pow2 || align % sizeof(void*) != 0) {
      CHECK(rc == EINVAL, "posix_memalign of a bad alignment is not EINVAL", nullptr, align, rc);
      CHECK(out == reinterpret_cast<void*>(0x1234), "failed posix_memalign wrote *out", out,
            align, 0);
      CHECK(errno == 4321, "failed posix_memalign changed errno", nullptr, align, errno);
      return;
    }
    CHECK(rc == 0, "posix_memalign failed", nullptr, align, size);
    m.add(out, size, align, Origin::kOther, false);
    return;
  }
  void* p = op == kAlignedAlloc ? ffa_aligned_alloc(opaque(align), size)
                                : ffa_memalign(opaque(align), size);
  if (pow2) {
    m.add(p, size, align, op == kAlignedAlloc ? Origin::kAlignedAlloc : Origin::kOther, false);
    return;
  }
  // Not a power of two: aligned_alloc and memalign round it up to the next one (README, as
  // glibc 2.36); above 2^63 there is none: NULL + EINVAL; 2^63 fits no block: NULL + ENOMEM.
  if (align > (size_t(1) << 62)) {
    const int want = align > (size_t(1) << 63) ? EINVAL : ENOMEM;
    CHECK(p == nullptr, "impossible alignment accepted", p, align, size);
    CHECK(errno == want, "impossible alignment: errno (got, want)", nullptr, errno, want);
    return;
  }
  m.add(p, size, next_pow2(align), Origin::kOther, false);
}

// Calls that must fail: NULL (or the error code) and the right errno; blocks they are given stay
// intact.
void impossible(Model& m, Reader& r) {
  uint8_t which = r.u8() % 10;
  void* blk = m.pick(r);
  size_t big = r.impossible_size();
  errno = 0;
  switch (which) {
    case 0:
      CHECK(ffa_malloc(opaque(big)) == nullptr, "malloc of an impossible size succeeded", nullptr,
            big, 0);
      CHECK(errno == ENOMEM, "malloc of an impossible size: errno", nullptr, big, errno);
      break;
    case 1: {  // the product overflows, or is impossible
      size_t a = (size_t(1) << (33 + r.u8() % 31)) + r.u8();
      size_t b = (size_t(1) << (33 + r.u8() % 31)) + r.u8();
      CHECK(ffa_calloc(opaque(a), opaque(b)) == nullptr, "calloc overflow succeeded", nullptr, a,
            b);
      CHECK(errno == ENOMEM, "calloc overflow: errno", nullptr, a, errno);
      break;
    }
    case 2:
      CHECK(ffa_calloc(1, opaque(big)) == nullptr, "calloc of an impossible size succeeded",
            nullptr, big, 0);
      CHECK(errno == ENOMEM, "calloc impossible: errno", nullptr, big, errno);
      break;
    case 3:
    case 4: {  // realloc / reallocarray of a live block (or NULL)
      size_t a = big, b = 1;
      if (which == 4) {
        a = (size_t(1) << (33 + r.u8() % 31)) + r.u8();
        b = (size_t(1) << (33 + r.u8() % 31)) + r.u8();
      }
      void* q = which == 3 ? ffa_realloc(blk, opaque(big))
                           : ffa_reallocarray(blk, opaque(a), opaque(b));
      CHECK(q == nullptr, "realloc/reallocarray of an impossible size succeeded", blk, a, b);
      CHECK(errno == ENOMEM, "realloc/reallocarray impossible: errno", blk, a, errno);
      if (blk != nullptr) m.verify(blk);  // still live, unchanged
      break;
    }
    case 5: {
      void* out = reinterpret_cast<void*>(0x1234);
      size_t align = r.u8() % 2 ? size_t(1) << 63 : size_t(64);
      size_t size = align == 64 ? big : 10;
      errno = 4321;
      int rc = ffa_posix_memalign(&out, opaque(align), opaque(size));
      CHECK(rc == ENOMEM, "impossible posix_memalign is not ENOMEM", nullptr, align, size);
      CHECK(out == reinterpret_cast<void*>(0x1234), "failed posix_memalign wrote *out", out, align,
            size);
      break;
    }
    case 6:
      CHECK(ffa_memalign(opaque(size_t(1) << 63), 10) == nullptr, "memalign(2^63) succeeded",
            nullptr, 0, 0);
      CHECK(errno == ENOMEM, "memalign(2^63): errno", nullptr, 0, errno);
      errno = 0;
      CHECK(ffa_aligned_alloc(opaque(size_t(4096)), opaque(big)) == nullptr,
            "aligned_alloc of an impossible size succeeded", nullptr, big, 0);
      CHECK(errno == ENOMEM, "aligned_alloc impossible: errno", nullptr, big, errno);
      break;
    case 7: {
      size_t n = r.u8() % 2 ? SIZE_MAX - r.u16() % page_size() : kPtrdiffMax - r.u8();
      CHECK(ffa_pvalloc(opaque(n)) == nullptr, "pvalloc overflow succeeded", nullptr, n, 0);
      CHECK(errno == ENOMEM, "pvalloc overflow: errno", nullptr, n, errno);
      break;
    }
    case 8:
      CHECK(ffa_valloc(opaque(big)) == nullptr, "valloc of an impossible size succeeded", nullptr,
            big, 0);
      CHECK(errno == ENOMEM, "valloc impossible: errno", nullptr, big, errno);
      break;
    default: {  // remote realloc of an impossible size: the block stays
      if (blk == nullptr) break;
      void* q = blk;
      int e = 0;
      Remote::get().run([&] {
        errno = 0;
        q = ffa_realloc(blk, opaque(big));
        e = errno;
      });
      CHECK(q == nullptr && e == ENOMEM, "remote realloc of an impossible size", blk, big, e);
      m.verify(blk);
      break;
    }
  }
}

// Pointers that are not live block starts: ffa_owns 0 (and never a crash, whatever the
// address); definitely foreign ones also have usable size 0.
void foreign_probe(Model& m, Reader& r) {
  static int global_int;
  int local = 0;
  void* libc_block = malloc(r.u8() + 1u);
  const void* p;
  bool foreign = true;
  switch (r.u8() % 8) {
    case 0: p = nullptr; break;
    case 1: p = &local; break;
    case 2: p = &global_int; break;
    case 3: p = libc_block; break;
    case 4: p = reinterpret_cast<const void*>(uintptr_t(0xffff800000000000ull) + r.u32()); break;
    case 5: p = reinterpret_cast<const void*>(uintptr_t(r.u64())); foreign = false; break;
    default: {  // near a live block, before or after its start
      const char* b = static_cast<const char*>(m.pick(r));
      int16_t off = int16_t(r.u16());
      p = b == nullptr ? nullptr : b + off;
      foreign = false;
      break;
    }
  }
  m.check_owns(p);
  if (foreign)
    CHECK(ffa_malloc_usable_size(p) == 0, "usable size of a foreign pointer is not 0", p, 0, 0);
  free(libc_block);
}

void run_op(Model& m, Reader& r, Op op) {
  switch (op) {
    case kMalloc:
    case kReallocNull:
    case kValloc:
    case kPvalloc: {
      size_t size = r.size();
      if (m.full()) {  // at capacity: free one instead
        if (void* p = m.pick(r)) {
          m.take(p);
          ffa_free(p);
          m.freed(p);
        }
        return;
      }
      size = budget_size(m, size);
      if (op == kMalloc) return m.add(ffa_malloc(size), size, 0, Origin::kMalloc, false);
      if (op == kReallocNull)
        return m.add(ffa_realloc(nullptr, size), size, 0, Origin::kMalloc, false);
      const size_t pg = page_size();
      if (op == kValloc) return m.add(ffa_valloc(size), size, pg, Origin::kOther, false);
      return m.add(ffa_pvalloc(size), size, pg, Origin::kOther, false, (size + pg - 1) / pg * pg);
    }
    case kCalloc: {
      size_t size = r.size();
      size_t elem = pick_elem(r);
      if (m.full()) return;
      size = budget_size(m, size);
      size_t count = size / elem;
      return m.add(ffa_calloc(count, elem), count * elem, 0, Origin::kMalloc, true);
    }
    case kRealloc:
    case kReallocarray: {
      void* p = m.pick(r);
      size_t size = r.size();
      size_t elem = op == kReallocarray ? pick_elem(r) : 1;
      if (p == nullptr) {
        if (m.full()) return;
        size = budget_size(m, size);
        void* q = op == kRealloc ? ffa_realloc(nullptr, size)
                                 : ffa_reallocarray(nullptr, size / elem, elem);
        return m.add(q, size / elem * elem, 0, Origin::kMalloc, false);
      }
      Block old = m.take(p);
      size = budget_size(m, size);
      size_t count = size / elem;
      void* q = op == kRealloc ? ffa_realloc(p, count * elem) : ffa_reallocarray(p, count, elem);
      return after_realloc(m, p, old, q, count * elem);
    }
    case kPosixMemalign:
    case kAlignedAlloc:
    case kMemalign:
      if (m.full()) return;
      return alloc_aligned(m, r, op);
    case kFree:
    case kFreeSized:
    case kFreeAlignedSized:
    case kReallocZero: {
      void* p = m.pick(r);
      if (p == nullptr) {
        if (op == kFree) ffa_free(nullptr);
        return;
      }
      Block b = m.take(p);
      if (op == kReallocZero) {
        errno = 0;
        return after_realloc(m, p, b, ffa_realloc(p, 0), 0);
      }
      if (op == kFreeSized && b.origin == Origin::kMalloc) {
        ffa_free_sized(p, b.size);
      } else if (op == kFreeAlignedSized && b.origin == Origin::kAlignedAlloc) {
        ffa_free_aligned_sized(p, b.align, b.size);
      } else {
        ffa_free(p);
      }
      return m.freed(p);
    }
    case kOwnsProbe: {
      void* p = m.pick(r);
      uint8_t off = r.u8();
      m.probe_freed(r);
      if (p == nullptr) return;
      const Block& b = m.block(p);
      m.check_owns(p);
      // Interior pointers are never block starts (blocks do not overlap).
      size_t in = 1 + off % (b.usable > 1 ? b.usable - 1 : 1);
      if (in < b.usable)
        CHECK(ffa_owns(static_cast<char*>(p) + in) == 0, "ffa_owns is 1 for an interior pointer",
              p, in, b.usable);
      if (b.usable > 4096)
        CHECK(ffa_owns(static_cast<char*>(p) + 4096) == 0,
              "ffa_owns is 1 for an interior pointer", p, 4096, b.usable);
      CHECK(ffa_malloc_usable_size(p) == b.usable, "usable size changed while live", p,
            ffa_malloc_usable_size(p), b.usable);
      return;
    }
    case kForeignProbe:
      return foreign_probe(m, r);
    case kImpossible:
      return impossible(m, r);
    case kRemoteMalloc: {
      size_t size = r.size();
      bool aligned = r.u8() & 1;
      if (m.full()) return;
      size = budget_size(m, size);
      void* p = nullptr;  // owned by the helper thread's heap: frees here are remote
      Remote::get().run([&] { p = aligned ? ffa_aligned_alloc(64, size) : ffa_malloc(size); });
      return m.add(p, size, aligned ? 64 : 0, aligned ? Origin::kAlignedAlloc : Origin::kMalloc,
                   false);
    }
    case kRemoteFree: {
      void* p = m.pick(r);
      if (p == nullptr) return;
      m.take(p);
      Remote::get().run([&] { ffa_free(p); });
      return m.freed(p);
    }
    case kRemoteRealloc: {
      void* p = m.pick(r);
      size_t size = r.size();
      if (p == nullptr) return;
      Block old = m.take(p);
      size = budget_size(m, size);
      void* q = nullptr;
      Remote::get().run([&] { q = ffa_realloc(p, size); });
      return after_realloc(m, p, old, q, size);
    }
    case kVerifyAll:
      return m.verify_all();
    case kTrim: {
      ffa_malloc_trim(0);
      m.verify_all();  // trimming must not touch live blocks
      // The helper thread is idle, so the counters are exact: the live blocks are in use (small
      // ones count their class size, which is their usable size), and all of that is mapped.
      struct ffa_stats st;
      ffa_stats_get(&st);
      const uint64_t in_use = st.small_bytes_in_use + st.large_bytes_in_use;
      CHECK(in_use >= m.live_bytes(), "stats: small + large bytes in use < live usable bytes",
            nullptr, in_use, m.live_bytes());
      CHECK(st.bytes_reserved >= st.arena_bytes_in_use + st.region_bytes_cached,
            "stats: bytes reserved < arena in use + regions cached", nullptr, st.bytes_reserved,
            st.arena_bytes_in_use + st.region_bytes_cached);
      CHECK(st.bytes_reserved_peak >= st.bytes_reserved, "stats: reserved peak < reserved",
            nullptr, st.bytes_reserved_peak, st.bytes_reserved);
      return;
    }
    case kFreeMany: {
      for (int n = r.u8() % 32; n > 0 && m.live() > 0; --n) {
        void* p = m.pick(r);
        m.take(p);
        ffa_free(p);
        m.freed(p);
      }
      return;
    }
    case kRemoteRestart:
      return Remote::get().restart();
    case kNumOps:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Model* model = new Model;  // reused: its freed-pointer ring spans inputs
  static const bool trace = getenv("FFA_FUZZ_TRACE") != nullptr;
  Reader r(data, size);
  g_op = 0;
  while (!r.done()) {
    Op op = Op(r.u8() % kNumOps);
    if (trace) fprintf(stderr, "op %ld: Op %d, %zu live\n", g_op, int(op), model->live());
    run_op(*model, r, op);
    ++g_op;
  }
  model->release_all();
  return 0;
}

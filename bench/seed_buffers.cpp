// seed_buffers: the Linux XFS CIL shadow-buffer pattern that started ffalloc. C committer threads
// each repeatedly get a buffer (70% exactly 64 KiB, the rest log-uniform over 4 KiB-1 MiB),
// memcpy a payload into it and hand it to ONE push thread, which verifies it and gives it back.
// Reports commit latency (getting the buffer + the memcpy of one commit) p50/p99/max, peak RSS and
// final RSS (VmRSS once every buffer is released and every thread joined).
// Stresses: mid-size and large allocations at a high rate, freed remotely by a single thread.
//
// --mode picks how a commit gets and gives back its buffer:
//   alloc          (default) malloc, and free by the push thread. With --local each committer
//                  verifies and frees its own buffer right after the commit (no hand-off).
//   limit          no allocator: each committer reuses ONE buffer of the maximum size for every
//                  commit, so a commit costs the memcpy alone. The push thread still receives one
//                  hand-off token per commit through the same queue (same synchronisation as
//                  alloc) but frees nothing; since the next commit overwrites the buffer, the
//                  committer runs the verification itself, right after the commit. --local drops
//                  the hand-off.
//   ideal-local    no allocator: each committer owns a pool of buffers per size class, fed the
//                  exact same sizes as alloc, and "frees" its own buffer right after the commit
//                  back to its pool, LIFO (the reference for alloc --local).
//   ideal-handoff  no allocator: alloc's cross-thread shape with the same push thread, which hands
//                  each verified buffer back to its committer through a per-committer lock-free
//                  single-producer/single-consumer return ring; before each commit the committer
//                  drains its ring into its per-size-class pools and reuses buffers LIFO.
// The three reference modes make no malloc/free call in the timed loops (the only one on a worker
// thread is libstdc++ freeing the thread's start record as it exits): their buffers are carved
// before timing from anonymous mmap mappings
// (MAP_NORESERVE, pages faulted in on first touch as an allocator's fresh memory is). They use
// plain 4 KiB pages: no madvise at all, so no MADV_HUGEPAGE (with the usual THP setting
// "madvise" an unadvised mapping gets no huge pages, as memory of an allocator that does not ask
// for them gets none). Pool size classes: powers of two, 4 KiB to 1 MiB (9 classes); a buffer's
// pages are touched only as far as the commits it served reached.
// Every mode draws the same size sequence (per-committer seeds), copies the same payload, runs the
// same checks (the sequence number stamped over the first 8 bytes, the payload's last byte) and
// prints the same fields.
// Timing starts once every thread exists and waits at a latch: secs covers the commits only.
// --owners (diagnostic; it adds work and a table of a byte per page, so leave it out of timed runs)
// records which committer last wrote each page and prints foreign_page_pct: the share of pages a
// commit wrote that another committer wrote last. On a machine with many cores, those pages' lines
// sit in another core's cache, and the copy into them pays for pulling each one across.
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cmath>
#include <latch>
#include <memory>
#include <thread>

#include "common.hpp"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMaxBuf = 1 << 20;
constexpr size_t kQueueDepth = 64;    // buffers in flight between committers and push thread
constexpr uint64_t kTotal = 100'000;  // commits at --scale 1, split among committers

enum class Mode { alloc, limit, ideal_local, ideal_handoff };

struct Commit {
  unsigned char* p;
  size_t size;
  uint64_t seq;  // committer id << 40 | commit index
};

size_t pick_size(bench::Rng& rng) {
  if (rng.below(10) < 7) return 64 << 10;
  return static_cast<size_t>(4096.0 * std::pow(256.0, rng.unit()));  // 4 KiB .. 1 MiB
}

// Size classes of the ideal pools: powers of two from 4 KiB (one page) to 1 MiB. Coarse on purpose:
// fewer classes mean fewer distinct buffers per committer, so less to fault in and keep resident,
// and the 64 KiB commits get a class of their own at no rounding.
constexpr size_t kClasses = 9;

size_t class_of(size_t size) {
  const size_t pages = (size + kPage - 1) / kPage;
  return pages <= 1 ? 0 : static_cast<size_t>(64 - __builtin_clzll(pages - 1));
}

size_t class_bytes(size_t c) { return kPage << c; }

unsigned char* map_bytes(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) bench::fail("mmap failed, bytes", n);
  return static_cast<unsigned char*>(p);
}

// One committer's buffers for the ideal modes: a LIFO stack per size class, every buffer carved
// before timing from one mapping. Only its committer touches it; the stacks never grow past what
// was carved, since a buffer only ever goes back to the stack it came from.
class Pool {
 public:
  explicit Pool(const std::array<size_t, kClasses>& count) {
    size_t total = 0;
    for (size_t c = 0; c < kClasses; ++c) {
      bytes_ += count[c] * class_bytes(c);
      total += count[c];
    }
    slots_.resize(total);
    if (bytes_ != 0) base_ = map_bytes(bytes_);
    unsigned char* next = base_;
    size_t at = 0;
    for (size_t c = 0; c < kClasses; ++c) {
      bottom_[c] = top_[c] = at;
      for (size_t i = 0; i < count[c]; ++i, next += class_bytes(c)) slots_[top_[c]++] = next;
      at = top_[c];
    }
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    if (base_ != nullptr) munmap(base_, bytes_);
  }

  unsigned char* get(size_t size) {
    const size_t c = class_of(size);
    if (top_[c] == bottom_[c]) bench::fail("ideal pool ran dry, class", c);
    return slots_[--top_[c]];
  }
  void put(unsigned char* p, size_t size) {
    const size_t c = class_of(size);
    slots_[top_[c]++] = p;
  }

 private:
  unsigned char* base_ = nullptr;
  size_t bytes_ = 0;
  std::vector<unsigned char*> slots_;
  std::array<size_t, kClasses> bottom_{}, top_{};
};

// ideal-handoff's way back: the push thread is the only producer, the committer the only
// consumer, so a ring with one release store per side is enough (no CAS, no ABA). A committer has
// at most kQueueDepth + 2 buffers out (queue, push thread, the one being filled), so the ring
// never fills; if it did, the push thread would wait.
struct alignas(64) ReturnRing {
  static constexpr uint32_t kCap = 128;
  static_assert(kCap >= kQueueDepth + 2);
  alignas(64) std::atomic<uint32_t> head{0};  // next slot the committer takes
  alignas(64) std::atomic<uint32_t> tail{0};  // next slot the push thread fills
  alignas(64) Commit slot[kCap];

  void put(const Commit& c) {
    const uint32_t t = tail.load(std::memory_order_relaxed);
    while (t - head.load(std::memory_order_acquire) == kCap) std::this_thread::yield();
    slot[t % kCap] = c;
    tail.store(t + 1, std::memory_order_release);
  }
  template <typename F>
  void drain(F&& take) {
    uint32_t h = head.load(std::memory_order_relaxed);
    const uint32_t t = tail.load(std::memory_order_acquire);
    if (h == t) return;
    for (; h != t; ++h) take(slot[h % kCap]);
    head.store(h, std::memory_order_release);
  }
};

// --owners: the committer (id + 1; 0 = nobody yet) that last wrote each page, in a table indexed
// by page number modulo its size. Pages 64 GiB apart share an entry: rare, and only ever a
// miscount for a diagnostic.
class PageOwners {
 public:
  PageOwners() = default;
  PageOwners(const PageOwners&) = delete;
  PageOwners& operator=(const PageOwners&) = delete;
  ~PageOwners() { munmap(owner_, kEntries); }

  // Marks [p, p + size) as written by committer id; returns how many of its pages another wrote last.
  uint64_t write(const unsigned char* p, size_t size, uint64_t id) {
    const uint8_t me = static_cast<uint8_t>(id % 255 + 1);
    uint64_t foreign = 0;
    const uintptr_t first = reinterpret_cast<uintptr_t>(p) / kPage;
    const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + size - 1) / kPage;
    for (uintptr_t page = first; page <= last; ++page) {
      const uint8_t was = owner_[page % kEntries].exchange(me, std::memory_order_relaxed);
      foreign += was != 0 && was != me;
    }
    return foreign;
  }
  static uint64_t pages(const unsigned char* p, size_t size) {
    return (reinterpret_cast<uintptr_t>(p) + size - 1) / kPage - reinterpret_cast<uintptr_t>(p) / kPage + 1;
  }

 private:
  static constexpr size_t kEntries = size_t{1} << 24;
  // Zero pages from mmap, so only the entries in use become resident (and no allocator is asked).
  std::atomic<uint8_t>* owner_ = reinterpret_cast<std::atomic<uint8_t>*>(map_bytes(kEntries));
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args =
      bench::parse_args(argc, argv, 1, /*has_local=*/true, {"alloc", "limit", "ideal-local", "ideal-handoff"},
                        /*has_owners=*/true);
  const Mode mode = args.mode == "limit"           ? Mode::limit
                    : args.mode == "ideal-local"   ? Mode::ideal_local
                    : args.mode == "ideal-handoff" ? Mode::ideal_handoff
                                                   : Mode::alloc;
  if (mode == Mode::ideal_handoff && args.local) {
    std::fprintf(stderr, "%s: --local contradicts --mode ideal-handoff (use --mode ideal-local)\n", argv[0]);
    return 2;
  }
  const bool local = args.local || mode == Mode::ideal_local;
  const bool ideal = mode == Mode::ideal_local || mode == Mode::ideal_handoff;
  const auto committers = static_cast<uint64_t>(args.threads);
  const uint64_t commits_each = std::max<uint64_t>(1, bench::scaled(kTotal, args.scale) / committers);
  const uint64_t total = commits_each * committers;

  // Everything the timed section uses is set up here. Committer id's commits are slots
  // [id * commits_each, (id + 1) * commits_each) of sizes and latency.
  auto* payload = static_cast<unsigned char*>(bench::checked_malloc(kMaxBuf));
  for (size_t i = 0; i < kMaxBuf; ++i) payload[i] = static_cast<unsigned char>(i * 251 + 17);
  std::vector<uint32_t> sizes(total), latency(total);
  for (uint64_t id = 0; id < committers; ++id) {
    bench::Rng rng(500 + id);
    for (uint64_t i = 0; i < commits_each; ++i) sizes[id * commits_each + i] = static_cast<uint32_t>(pick_size(rng));
  }

  unsigned char* limit_bufs = mode == Mode::limit ? map_bytes(committers * kMaxBuf) : nullptr;
  std::vector<std::unique_ptr<Pool>> pools;
  if (ideal) {
    // Carve per class what the committer can ever have out at once: one buffer when it frees its
    // own, kQueueDepth + 2 when the push thread gives them back; never more than it will use.
    const size_t most_out = local ? 1 : kQueueDepth + 2;
    for (uint64_t id = 0; id < committers; ++id) {
      std::array<size_t, kClasses> uses{};
      for (uint64_t i = 0; i < commits_each; ++i) ++uses[class_of(sizes[id * commits_each + i])];
      for (auto& u : uses) u = std::min(u, most_out);
      pools.push_back(std::make_unique<Pool>(uses));
    }
  }
  std::unique_ptr<ReturnRing[]> rings;
  if (mode == Mode::ideal_handoff) rings.reset(new ReturnRing[committers]);

  // The checks, run on every commit by whoever ends up with the buffer.
  auto verify = [&](const Commit& c) {
    uint64_t seq;
    std::memcpy(&seq, c.p, sizeof seq);
    if (seq != c.seq) bench::fail("buffer header overwritten", c.seq);
    if (c.p[c.size - 1] != payload[c.size - 1]) bench::fail("buffer tail overwritten", c.seq);
  };
  // Gives a verified buffer back: to the allocator, or to its committer's pool (directly when the
  // caller is that committer, through its return ring when it is the push thread).
  auto release = [&](const Commit& c, bool by_owner) {
    switch (mode) {
      case Mode::alloc:
        std::free(c.p);
        break;
      case Mode::limit:
        break;
      case Mode::ideal_local:
      case Mode::ideal_handoff:
        if (by_owner)
          pools[c.seq >> 40]->put(c.p, c.size);
        else
          rings[c.seq >> 40].put(c);
        break;
    }
  };

  bench::BoundedQueue<Commit> queue(kQueueDepth);
  std::latch go(1);  // threads are created before timing and wait here
  std::unique_ptr<PageOwners> owners;
  if (args.owners) owners = std::make_unique<PageOwners>();
  std::atomic<uint64_t> pages_written{0}, pages_foreign{0};

  auto commit = [&](uint64_t id) {
    const uint32_t* my_sizes = sizes.data() + id * commits_each;
    uint32_t* my_latency = latency.data() + id * commits_each;
    Pool* pool = ideal ? pools[id].get() : nullptr;
    ReturnRing* ring = mode == Mode::ideal_handoff ? &rings[id] : nullptr;
    unsigned char* const limit_buf = mode == Mode::limit ? limit_bufs + id * kMaxBuf : nullptr;
    go.wait();
    for (uint64_t i = 0; i < commits_each; ++i) {
      const size_t size = my_sizes[i];
      const uint64_t seq = (id << 40) | i;
      const uint64_t t0 = bench::now_ns();
      unsigned char* p;
      switch (mode) {
        case Mode::alloc:
          p = static_cast<unsigned char*>(bench::checked_malloc(size));
          break;
        case Mode::limit:
          p = limit_buf;
          break;
        default:
          if (ring != nullptr) ring->drain([&](const Commit& back) { pool->put(back.p, back.size); });
          p = pool->get(size);
          break;
      }
      std::memcpy(p, payload, size);
      std::memcpy(p, &seq, sizeof seq);
      bench::escape(p);
      my_latency[i] = static_cast<uint32_t>(std::min<uint64_t>(bench::now_ns() - t0, UINT32_MAX));
      if (owners) {
        pages_foreign.fetch_add(owners->write(p, size, id), std::memory_order_relaxed);
        pages_written.fetch_add(PageOwners::pages(p, size), std::memory_order_relaxed);
      }
      const Commit c{p, size, seq};
      if (local || mode == Mode::limit) verify(c);
      if (local)
        release(c, /*by_owner=*/true);
      else
        queue.push(c);
    }
  };

  uint64_t tokens = 0;  // commits the push thread received
  std::thread push([&] {
    go.wait();
    Commit c;
    while (queue.pop(c)) {
      ++tokens;
      if (mode != Mode::limit) {
        verify(c);
        release(c, /*by_owner=*/false);
      }
    }
  });
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < committers; ++t) threads.emplace_back(commit, t);

  const uint64_t start = bench::now_ns();
  go.count_down();
  for (auto& t : threads) t.join();
  queue.close();
  push.join();
  const double secs = bench::seconds_since(start);
  if (!local && tokens != total) bench::fail("push thread missed commits", total - tokens);

  // Release everything before reading the final RSS: what is left resident is the program plus
  // whatever the allocator keeps.
  const bench::Latency lat = bench::latency_summary(latency);
  std::vector<std::thread>().swap(threads);
  std::vector<uint32_t>().swap(latency);
  std::vector<uint32_t>().swap(sizes);
  std::free(payload);
  if (limit_bufs != nullptr) munmap(limit_bufs, committers * kMaxBuf);
  pools.clear();
  rings.reset();
  const unsigned long long final_kib = bench::rss_kib();

  bench::print_ops("seed_buffers", total, secs);
  std::printf(" committers=%llu mode=%.*s frees=%s", static_cast<unsigned long long>(committers),
              static_cast<int>(args.mode.size()), args.mode.data(), local ? "local" : "push");
  bench::print_latency(lat);
  if (owners)
    std::printf(" foreign_page_pct=%.2f", 100.0 * static_cast<double>(pages_foreign.load()) /
                                              static_cast<double>(std::max<uint64_t>(pages_written.load(), 1)));
  bench::end_line(final_kib);
  return 0;
}

// larson: a server in the style of Larson & Krishnan's benchmark. Each of N threads owns an array
// of slots and keeps replacing random slots with new objects of 16-1024 bytes (new[]/delete[]).
// Every epoch each thread hands its whole array on to the next thread, so most objects are
// freed by a thread other than the one that allocated them.
// Stresses: cross-thread frees, remote-free reclamation, and heap blowup under thread migration.
#include <barrier>
#include <thread>

#include "common.hpp"

namespace {

constexpr size_t kSlots = 2000;          // objects per array
constexpr uint64_t kEpoch = 20000;       // replacements between hand-offs
constexpr uint64_t kTotal = 32'000'000;  // replacements at --scale 1, split among threads

struct Slot {
  char* p;
  uint32_t size;
  uint64_t tag;
};

void make(Slot& s, bench::Rng& rng) {
  s.size = static_cast<uint32_t>(rng.range(16, 1024));
  s.tag = rng.next();
  s.p = new char[s.size];
  bench::fill_object(s.p, s.size, s.tag);
}

void drop(Slot& s) {
  bench::check_object(s.p, s.size, s.tag);
  delete[] s.p;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 2);
  const auto nthreads = static_cast<size_t>(args.threads);
  const uint64_t epochs = std::max<uint64_t>(1, bench::scaled(kTotal, args.scale) / nthreads / kEpoch);

  std::vector<std::vector<Slot>> arrays(nthreads, std::vector<Slot>(kSlots));
  std::barrier sync(static_cast<std::ptrdiff_t>(nthreads));

  auto worker = [&](size_t id) {
    bench::Rng rng(1000 + id);
    for (auto& s : arrays[id]) make(s, rng);
    sync.arrive_and_wait();
    for (uint64_t e = 0; e < epochs; ++e) {
      // Thread id works on array id+e: every epoch each array moves on to another thread.
      auto& slots = arrays[(id + e) % nthreads];
      for (uint64_t i = 0; i < kEpoch; ++i) {
        Slot& s = slots[rng.below(kSlots)];
        drop(s);
        make(s, rng);
      }
      sync.arrive_and_wait();
    }
    for (auto& s : arrays[(id + epochs) % nthreads]) drop(s);
  };

  const uint64_t start = bench::now_ns();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < nthreads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  const double secs = bench::seconds_since(start);

  bench::print_ops("larson", epochs * kEpoch * nthreads, secs);
  std::printf(" threads=%zu", nthreads);
  bench::end_line();
  return 0;
}

// small_churn: single-threaded small-object churn in the style of cfrac/espresso. A working set of
// live objects (8-512 bytes, skewed to small) sits in an array; each step replaces a random one
// and creates a few short-lived temporaries freed LIFO, touching and verifying every object.
// Stresses: the small-size fast paths, size-class spread, and reuse of just-freed memory.
#include <cmath>

#include "common.hpp"

namespace {

constexpr size_t kLive = 20000;  // live working set
constexpr size_t kSizeTable = 1 << 16;
constexpr uint64_t kSteps = 18'000'000;  // default replacement steps at --scale 1

struct Slot {
  void* p;
  uint32_t size;
  uint64_t tag;
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 1);
  const uint64_t steps = bench::scaled(kSteps, args.scale);
  bench::Rng rng(42);

  // 8 * 64^(u^2): median ~23 bytes, a long tail up to 512.
  std::vector<uint32_t> sizes(kSizeTable);
  for (auto& s : sizes) {
    const double u = rng.unit();
    s = static_cast<uint32_t>(std::lround(8.0 * std::pow(64.0, u * u)));
  }
  auto make = [&](Slot& s) {
    s.size = sizes[rng.below(kSizeTable)];
    s.tag = rng.next();
    s.p = bench::checked_malloc(s.size);
    bench::fill_object(s.p, s.size, s.tag);
  };
  auto drop = [](Slot& s) {
    bench::check_object(s.p, s.size, s.tag);
    std::free(s.p);
  };

  std::vector<Slot> live(kLive);
  for (auto& s : live) make(s);

  uint64_t ops = 0;
  const uint64_t start = bench::now_ns();
  for (uint64_t i = 0; i < steps; ++i) {
    Slot& s = live[rng.below(kLive)];
    drop(s);
    make(s);

    // Temporaries: built, read back, and dropped in reverse order.
    const int ntemp = static_cast<int>(rng.range(1, 4));
    Slot tmp[4];
    for (int t = 0; t < ntemp; ++t) make(tmp[t]);
    for (int t = ntemp - 1; t >= 0; --t) drop(tmp[t]);
    ops += 1 + static_cast<uint64_t>(ntemp);
  }
  const double secs = bench::seconds_since(start);

  for (auto& s : live) drop(s);
  bench::print_ops("small_churn", ops, secs);
  std::printf(" live=%zu", kLive);
  bench::end_line();
  return 0;
}

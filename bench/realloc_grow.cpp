// realloc_grow: a buffer that grows by realloc from 64 KiB to 256 MiB in 1.5x steps, like a
// growing vector or a log being read into memory; each step writes the new tail and checks the
// old contents survived the move. Repeated a few times.
// Stresses: in-place growth versus copy (mremap for large blocks), and transient peak RSS.
#include "common.hpp"

namespace {

constexpr size_t kStart = size_t{64} << 10;
constexpr size_t kEnd = size_t{256} << 20;
constexpr uint64_t kReps = 10;  // full 64 KiB -> 256 MiB growths at --scale 1

// Each step fills [from, to) with one byte value; checking the first, middle and last byte of
// every earlier step catches a realloc that lost or shifted data.
struct Region {
  size_t from, to;
  unsigned char value;
};

void verify(const unsigned char* p, const std::vector<Region>& regions) {
  for (const auto& r : regions) {
    if (p[r.from] != r.value || p[(r.from + r.to) / 2] != r.value || p[r.to - 1] != r.value)
      bench::fail("realloc lost data at offset", r.from);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 1);
  const uint64_t reps = bench::scaled(kReps, args.scale);

  uint64_t ops = 0;
  const uint64_t start = bench::now_ns();
  for (uint64_t rep = 0; rep < reps; ++rep) {
    std::vector<Region> regions;
    size_t size = kStart;
    auto* p = static_cast<unsigned char*>(bench::checked_malloc(size));
    std::memset(p, 1, size);
    regions.push_back({0, size, 1});
    while (size < kEnd) {
      const size_t grown = std::min(kEnd, size + size / 2);
      p = static_cast<unsigned char*>(std::realloc(p, grown));
      if (p == nullptr) bench::fail("realloc returned null", grown);
      const auto value = static_cast<unsigned char>(regions.size() + rep + 2);
      std::memset(p + size, value, grown - size);
      regions.push_back({size, grown, value});
      size = grown;
      verify(p, regions);
      ++ops;
    }
    std::free(p);
  }
  const double secs = bench::seconds_since(start);

  bench::print_ops("realloc_grow", ops, secs);
  std::printf(" reps=%llu", static_cast<unsigned long long>(reps));
  bench::end_line();
  return 0;
}

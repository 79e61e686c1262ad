// large_churn: single-threaded malloc / memset / free of 5-25 MiB buffers, as a program building
// big temporary arrays or I/O staging buffers does. After the memset it reads back one byte per
// page before freeing.
// Stresses: the large-object path (mmap/munmap or retention), page-fault cost, and RSS release.
#include "common.hpp"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kPage = 4096;
constexpr uint64_t kIters = 1000;  // buffers at --scale 1

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 1);
  const uint64_t iters = bench::scaled(kIters, args.scale);
  bench::Rng rng(99);

  uint64_t bytes = 0;
  const uint64_t start = bench::now_ns();
  for (uint64_t i = 0; i < iters; ++i) {
    const size_t size = rng.range(5 * kMiB, 25 * kMiB);
    const auto value = static_cast<unsigned char>(i * 37 + 1);
    auto* p = static_cast<unsigned char*>(bench::checked_malloc(size));
    std::memset(p, value, size);
    bench::escape(p);
    for (size_t off = 0; off < size; off += kPage)
      if (p[off] != value) bench::fail("large buffer byte lost", off);
    if (p[size - 1] != value) bench::fail("large buffer tail lost", size);
    std::free(p);
    bytes += size;
  }
  const double secs = bench::seconds_since(start);

  bench::print_ops("large_churn", iters, secs);
  std::printf(" mib_per_s=%.0f", static_cast<double>(bytes) / static_cast<double>(kMiB) / secs);
  bench::end_line();
  return 0;
}

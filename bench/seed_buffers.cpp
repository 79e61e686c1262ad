// seed_buffers: the Linux XFS CIL shadow-buffer pattern that started ffalloc. C committer threads
// each repeatedly allocate a buffer (70% exactly 64 KiB, the rest log-uniform over 4 KiB-1 MiB),
// memcpy a payload into it and hand it to ONE push thread, which verifies it and frees it.
// With --local each committer verifies and frees its own buffer right after the commit.
// Reports commit latency (malloc + memcpy of one commit) p50/p99/max.
// Stresses: mid-size and large allocations at a high rate, freed remotely by a single thread.
#include <cmath>
#include <thread>

#include "common.hpp"

namespace {

constexpr size_t kMaxBuf = 1 << 20;
constexpr size_t kQueueDepth = 64;    // buffers in flight between committers and push thread
constexpr uint64_t kTotal = 100'000;  // commits at --scale 1, split among committers

struct Commit {
  unsigned char* p;
  size_t size;
  uint64_t seq;
};

size_t pick_size(bench::Rng& rng) {
  if (rng.below(10) < 7) return 64 << 10;
  return static_cast<size_t>(4096.0 * std::pow(256.0, rng.unit()));  // 4 KiB .. 1 MiB
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 1, /*has_local=*/true);
  const auto committers = static_cast<uint64_t>(args.threads);
  const uint64_t commits_each = std::max<uint64_t>(1, bench::scaled(kTotal, args.scale) / committers);

  std::vector<unsigned char> payload(kMaxBuf);
  for (size_t i = 0; i < kMaxBuf; ++i) payload[i] = static_cast<unsigned char>(i * 251 + 17);

  // The push thread's check: the sequence stamped over the first 8 bytes, the payload's last byte.
  auto retire = [&](const Commit& c) {
    uint64_t seq;
    std::memcpy(&seq, c.p, sizeof seq);
    if (seq != c.seq) bench::fail("buffer header overwritten", c.seq);
    if (c.p[c.size - 1] != payload[c.size - 1]) bench::fail("buffer tail overwritten", c.seq);
    std::free(c.p);
  };

  bench::BoundedQueue<Commit> queue(kQueueDepth);
  std::vector<std::vector<uint32_t>> latency(committers);

  auto commit = [&](uint64_t id) {
    bench::Rng rng(500 + id);
    auto& lat = latency[id];
    lat.reserve(commits_each);
    for (uint64_t i = 0; i < commits_each; ++i) {
      const size_t size = pick_size(rng);
      const uint64_t seq = (id << 40) | i;
      const uint64_t t0 = bench::now_ns();
      auto* p = static_cast<unsigned char*>(bench::checked_malloc(size));
      std::memcpy(p, payload.data(), size);
      std::memcpy(p, &seq, sizeof seq);
      bench::escape(p);
      lat.push_back(static_cast<uint32_t>(std::min<uint64_t>(bench::now_ns() - t0, UINT32_MAX)));
      if (args.local)
        retire({p, size, seq});
      else
        queue.push({p, size, seq});
    }
  };

  const uint64_t start = bench::now_ns();
  std::thread push([&] {
    Commit c;
    while (queue.pop(c)) retire(c);
  });
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < committers; ++t) threads.emplace_back(commit, t);
  for (auto& t : threads) t.join();
  queue.close();
  push.join();
  const double secs = bench::seconds_since(start);

  std::vector<uint32_t> all;
  for (auto& l : latency) all.insert(all.end(), l.begin(), l.end());
  bench::print_ops("seed_buffers", commits_each * committers, secs);
  std::printf(" committers=%llu mode=%s", static_cast<unsigned long long>(committers), args.local ? "local" : "remote");
  bench::print_latency(all);
  std::printf("\n");
  return 0;
}

// thread_pool: a server's pool of worker threads through a busy spell and the quiet after it.
// --threads N workers (64 unless told) each serve requests. A request allocates a working set of
// 8-48 objects (80% 16 B-1 KiB, 18% 1-16 KiB, 2% 32-256 KiB), writes them, checks and frees them
// in a shuffled order. Then the workers wait, as a pool's idle workers do, and the RSS is read:
// parked_mib is what the pool keeps while it waits (for a thread-per-connection server, most of
// its life). Peak RSS is the busy spell's; final RSS is read after the workers have exited.
// Stresses: what every thread holds (caches, spans, metadata), times many threads.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common.hpp"

namespace {

constexpr uint64_t kTotal = 400'000;  // requests at --scale 1, split among the workers
constexpr size_t kMaxObjects = 48;

size_t pick_size(bench::Rng& rng) {
  const uint64_t kind = rng.below(100);
  if (kind < 80) return rng.range(16, 1024);
  if (kind < 98) return rng.range(1025, 16 << 10);
  return rng.range(32 << 10, 256 << 10);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 64);
  const auto workers = static_cast<uint64_t>(args.threads);
  const uint64_t requests_each = std::max<uint64_t>(1, bench::scaled(kTotal, args.scale) / workers);

  std::mutex mu;
  std::condition_variable cv;
  uint64_t idle = 0;
  bool closing = false;

  auto work = [&](uint64_t id) {
    bench::Rng rng(9100 + id);
    void* objects[kMaxObjects];
    size_t sizes[kMaxObjects];
    uint64_t tags[kMaxObjects];
    for (uint64_t r = 0; r < requests_each; ++r) {
      const size_t n = rng.range(8, kMaxObjects);
      for (size_t i = 0; i < n; ++i) {
        sizes[i] = pick_size(rng);
        tags[i] = rng.next();
        objects[i] = bench::checked_malloc(sizes[i]);
        bench::fill_object(objects[i], sizes[i], tags[i]);
      }
      for (size_t i = n; i > 1; --i) {  // free in a shuffled order
        const size_t j = rng.below(i);
        std::swap(objects[i - 1], objects[j]);
        std::swap(sizes[i - 1], sizes[j]);
        std::swap(tags[i - 1], tags[j]);
      }
      for (size_t i = 0; i < n; ++i) {
        bench::check_object(objects[i], sizes[i], tags[i]);
        std::free(objects[i]);
      }
    }
    std::unique_lock lock(mu);
    ++idle;
    cv.notify_all();
    cv.wait(lock, [&] { return closing; });
  };

  const uint64_t start = bench::now_ns();
  std::vector<std::thread> pool;
  for (uint64_t w = 0; w < workers; ++w) pool.emplace_back(work, w);
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return idle == workers; });
  }
  const double secs = bench::seconds_since(start);
  const unsigned long long parked_kib = bench::rss_kib();
  {
    std::lock_guard lock(mu);
    closing = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  std::vector<std::thread>().swap(pool);
  const unsigned long long final_kib = bench::rss_kib();

  bench::print_ops("thread_pool", requests_each * workers, secs);
  std::printf(" workers=%llu parked_mib=%.1f", static_cast<unsigned long long>(workers),
              static_cast<double>(parked_kib) / 1024.0);
  bench::end_line(final_kib);
  return 0;
}

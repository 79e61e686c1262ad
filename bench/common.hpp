// Shared helpers for the benchmark workloads: argument parsing, a fast PRNG, timing,
// latency percentiles, a bounded hand-off queue, and loud failure on corrupted data.
// Workloads use plain malloc/free/new/delete so any allocator can be swapped in by LD_PRELOAD.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string_view>
#include <vector>

namespace bench {

struct Args {
  int threads = 1;
  double scale = 1.0;
  bool local = false;
  bool owners = false;    // --owners: track which thread last wrote each page (seed_buffers)
  std::string_view mode;  // one of the workload's modes; the first one unless --mode says otherwise
};

// Accepts --threads N, --scale F and, where the workload has them, --local, --owners and --mode M
// (M one of modes, the first being the default); anything else is a usage error.
inline Args parse_args(int argc, char** argv, int default_threads, bool has_local = false,
                       std::initializer_list<std::string_view> modes = {}, bool has_owners = false) {
  Args a;
  a.threads = default_threads;
  if (modes.size() != 0) a.mode = *modes.begin();
  auto usage = [&] {
    std::fprintf(stderr, "usage: %s [--threads N] [--scale F]%s%s", argv[0], has_local ? " [--local]" : "",
                 has_owners ? " [--owners]" : "");
    if (modes.size() != 0) {
      std::fprintf(stderr, " [--mode ");
      for (auto m : modes) std::fprintf(stderr, "%s%.*s", m == *modes.begin() ? "" : "|", static_cast<int>(m.size()), m.data());
      std::fprintf(stderr, "]");
    }
    std::fprintf(stderr, "\n");
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      a.threads = std::atoi(argv[++i]);
    } else if (arg == "--scale" && i + 1 < argc) {
      a.scale = std::atof(argv[++i]);
    } else if (arg == "--local" && has_local) {
      a.local = true;
    } else if (arg == "--owners" && has_owners) {
      a.owners = true;
    } else if (arg == "--mode" && modes.size() != 0 && i + 1 < argc) {
      a.mode = argv[++i];
      if (std::find(modes.begin(), modes.end(), a.mode) == modes.end()) usage();
    } else {
      usage();
    }
  }
  if (a.threads < 1 || a.scale <= 0) {
    std::fprintf(stderr, "%s: --threads must be >= 1 and --scale > 0\n", argv[0]);
    std::exit(2);
  }
  return a;
}

// Scales a default amount of work, never below one unit.
inline uint64_t scaled(uint64_t base, double scale) {
  return std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(base) * scale));
}

// Reports corrupted data and ends the process at once (other threads may still be running).
[[noreturn]] inline void fail(const char* what, uint64_t detail) {
  std::fprintf(stderr, "VERIFY FAILED: %s (%llu)\n", what, static_cast<unsigned long long>(detail));
  std::fflush(stderr);
  std::_Exit(3);
}

inline void* checked_malloc(size_t n) {
  void* p = std::malloc(n);
  if (p == nullptr) fail("malloc returned null", n);
  return p;
}

// Keeps the compiler from eliding an allocation whose contents it could otherwise prove.
inline void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<__uint128_t>(next()) * n) >> 64); }
  // Uniform in [lo, hi].
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

inline uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

inline double seconds_since(uint64_t start_ns) { return static_cast<double>(now_ns() - start_ns) * 1e-9; }

// Stamps an object: a 64-bit tag up front (when it fits) and the tag's low byte in all the other
// bytes, so both a stale header and a clobbered body are caught by check_object.
inline void fill_object(void* p, size_t n, uint64_t tag) {
  auto* b = static_cast<unsigned char*>(p);
  std::memset(b, static_cast<int>(tag & 0xff), n);
  if (n >= sizeof tag) std::memcpy(b, &tag, sizeof tag);
}

// Checks the header and the middle and last bytes of what fill_object wrote.
inline void check_object(const void* p, size_t n, uint64_t tag) {
  const auto* b = static_cast<const unsigned char*>(p);
  const auto low = static_cast<unsigned char>(tag & 0xff);
  size_t body = 0;
  if (n >= sizeof tag) {
    uint64_t got;
    std::memcpy(&got, b, sizeof got);
    if (got != tag) fail("object header overwritten", tag);
    body = sizeof tag;
  }
  if (n > body && (b[n - 1] != low || b[body + (n - body) / 2] != low)) fail("object body overwritten", tag);
}

// p50/p99/max of latencies given in nanoseconds, in microseconds; sorts ns.
struct Latency {
  double p50_us = 0, p99_us = 0, max_us = 0;
};

inline Latency latency_summary(std::vector<uint32_t>& ns) {
  if (ns.empty()) return {};
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return static_cast<double>(ns[static_cast<size_t>(q * static_cast<double>(ns.size() - 1))]) / 1e3;
  };
  return {at(0.50), at(0.99), static_cast<double>(ns.back()) / 1e3};
}

inline void print_latency(const Latency& l) {
  std::printf(" p50_us=%.2f p99_us=%.2f max_us=%.2f", l.p50_us, l.p99_us, l.max_us);
}

inline void print_latency(std::vector<uint32_t>& ns) {
  if (!ns.empty()) print_latency(latency_summary(ns));
}

// Multi-producer multi-consumer bounded FIFO over a preallocated ring, so the queue itself
// never allocates while a workload runs. close() wakes consumers once producers are done.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : ring_(capacity) {}

  void push(const T& item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return count_ < ring_.size(); });
    ring_[(head_ + count_) % ring_.size()] = item;
    ++count_;
    lock.unlock();
    not_empty_.notify_one();
  }

  // False once the queue is closed and drained.
  bool pop(T& out) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return count_ > 0 || closed_; });
    if (count_ == 0) return false;
    out = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --count_;
    lock.unlock();
    not_full_.notify_one();
    return true;
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::vector<T> ring_;
  size_t head_ = 0, count_ = 0;
  bool closed_ = false;
};

// One "Key:   N kB" line of /proc/self/status, in KiB (0 if absent). Reads with open/read into a
// stack buffer: no stdio, so no allocation that would itself show in the figure.
inline unsigned long long status_kib(std::string_view key) {
  char buf[8192];
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = 0;
  for (ssize_t got; n < sizeof buf - 1 && (got = ::read(fd, buf + n, sizeof buf - 1 - n)) > 0;)
    n += static_cast<size_t>(got);
  ::close(fd);
  buf[n] = 0;
  const std::string_view text(buf, n);
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, end - at);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':')
      return std::strtoull(buf + at + key.size() + 1, nullptr, 10);
    at = end + 1;
  }
  return 0;
}

// Peak resident set of this program, from the kernel's VmHWM. (The wait4 ru_maxrss a parent
// sees is floored at the RSS of whatever forked us, because exec keeps the old image's peak.)
inline unsigned long long peak_rss_kib() { return status_kib("VmHWM"); }

// Resident set now (VmRSS). Read as a workload's last act, after it freed everything and joined
// its threads, it shows what the allocator keeps.
inline unsigned long long rss_kib() { return status_kib("VmRSS"); }

// Starts the one machine-readable result line: ops, seconds, ops/s and peak RSS; workloads
// append their own key=value fields, then end the line with end_line().
inline void print_ops(const char* name, uint64_t ops, double secs) {
  std::printf("workload=%s ops=%llu secs=%.4f ops_per_s=%.0f peak_rss_kib=%llu", name,
              static_cast<unsigned long long>(ops), secs, static_cast<double>(ops) / secs, peak_rss_kib());
}

// Ends the result line with final_rss_kib: the resident set read now (or final_kib when the
// workload read it earlier, before its last printf calls), then flushes.
inline void end_line(unsigned long long final_kib = 0) {
  if (final_kib == 0) final_kib = rss_kib();
  std::printf(" final_rss_kib=%llu\n", final_kib);
  std::fflush(stdout);
}

}  // namespace bench

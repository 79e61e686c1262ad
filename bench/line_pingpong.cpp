// line_pingpong: not an allocator workload but a probe of the machine. Two threads, pinned to the
// first two CPUs this process may use, hand one cache line back and forth; prints the median
// round trip in ns. bench/compare.py runs it before each round: on the 2-vCPU VM the benchmarks
// were developed on, the round trip flips between ~90 ns and ~400 ns for minutes at a time, and
// every cross-thread row moves with it (bench/README.md, "machine states").
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr int kTrips = 20000;  // per sample
constexpr int kSamples = 9;

alignas(64) std::atomic<int> line{0};

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace

int main() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
    std::printf("workload=line_pingpong roundtrip_ns=nan (needs two CPUs)\n");
    return 0;
  }
  int cpus[2], found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
  }
  std::thread echo([&] {
    pin(cpus[1]);
    for (int i = 0; i < kTrips * kSamples; ++i) {
      while (line.load(std::memory_order_acquire) != 1) {
      }
      line.store(0, std::memory_order_release);
    }
  });
  pin(cpus[0]);
  std::vector<double> ns;
  for (int s = 0; s < kSamples; ++s) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kTrips; ++i) {
      line.store(1, std::memory_order_release);
      while (line.load(std::memory_order_acquire) != 0) {
      }
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    ns.push_back(std::chrono::duration<double, std::nano>(elapsed).count() / kTrips);
  }
  echo.join();
  std::sort(ns.begin(), ns.end());
  std::printf("workload=line_pingpong cpus=%d,%d roundtrip_ns=%.0f\n", cpus[0], cpus[1],
              ns[kSamples / 2]);
  return 0;
}

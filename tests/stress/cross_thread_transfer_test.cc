// Stress: threads allocate blocks of every tier, fill them with a pattern derived from the
// address and a sequence number, and hand them through queues to other threads, which verify
// the contents before freeing. Catches blocks handed out twice, lost remote frees, and
// corruption of live data. Deterministic seeds, bounded by iterations.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "ffalloc/ffalloc.h"

namespace {

struct Block {
  unsigned char* data;
  size_t size;
  uint32_t tag;
};

class Mailbox {
 public:
  void put(Block b) {
    std::lock_guard<std::mutex> g(mu_);
    items_.push_back(b);
  }
  bool take(Block* b) {
    std::lock_guard<std::mutex> g(mu_);
    if (items_.empty()) return false;
    *b = items_.back();
    items_.pop_back();
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<Block> items_;
};

size_t pick_size(std::mt19937_64& rng) {
  switch (rng() % 16) {
    case 0: return 33 * 1024 + rng() % (256 * 1024);   // large, arena
    case 1: return 64 * 1024;                          // the seed's buffer
    case 2: if (rng() % 64 == 0) return 5 * 1024 * 1024 + rng() % (1 << 20);  // region
      [[fallthrough]];
    default: return 1 + rng() % (rng() % 4 == 0 ? 32768 : 256);
  }
}

void fill(const Block& b) {
  memset(b.data, int(b.tag & 0xff), b.size < 256 ? b.size : 256);
  if (b.size >= sizeof(uint32_t)) memcpy(b.data + b.size - sizeof(uint32_t), &b.tag, sizeof(b.tag));
}

bool intact(const Block& b) {
  size_t n = b.size < 256 ? b.size : 256;
  for (size_t i = 0; i + sizeof(uint32_t) < n; ++i) {
    if (b.data[i] != (b.tag & 0xff)) return false;
  }
  if (b.size >= sizeof(uint32_t)) {
    uint32_t tail;
    memcpy(&tail, b.data + b.size - sizeof(uint32_t), sizeof(tail));
    return tail == b.tag;
  }
  return true;
}

TEST(Stress, CrossThreadTransferKeepsEveryBlockIntact) {
  constexpr int kThreads = 6;
  constexpr int kIterations = 60000;
  std::vector<Mailbox> boxes(kThreads);
  std::atomic<uint64_t> corrupt{0}, transferred{0};
  auto worker = [&](int id) {
    std::mt19937_64 rng(12345 + id);
    std::vector<Block> mine;
    for (int i = 0; i < kIterations; ++i) {
      Block b;
      b.size = pick_size(rng);
      b.data = static_cast<unsigned char*>(ffa_malloc(b.size));
      ASSERT_NE(b.data, nullptr);
      b.tag = uint32_t(rng());
      fill(b);
      if (rng() % 2) {
        boxes[(id + 1 + rng() % (kThreads - 1)) % kThreads].put(b);
      } else {
        mine.push_back(b);
      }
      Block in;
      while (boxes[id].take(&in)) {
        if (!intact(in)) corrupt++;
        ffa_free(in.data);
        transferred++;
      }
      if (mine.size() > 512 || (rng() % 8 == 0 && !mine.empty())) {
        size_t k = rng() % mine.size();
        if (!intact(mine[k])) corrupt++;
        ffa_free(mine[k].data);
        mine[k] = mine.back();
        mine.pop_back();
      }
    }
    for (const Block& b : mine) {
      if (!intact(b)) corrupt++;
      ffa_free(b.data);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  Block in;
  for (auto& box : boxes) {
    while (box.take(&in)) {
      if (!intact(in)) corrupt++;
      ffa_free(in.data);
    }
  }
  EXPECT_EQ(corrupt.load(), 0u);
  EXPECT_GT(transferred.load(), uint64_t(kThreads) * kIterations / 4);
  ffa_stats s;
  ffa_stats_get(&s);
  EXPECT_GT(s.remote_frees, 0u);
}

}  // namespace

// xthread: producer/consumer. Producers allocate small objects (16-256 bytes), stamp a pattern and
// pass them in batches of 64 through a bounded queue; consumers verify and free them. Every object
// (and every batch record) is freed by a thread that did not allocate it.
// Stresses: remote frees at a high rate, and memory that drains from consumer back to producer.
#include <thread>

#include "common.hpp"

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kQueueBatches = 16;
constexpr uint64_t kTotal = 10'000'000;  // objects at --scale 1, split among producers

struct Batch {
  void* obj[kBatch];
  uint64_t tag[kBatch];
  uint16_t size[kBatch];
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv, 2);
  // Half the threads produce, the rest consume; at least one of each.
  const int producers = std::max(1, args.threads / 2);
  const int consumers = std::max(1, args.threads - producers);
  const uint64_t batches_each =
      std::max<uint64_t>(1, bench::scaled(kTotal, args.scale) / kBatch / static_cast<uint64_t>(producers));

  bench::BoundedQueue<Batch*> queue(kQueueBatches);

  auto produce = [&](int id) {
    bench::Rng rng(7000 + static_cast<uint64_t>(id));
    for (uint64_t b = 0; b < batches_each; ++b) {
      auto* batch = new Batch;
      for (size_t i = 0; i < kBatch; ++i) {
        batch->size[i] = static_cast<uint16_t>(rng.range(16, 256));
        batch->tag[i] = rng.next();
        batch->obj[i] = bench::checked_malloc(batch->size[i]);
        bench::fill_object(batch->obj[i], batch->size[i], batch->tag[i]);
      }
      queue.push(batch);
    }
  };
  auto consume = [&] {
    Batch* batch;
    while (queue.pop(batch)) {
      for (size_t i = 0; i < kBatch; ++i) {
        bench::check_object(batch->obj[i], batch->size[i], batch->tag[i]);
        std::free(batch->obj[i]);
      }
      delete batch;
    }
  };

  const uint64_t start = bench::now_ns();
  std::vector<std::thread> prod, cons;
  for (int c = 0; c < consumers; ++c) cons.emplace_back(consume);
  for (int p = 0; p < producers; ++p) prod.emplace_back(produce, p);
  for (auto& t : prod) t.join();
  queue.close();
  for (auto& t : cons) t.join();
  const double secs = bench::seconds_since(start);

  bench::print_ops("xthread", batches_each * kBatch * static_cast<uint64_t>(producers), secs);
  std::printf(" producers=%d consumers=%d", producers, consumers);
  bench::end_line();
  return 0;
}

// Stats: per-thread counters summed on demand, plus the platform's syscall counters. The report
// is formatted on the stack and written with write(2): safe inside malloc and at exit.
#include <cstring>

#include "ffalloc/ffalloc.h"
#include "large/decay.h"
#include "runtime/runtime.h"

namespace ffa {

namespace {

uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

void add_heap(const Heap* heap, void* arg) {
  auto* out = static_cast<ffa_stats*>(arg);
  out->small_spans_created += get(heap->counters.spans_created);
  out->small_spans_released += get(heap->counters.spans_released);
  out->remote_frees += get(heap->counters.remote_frees);
  const LargeCounters& large = heap->large.counters;
  out->large_cache_hits += get(large.cache_hits);
  out->regions_grown += get(large.regions_grown);
  out->arena_hits += get(large.arena_hits);
  out->arena_failfast_nospace += get(large.failfast_nospace);
  out->arena_failfast_contended += get(large.failfast_contended);
  out->regions_mapped += get(large.regions_mapped);
  out->regions_reused += get(large.regions_reused);
}

}  // namespace

void stats_collect(ffa_stats* out) {
  memset(out, 0, sizeof(*out));
  add_heap(&kEmptyHeap, out);
  for_each_heap(add_heap, out);
  const os::Counters& c = os::counters;
  out->os_mmap_calls = get(c.mmap_calls);
  out->os_mmap_ns = get(c.mmap_ns);
  out->os_munmap_calls = get(c.munmap_calls);
  out->os_munmap_ns = get(c.munmap_ns);
  out->os_madvise_calls = get(c.madvise_calls);
  out->os_madvise_ns = get(c.madvise_ns);
  out->os_mremap_calls = get(c.mremap_calls);
  out->os_mremap_ns = get(c.mremap_ns);
  out->os_map_failures = get(c.map_failures);
  out->bytes_reserved = get(c.bytes_mapped);
  out->arena_bytes_in_use = arena().bytes_in_use();
  out->arena_bytes_in_use_peak = arena().peak_bytes_in_use();
  out->region_bytes_cached = region_cache().cached_bytes();
  out->arena_bytes_dirty_free = arena().dirty_free_bytes();
  out->decay_ticks = get(decay_counters.ticks);
  out->decay_bytes_purged = get(decay_counters.bytes_purged);
  out->decay_bytes_unmapped = get(decay_counters.bytes_unmapped);
}

void stats_print() {
  ffa_stats s;
  stats_collect(&s);
  struct Row {
    const char* name;
    uint64_t value;
  };
  const Row rows[] = {
      {"small spans created", s.small_spans_created},
      {"small spans released", s.small_spans_released},
      {"small remote frees", s.remote_frees},
      {"large thread-cache hits", s.large_cache_hits},
      {"large arena hits", s.arena_hits},
      {"large arena fail-fast (no space)", s.arena_failfast_nospace},
      {"large arena fail-fast (contended)", s.arena_failfast_contended},
      {"regions mapped", s.regions_mapped},
      {"regions reused", s.regions_reused},
      {"regions grown (mremap)", s.regions_grown},
      {"decay ticks", s.decay_ticks},
      {"decay bytes purged", s.decay_bytes_purged},
      {"decay bytes unmapped", s.decay_bytes_unmapped},
      {"mmap calls", s.os_mmap_calls},
      {"mmap ns", s.os_mmap_ns},
      {"munmap calls", s.os_munmap_calls},
      {"munmap ns", s.os_munmap_ns},
      {"madvise calls", s.os_madvise_calls},
      {"madvise ns", s.os_madvise_ns},
      {"mremap calls", s.os_mremap_calls},
      {"mremap ns", s.os_mremap_ns},
      {"map failures (ENOMEM)", s.os_map_failures},
      {"bytes reserved", s.bytes_reserved},
      {"arena bytes in use", s.arena_bytes_in_use},
      {"arena bytes in use, peak", s.arena_bytes_in_use_peak},
      {"region bytes cached", s.region_bytes_cached},
      {"arena bytes free, not purged", s.arena_bytes_dirty_free},
  };
  message("statistics");
  for (const Row& row : rows) {
    char line[96];
    size_t n = strlen(row.name);
    memcpy(line, "  ", 2);
    memcpy(line + 2, row.name, n);
    n += 2;
    while (n < 40) line[n++] = ' ';
    n += format_uint(line + n, row.value, false);
    line[n] = '\0';
    message(line);
  }
}

size_t trim() {
  size_t released = 0;
  if (tls_heap != &kEmptyHeap) tls_heap->tidy();
  released += decay_everything();
  return released;
}

}  // namespace ffa

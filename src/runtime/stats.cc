// Stats: per-thread counters summed on demand, plus the platform's syscall counters. The report
// is formatted on the stack and written with write(2): safe inside malloc and at exit.
#include <cstring>

#include "ffalloc/ffalloc.h"
#include "large/cpu_cache.h"
#include "large/decay.h"
#include "runtime/runtime.h"

namespace ffa {

namespace {

uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

void add_heap(const Heap* heap, void* arg) {
  auto* out = static_cast<ffa_stats*>(arg);
  out->small_mallocs += get(heap->counters.mallocs);
  // Remote frees waiting in this heap's delayed list still count as in use in their spans.
  for (const FreeObject* o = heap->delayed.load(std::memory_order_acquire); o != nullptr;
       o = o->next()) {
    const Span* span = page_map().lookup(o);
    if (span != nullptr && span->size_class < kSmallClasses) {
      out->class_objects_in_use[span->size_class]--;
      out->small_bytes_in_use -= span->object_size;
    }
  }
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
  out->large_frees += get(large.frees);
  out->cpu_cache_hits += get(large.cpu_cache_hits);
  out->large_slow_ns += get(large.slow_ns);
  out->large_bytes_cached += heap->large.blocks.bytes();
}

// Walks the claimed runs of every arena chunk: per-class spans and objects in use, live large
// blocks. Reads descriptors other threads may be changing: exact only when they are quiescent.
void add_arena(ffa_stats* out, uint64_t* class_object_slots) {
  for (unsigned c = 0; c < kSmallClasses; ++c) out->class_size[c] = small_class_size(c);
  for (unsigned i = 0; i < arena().chunk_count(); ++i) {
    const ArenaChunk* chunk = arena().chunk(i);
    for (unsigned pos = 0; pos < kSlicesPerChunk;) {
      if (!(chunk->in_use[pos / 64].load(std::memory_order_relaxed) & (uint64_t(1) << (pos % 64)))) {
        ++pos;
        continue;
      }
      const Span& span = chunk->spans[pos];
      unsigned step = span.slices != 0 ? span.slices : 1;
      if (span.kind == SpanKind::kSmall && span.size_class < kSmallClasses) {
        out->class_spans[span.size_class]++;
        if (class_object_slots != nullptr) class_object_slots[span.size_class] += span.reserved;
        uint64_t used = uint32_t(span.used) & ~uint32_t(kParkedFull);
        // Objects freed by other threads but not yet collected still count in `used`.
        for (auto* o = reinterpret_cast<const FreeObject*>(span.remote_free.load(
                 std::memory_order_acquire) & ~kFullFlag);
             o != nullptr && used != 0; o = o->next()) {
          --used;
        }
        out->class_objects_in_use[span.size_class] += used;
        out->small_bytes_in_use += used * span.object_size;
      } else if (span.kind == SpanKind::kLarge) {
        out->large_bytes_in_use += uint64_t(span.slices) << kSliceShift;
      } else if (span.kind != SpanKind::kLargeCached && span.kind != SpanKind::kMeta) {
        step = 1;  // metadata or a run being claimed right now
      }
      pos += step;
    }
  }
}

}  // namespace

static_assert(FFA_STATS_CLASSES >= kSmallClasses, "ffa_stats has an entry per small class");

void stats_collect(ffa_stats* out, uint64_t* class_object_slots) {
  memset(out, 0, sizeof(*out));
  if (class_object_slots != nullptr) memset(class_object_slots, 0, kSmallClasses * sizeof(uint64_t));
  add_arena(out, class_object_slots);  // first: add_heap corrects its in-use counts
  add_heap(&kEmptyHeap, out);
  for_each_heap(add_heap, out);
  // Local frees are not counted on the fast path: every small object handed out was freed by
  // its owner, freed by another thread, or is still in use.
  uint64_t in_use = 0;
  for (uint64_t n : out->class_objects_in_use) in_use += n;
  if (kFastPathStats && out->small_mallocs >= out->remote_frees + in_use) {
    out->small_frees_local = out->small_mallocs - out->remote_frees - in_use;
  }
  out->large_bytes_in_use += large_region_bytes_live();
  out->regions_live = large_regions_live();
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
  out->bytes_reserved_peak = get(c.bytes_mapped_peak);
  out->arena_bytes_in_use = arena().bytes_in_use();
  out->arena_bytes_in_use_peak = arena().peak_bytes_in_use();
  out->region_bytes_cached = region_cache().cached_bytes();
  out->cpu_cache_bytes = cpu_caches_bytes();
  out->arena_bytes_dirty_free = arena().dirty_free_bytes();
  out->decay_ticks = get(decay_counters.ticks);
  out->decay_bytes_purged = get(decay_counters.bytes_purged);
  out->decay_bytes_unmapped = get(decay_counters.bytes_unmapped);
}

namespace {

// One report line: "ffalloc:   <name padded> <value>" (values in decimal), built on the stack.
void row(const char* name, uint64_t value, const char* unit = "") {
  char line[128];
  size_t n = strlen(name);
  memcpy(line, "  ", 2);
  memcpy(line + 2, name, n);
  n += 2;
  while (n < 40) line[n++] = ' ';
  n += format_uint(line + n, value, false);
  size_t u = strlen(unit);
  memcpy(line + n, unit, u);
  line[n + u] = '\0';
  message(line);
}

}  // namespace

void stats_print() {
  ffa_stats s;
  stats_collect(&s);
  message("statistics");
  message(" small objects");
  row("small mallocs", s.small_mallocs);
  row("small local frees", s.small_frees_local);
  row("small remote frees", s.remote_frees);
  row("small spans created", s.small_spans_created);
  row("small spans released", s.small_spans_released);
  message(" large blocks");
  row("large thread-cache hits", s.large_cache_hits);
  row("large CPU-cache hits", s.cpu_cache_hits);
  row("large arena hits", s.arena_hits);
  row("large arena fail-fast (no space)", s.arena_failfast_nospace);
  row("large arena fail-fast (contended)", s.arena_failfast_contended);
  row("regions mapped", s.regions_mapped);
  row("regions reused", s.regions_reused);
  row("regions grown (mremap)", s.regions_grown);
  row("large frees", s.large_frees);
  row("large time past the caches", s.large_slow_ns / 1000, " us");
  message(" memory syscalls");
  row("mmap calls", s.os_mmap_calls);
  row("mmap time", s.os_mmap_ns / 1000, " us");
  row("munmap calls", s.os_munmap_calls);
  row("munmap time", s.os_munmap_ns / 1000, " us");
  row("madvise calls", s.os_madvise_calls);
  row("madvise time", s.os_madvise_ns / 1000, " us");
  row("mremap calls", s.os_mremap_calls);
  row("mremap time", s.os_mremap_ns / 1000, " us");
  row("map failures (ENOMEM)", s.os_map_failures);
  message(" decay");
  row("decay ticks", s.decay_ticks);
  row("decay purged", s.decay_bytes_purged / 1024, " KiB");
  row("decay unmapped", s.decay_bytes_unmapped / 1024, " KiB");
  message(" bytes");
  row("reserved (mapped)", s.bytes_reserved / 1024, " KiB");
  row("reserved, peak", s.bytes_reserved_peak / 1024, " KiB");
  row("small objects in use", s.small_bytes_in_use / 1024, " KiB");
  row("large blocks in use", s.large_bytes_in_use / 1024, " KiB");
  row("large blocks in thread caches", s.large_bytes_cached / 1024, " KiB");
  row("large blocks in CPU caches", s.cpu_cache_bytes / 1024, " KiB");
  row("arena in use", s.arena_bytes_in_use / 1024, " KiB");
  row("arena in use, peak", s.arena_bytes_in_use_peak / 1024, " KiB");
  row("arena free, not yet purged", s.arena_bytes_dirty_free / 1024, " KiB");
  row("regions cached", s.region_bytes_cached / 1024, " KiB");
  message(" small classes with spans (size: spans, objects in use)");
  for (unsigned c = 0; c < FFA_STATS_CLASSES; ++c) {
    if (s.class_spans[c] == 0) continue;
    char name[48] = "  class ";
    size_t n = strlen(name);
    n += format_uint(name + n, s.class_size[c], false);
    memcpy(name + n, " B: spans ", 10);
    n += 10;
    n += format_uint(name + n, s.class_spans[c], false);
    memcpy(name + n, ", objects", 10);
    row(name, s.class_objects_in_use[c]);
  }
}

size_t trim() {
  size_t released = 0;
  if (tls_heap != &kEmptyHeap) tls_heap->tidy();
  released += decay_everything();
  return released;
}

}  // namespace ffa

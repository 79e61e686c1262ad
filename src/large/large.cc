// The large path. Every step only runs on a miss of the previous one.
#include "large/large.h"

#include <cstring>

namespace ffa {

static bool cacheable(size_t bytes) {
  return bytes > kSmallMax && bytes <= kLargeMax && large_class_size(large_class(bytes)) == bytes;
}

static void* finish(Span* span, size_t size, bool zero) {
  if (zero && !span->is_zero) memset(span->start, 0, size);
  span->is_zero = 0;
  return span->start;
}

static Span* try_arena(LargeCache* cache, size_t slices, size_t align) {
  ClaimFailure why;
  Span* span = arena().try_claim(slices, align, &cache->arena_hint, &why);
  if (span == nullptr && why == ClaimFailure::kNoSpace && arena().grow(/*try_only=*/true)) {
    span = arena().try_claim(slices, align, &cache->arena_hint, &why);
  }
  if (span == nullptr) {
    bump(why == ClaimFailure::kContended ? cache->counters.failfast_contended
                                         : cache->counters.failfast_nospace);
    return nullptr;
  }
  bump(cache->counters.arena_hits);
  span->kind = SpanKind::kLarge;
  span->owner = nullptr;
  span->is_zero = 0;
  return span;
}

void* large_malloc(LargeCache* cache, size_t size, size_t align, bool zero) {
  size_t arena_align = align < kSliceSize ? kSliceSize : align;
  if (size <= kLargeMax && arena_align <= kChunkAlign) {
    size_t bytes = size > kSmallMax ? large_class_size(large_class(size)) : align_up(size, kSliceSize);
    if (arena_align == kSliceSize && cacheable(bytes)) {
      LargeCache::Bin& bin = cache->bins[large_class(bytes)];
      if (bin.count != 0) {
        Span* span = bin.blocks[--bin.count];
        cache->bytes -= bytes;
        span->kind = SpanKind::kLarge;
        bump(cache->counters.cache_hits);
        return finish(span, size, zero);
      }
    }
    if (Span* span = try_arena(cache, bytes >> kSliceShift, arena_align)) {
      return finish(span, size, zero);
    }
  }
  if (align < os::kPageSize) align = os::kPageSize;
  RegionHeader* region = region_cache().try_take(size, align);
  if (region != nullptr) {
    bump(cache->counters.regions_reused);
    region->span.kind = SpanKind::kRegion;
    region->span.is_zero = 0;
  } else {
    region = region_map(size, align);
    if (region == nullptr) return nullptr;
    bump(cache->counters.regions_mapped);
  }
  return finish(&region->span, size, zero);
}

void large_free(LargeCache* cache, Span* span) {
  if (span->kind == SpanKind::kRegion) {
    auto* region = reinterpret_cast<RegionHeader*>(span);
    span->kind = SpanKind::kRegionCached;
    if (!region_cache().try_put(region)) region_unmap(region);
    return;
  }
  size_t bytes = size_t(span->slices) << kSliceShift;
  if (cache != nullptr && cacheable(bytes) && cache->bytes + bytes <= kLargeCacheBytes) {
    LargeCache::Bin& bin = cache->bins[large_class(bytes)];
    if (bin.count < kLargeCacheDepth) {
      span->kind = SpanKind::kLargeCached;
      bin.blocks[bin.count++] = span;
      cache->bytes += bytes;
      return;
    }
  }
  arena().release(span);
}

void large_cache_flush(LargeCache* cache) {
  for (auto& bin : cache->bins) {
    while (bin.count != 0) arena().release(bin.blocks[--bin.count]);
  }
  cache->bytes = 0;
}

size_t large_usable_size(const Span* span) {
  if (span->kind == SpanKind::kRegion) {
    return reinterpret_cast<const RegionHeader*>(span)->payload_size;
  }
  return size_t(span->slices) << kSliceShift;
}

void* large_try_resize(Span* span, size_t new_size) {
  size_t usable = large_usable_size(span);
  if (new_size <= usable && new_size >= usable / 2) return span->start;
  if (span->kind == SpanKind::kRegion && new_size > kLargeMax) {
    RegionHeader* moved = region_remap(reinterpret_cast<RegionHeader*>(span), new_size);
    return moved != nullptr ? moved->span.start : nullptr;
  }
  return nullptr;
}

}  // namespace ffa

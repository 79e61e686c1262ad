// Test helper: one snapshot of the process-wide counters.
#pragma once

#include "ffalloc/ffalloc.h"

inline ffa_stats stats() {
  ffa_stats s;
  ffa_stats_get(&s);
  return s;
}

// Early init and the report at exit. The constructor runs the allocator's global init before
// other libraries' constructors (priority 101) so options such as FFALLOC_VERBOSE act at once;
// correctness never depends on it, since the first malloc initializes anyway.
#include "c_api.h"

using namespace ffa;

__attribute__((constructor(101))) static void ffalloc_init() { libc::free(libc::malloc(1)); }

__attribute__((destructor(101))) static void ffalloc_report() {
  if (options.stats) stats_print();
}

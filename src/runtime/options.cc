// Options: FFALLOC_* environment variables parsed once at global init, before libc may be fully
// up: no getenv, no allocation, no stdio. Every option comes from runtime/options.def.
#include <cstring>

#include "large/decay.h"
#include "runtime/runtime.h"

namespace ffa {

Options options;

namespace {

void warn_malformed(const char* env) {
  char msg[160] = "ignoring malformed value of ";
  strncat(msg, env, sizeof(msg) - strlen(msg) - 1);
  message(msg);
}

bool parse(const char* env, const char* v, bool fallback) {
  if (v == nullptr) return fallback;
  for (const char* yes : {"1", "true", "yes", "on"}) {
    if (strcmp(v, yes) == 0) return true;
  }
  for (const char* no : {"0", "false", "no", "off"}) {
    if (strcmp(v, no) == 0) return false;
  }
  warn_malformed(env);
  return fallback;
}

uint64_t parse(const char* env, const char* v, uint64_t fallback) {
  if (v == nullptr) return fallback;
  uint64_t value = 0;
  const char* c = v;
  for (; *c >= '0' && *c <= '9'; ++c) {
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, *c - '0', &value)) {
      break;
    }
  }
  if (c == v || *c != '\0') {
    warn_malformed(env);
    return fallback;
  }
  return value;
}

// "decay_ms" -> "FFALLOC_DECAY_MS"
void env_name(const char* option, char (&env)[64]) {
  strcpy(env, "FFALLOC_");
  size_t n = strlen(env);
  for (const char* c = option; *c != '\0' && n + 1 < sizeof(env); ++c, ++n) {
    env[n] = char(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
  }
  env[n] = '\0';
}

void print_option(const char* name, uint64_t value) {
  char line[96] = "option ";
  size_t n = strlen(line);
  strcpy(line + n, name);
  n += strlen(name);
  strcpy(line + n, " = ");
  n += 3;
  line[n + format_uint(line + n, value, false)] = '\0';
  message(line);
}

}  // namespace

void options_init() {
  char env[64];
#define FFA_OPTION(type, name, default_value, description) \
  env_name(#name, env);                                    \
  options.name = parse(env, os::read_env_raw(env), options.name);
#include "runtime/options.def"
#undef FFA_OPTION
  if (options.verbose) {
#define FFA_OPTION(type, name, default_value, description) print_option(#name, uint64_t(options.name));
#include "runtime/options.def"
#undef FFA_OPTION
  }
  large_config.decay_ns = (options.decay_ms != 0 ? options.decay_ms : 1) * 1000000;
  large_config.cache_bytes = options.large_cache_kib * kKiB;
  large_config.cpus = os::cpu_count();
  large_config.cpu_cache_bytes = options.cpu_cache_kib * kKiB;
  large_config.profile = options.stats;
  arena().set_huge_pages(options.thp);
}

}  // namespace ffa

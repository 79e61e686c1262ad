#!/usr/bin/env bash
# Installs what is missing, builds ffalloc and runs every test (README's second command; CI runs
# it through .ci/run). Five legs, each in its own build directory:
#   release  <dir>        release build; `meson test`: every suite (unit, stress, api, preload,
#                         smoke, programs, ...)
#   secure   <dir>-secure the same with -Dsecure=true (guarded regions for every large block,
#                         canaries, encoded links): every test
#   asan     <dir>-asan   ASan + UBSan (gcc): the unit and stress suites, which link
#                         libffalloc_prefixed.a, so the sanitizer owns malloc
#   tsan     <dir>-tsan   TSan (clang-14): the unit and stress suites
#   fuzz     <dir>-fuzz   libFuzzer (clang-14): op_sequence_fuzzer for $FUZZ_SECONDS seconds
#                         (default 60), starting from tests/fuzz/corpus (tests/fuzz/README.md)
# Every leg runs even when an earlier one failed; the summary at the end names the failures and
# the exit status is 1 if any failed.
# Usage: tools/test.sh [build-dir]        (default: build)
#        FFA_TEST_LEGS="release fuzz" tools/test.sh   runs only the legs named
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
dir=${1:-build}
legs=${FFA_TEST_LEGS:-release secure asan tsan fuzz}
fuzz_seconds=${FUZZ_SECONDS:-60}

# setup DIR [meson options...]: configures DIR unless it already is.
setup() { [ -f "$1/build.ninja" ] || meson setup "$@"; }
sanitizer_options=(-Dbuildtype=debugoptimized -Db_lundef=false -Dbench=false -Dpreload_tests=false)

release() {
  setup "$dir" --buildtype=release &&
  ninja -C "$dir" &&
  meson test -C "$dir" --print-errorlogs --num-processes 2
}

secure() {
  setup "$dir-secure" --buildtype=release -Dsecure=true -Dbench=false &&
  ninja -C "$dir-secure" &&
  meson test -C "$dir-secure" --print-errorlogs --num-processes 2
}

asan() {
  setup "$dir-asan" "${sanitizer_options[@]}" -Db_sanitize=address,undefined \
      -Dcpp_args=-fno-sanitize-recover=all &&
  ninja -C "$dir-asan" &&
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1 \
      meson test -C "$dir-asan" --suite unit --suite stress --print-errorlogs --num-processes 2
}

tsan() {
  CC=clang-14 CXX=clang++-14 setup "$dir-tsan" "${sanitizer_options[@]}" -Db_sanitize=thread &&
  ninja -C "$dir-tsan" &&
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      meson test -C "$dir-tsan" --suite unit --suite stress --print-errorlogs --num-processes 2
}

fuzz() {
  CC=clang-14 CXX=clang++-14 setup "$dir-fuzz" -Dbuildtype=debugoptimized -Dfuzz=true \
      -Dbench=false -Dpreload_tests=false &&
  ninja -C "$dir-fuzz" tests/fuzz/op_sequence_fuzzer &&
  mkdir -p "$dir-fuzz/corpus" &&
  UBSAN_OPTIONS=print_stacktrace=1 \
  "$dir-fuzz/tests/fuzz/op_sequence_fuzzer" -max_total_time="$fuzz_seconds" -max_len=2048 \
      -rss_limit_mb=3072 -timeout=60 -print_final_stats=1 -artifact_prefix="$dir-fuzz/" \
      "$dir-fuzz/corpus" tests/fuzz/corpus
}

failed=()
for leg in $legs; do
  echo
  echo "=== $leg ==="
  start=$SECONDS
  if "$leg"; then
    echo "=== $leg: ok ($((SECONDS - start)) s)"
  else
    echo "=== $leg: FAILED ($((SECONDS - start)) s)"
    failed+=("$leg")
  fi
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== FAILED legs: ${failed[*]} (total $SECONDS s)"
  exit 1
fi
echo "=== all legs ok: $legs (total $SECONDS s)"

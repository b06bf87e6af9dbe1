#!/usr/bin/env bash
# Builds everything and runs the whole test suite: first a normal build, then the same tests
# built with AddressSanitizer + UndefinedBehaviorSanitizer. Set PARLEY_SKIP_SANITIZE=1 to run
# only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh

run_suite() {  # build dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j2
  (cd "$dir" && ctest --output-on-failure -j2 --timeout 300)
}

echo "== tests (RelWithDebInfo) =="
run_suite build/test
if [ "${PARLEY_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== tests (ASan + UBSan) =="
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build/asan -DPARLEY_SANITIZE=ON
fi

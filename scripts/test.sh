#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the dev build (all labels), the
# sanitizer builds, and the packaging test (install + consume, static and shared).
#
# Environment:
#   TETHER_SANITIZERS=0   skip the ASan/UBSan and TSan builds (default: run them; ASan+UBSan
#                         runs every test, TSan the integration and threading tests)
#   TETHER_PACKAGING=0    skip the install/consumer test (default: run it)
#   FUZZ_SECONDS=N        how long each of the 6 fuzz targets runs (default 35; 0 skips them)
#   SOAK_SECONDS=N        length of the soak (scripts/soak.sh; default 45; 0 skips it)
#   JOBS=N                parallel build jobs (default: nproc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}
start=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/deps.sh

step "dev build (Debug, -Werror)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"

step "tests (dev)"
ctest --preset dev -j "$jobs"

step "API reference (Doxygen, no warnings) and the guides' example programs (~5 s)"
scripts/docs.sh

if [[ "${TETHER_SANITIZERS:-1}" != 0 ]]; then
  step "ASan + UBSan build"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  step "tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -j "$jobs"
fi

if [[ "${TETHER_SANITIZERS:-1}" != 0 ]]; then
  step "ThreadSanitizer build"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs"
  step "integration and threading tests under TSan"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" \
    ctest --preset tsan -j "$jobs" -L integration
fi

if [[ "${FUZZ_SECONDS:-35}" != 0 ]]; then
  step "fuzzing codecs, frames, handshake, URLs, proxy, state machine (libFuzzer, ${FUZZ_SECONDS:-35} s each, ~5 min)"
  FUZZ_SECONDS=${FUZZ_SECONDS:-35} scripts/fuzz.sh
fi

if [[ "${SOAK_SECONDS:-45}" != 0 ]]; then
  step "soak: churn with server kills and proxy faults (${SOAK_SECONDS:-45} s plus a few to drain and check)"
  SOAK_BUILD_DIR=build/dev SOAK_OUT=build/dev/soak NO_INSTALL=1 scripts/soak.sh "${SOAK_SECONDS:-45}"
fi

if [[ "${TETHER_PACKAGING:-1}" != 0 ]]; then
  step "packaging: install and consume"
  scripts/package-test.sh
fi

printf '\nall tests passed in %ss\n' "$(($(date +%s) - start))"

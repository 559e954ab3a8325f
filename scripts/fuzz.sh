#!/usr/bin/env bash
# Fuzzes tether::Json and the message codecs with libFuzzer (AddressSanitizer and
# UndefinedBehaviorSanitizer on) for a bounded time. Exits non-zero when the fuzzer finds a
# crash, a leak or an inconsistency; the input that triggered it is kept as an artifact.
#
#   scripts/fuzz.sh                 # 60 seconds
#   FUZZ_SECONDS=600 scripts/fuzz.sh
#
# Environment:
#   FUZZ_SECONDS    run time in seconds (default 60)
#   FUZZ_BUILD_DIR  where the fuzzer binary and crash artifacts go (default build/fuzz)
#   FUZZ_JOBS       parallel fuzzing processes (default 1)
#   FUZZ_ARGS       extra libFuzzer flags
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
build_dir="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
jobs="${FUZZ_JOBS:-1}"

# clang++ with libFuzzer (Debian: the clang package, which brings libclang-rt-dev).
if ! command -v clang++ >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "fuzz.sh: clang++ not found; installing clang with apt-get" >&2
  if ! $sudo apt-get install -y clang; then
    $sudo apt-get update
    $sudo apt-get install -y clang
  fi
fi

# The codec sources need only RapidJSON (header-only) and the standard library.
sources=(
  "$root/tests/fuzz/codec_fuzz.cpp"
  "$root/sdk/codec/json.cpp"
  "$root/sdk/codec/json_io.cpp"
  "$root/sdk/codec/envelope_codec.cpp"
  "$root/sdk/codec/json_rpc_codec.cpp"
)
rapidjson_flags=()
if [ -n "${RAPIDJSON_INCLUDE_DIR:-}" ]; then rapidjson_flags=(-isystem "$RAPIDJSON_INCLUDE_DIR"); fi

mkdir -p "$build_dir"
binary="$build_dir/codec_fuzz"
echo "fuzz.sh: building $binary" >&2
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fsanitize-ignorelist="$root/tests/fuzz/ubsan.ignorelist" \
  -I "$root/include" -I "$root/sdk" "${rapidjson_flags[@]}" "${sources[@]}" -o "$binary"

# Fuzz a copy of the seed corpus: the checked-in seeds stay as they are.
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"

echo "fuzz.sh: fuzzing for ${seconds}s (corpus: $(ls "$work/corpus" | wc -l) seeds)" >&2
parallel=()
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
status=0
# shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags.
(cd "$work" && "$binary" \
  -max_total_time="$seconds" \
  -max_len=65536 \
  -timeout=25 \
  -rss_limit_mb=2048 \
  -print_final_stats=1 \
  "${parallel[@]}" \
  -dict="$root/tests/fuzz/json.dict" \
  -artifact_prefix="$build_dir/" \
  ${FUZZ_ARGS:-} \
  "$work/corpus") || status=$?

if [ "$jobs" -gt 1 ]; then
  cat "$work"/fuzz-*.log 2>/dev/null | tail -n 40 || true
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: FAILED (exit $status); the failing input is in $build_dir/ (crash-*, leak-*, timeout-*)" >&2
  exit "$status"
fi
echo "fuzz.sh: no failure in ${seconds}s; corpus grew to $(ls "$work/corpus" | wc -l) inputs" >&2

#!/usr/bin/env bash
# Fuzzes tether's parsers and state machines with libFuzzer (AddressSanitizer and
# UndefinedBehaviorSanitizer on) for a bounded time per target. Exits non-zero when a fuzzer
# finds a crash, a leak, a timeout or a broken invariant; the input that triggered it is kept as
# an artifact in the build directory.
#
#   scripts/fuzz.sh                  # every target, FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh frame 600        # one target for 600 seconds
#   scripts/fuzz.sh url proxy        # some targets, FUZZ_SECONDS each
#   scripts/fuzz.sh --list           # the targets
#
# Targets (tests/fuzz/<target>_fuzz.cpp, seeds in tests/fuzz/corpus/<target>/):
#   codec      tether::Json, the envelope and JSON-RPC codecs
#   frame      the RFC 6455 frame decoder, UTF-8 validation, the closing handshake
#   handshake  the upgrade response check and the HTTP response-head parser
#   url        ws:// and wss:// URLs, host:port
#   proxy      proxy URLs, no_proxy, the CONNECT request and the CONNECT reply check
#   core       the connection state machine, driven by a sequence of events
#
# Replay a failure: build/fuzz/<target>_fuzz build/fuzz/<target>/crash-...
#
# Environment:
#   FUZZ_SECONDS    run time per target in seconds (default 60)
#   FUZZ_BUILD_DIR  where the fuzzer binaries and failure artifacts go (default build/fuzz)
#   FUZZ_JOBS       parallel fuzzing processes per target (default 1)
#   FUZZ_ARGS       extra libFuzzer flags
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
jobs="${FUZZ_JOBS:-1}"
all_targets=(codec frame handshake url proxy core)

targets=()
seconds="${FUZZ_SECONDS:-60}"
for arg in "$@"; do
  case "$arg" in
    --list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*)
      if [[ " ${all_targets[*]} " != *" $arg "* ]]; then
        echo "fuzz.sh: unknown target '$arg' (targets: ${all_targets[*]})" >&2
        exit 2
      fi
      targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all_targets[@]}"); fi

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

rapidjson_flags=()
if [ -n "${RAPIDJSON_INCLUDE_DIR:-}" ]; then rapidjson_flags=(-isystem "$RAPIDJSON_INCLUDE_DIR"); fi

# The sources of each target: sans-IO code only (no libwebsockets); OpenSSL's libcrypto for
# SHA-1 and base64 where the handshake key code is needed.
target_sources() {
  local s="$root/sdk"
  case "$1" in
    codec) echo "$s/codec/json.cpp $s/codec/json_io.cpp $s/codec/json_append.cpp $s/codec/json_fast_parse.cpp $s/codec/envelope_codec.cpp $s/codec/json_rpc_codec.cpp" ;;
    frame) echo "$s/protocol/frame_decoder.cpp $s/protocol/utf8.cpp $s/protocol/close_handshake.cpp $s/protocol/mask.cpp $s/protocol/frame.cpp" ;;
    handshake) echo "$s/protocol/handshake.cpp $s/protocol/handshake_key.cpp $s/protocol/http_head.cpp $s/error.cpp" ;;
    url) echo "$s/transport/url.cpp" ;;
    proxy) echo "$s/transport/proxy.cpp $s/transport/url.cpp $s/protocol/http_head.cpp $s/protocol/handshake_key.cpp" ;;
    core) echo "$s/core/connection_core.cpp $s/core/backoff.cpp $s/core/policy.cpp $s/state.cpp $s/error.cpp" ;;
  esac
}
target_libs() {
  case "$1" in
    handshake|proxy) echo "-lcrypto" ;;
    *) echo "" ;;
  esac
}

mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
  binary="$build_dir/${target}_fuzz"
  artifacts="$build_dir/$target"
  mkdir -p "$artifacts"
  echo "fuzz.sh: building $binary" >&2
  # shellcheck disable=SC2046  # the source and library lists are word lists.
  clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fsanitize-ignorelist="$root/tests/fuzz/ubsan.ignorelist" \
    -I "$root/include" -I "$root/sdk" -I "$root/tests/fuzz" "${rapidjson_flags[@]}" \
    "$root/tests/fuzz/${target}_fuzz.cpp" $(target_sources "$target") $(target_libs "$target") \
    -o "$binary"

  # Fuzz a copy of the seed corpus: the checked-in seeds stay as they are.
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/$target"/* "$corpus/"
  dict=()
  if [ -f "$root/tests/fuzz/$target.dict" ]; then dict=(-dict="$root/tests/fuzz/$target.dict"); fi
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi

  echo "fuzz.sh: fuzzing $target for ${seconds}s (corpus: $(ls "$corpus" | wc -l) seeds)" >&2
  status=0
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags.
  (cd "$work" && "$binary" \
    -max_total_time="$seconds" \
    -max_len=65536 \
    -timeout=25 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    "${parallel[@]}" \
    "${dict[@]}" \
    -artifact_prefix="$artifacts/" \
    ${FUZZ_ARGS:-} \
    "$corpus") || status=$?
  if [ "$jobs" -gt 1 ]; then
    cat "$work"/fuzz-*.log 2>/dev/null | tail -n 40 || true
    rm -f "$work"/fuzz-*.log
  fi
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: $target FAILED (exit $status); the failing input is in $artifacts/ (crash-*, leak-*, timeout-*)" >&2
    failed+=("$target")
  else
    echo "fuzz.sh: $target: no failure in ${seconds}s; corpus grew to $(ls "$corpus" | wc -l) inputs" >&2
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all passed: ${targets[*]} (${seconds}s each)" >&2

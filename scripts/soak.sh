#!/usr/bin/env bash
# The soak: a tether client under continuous churn against real servers on loopback (the test
# server killed every few seconds with SIGTERM and SIGKILL in turn and restarted on the same
# port; the fault proxy injecting resets, mid-frame cuts, blackholes, latency, throttling and
# refused connections), 100 msg/s each way, sampled once a second, checked at the end.
# Builds tether_soak, runs it, writes summary.md, samples.csv, reconnects.csv, events.log and
# soak.png (when gnuplot is there) to the output directory. Exits non-zero when a check fails.
# See tests/soak/README.md.
#
# Usage: scripts/soak.sh [SECONDS]     (default 600: the documented 10-minute run)
#
# Environment:
#   SOAK_BUILD_DIR=DIR  build directory (default build/soak, configured Release if missing;
#                       an existing build directory, e.g. build/dev, is used as configured)
#   SOAK_OUT=DIR        where the results go (default docs/soak)
#   SOAK_ARGS="..."     more tether_soak arguments, e.g. "--no-proxy" or "--seed 42"
#   NO_INSTALL=1        do not call apt-get (without gnuplot the plot is skipped)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-600}
build=${SOAK_BUILD_DIR:-build/soak}
out=${SOAK_OUT:-docs/soak}

step() { printf '==> %s\n' "$*" >&2; }

if [[ -z "${NO_INSTALL:-}" ]]; then
  # gnuplot only draws the plot: a failed install never fails the soak.
  scripts/deps.sh gnuplot-nox || step "gnuplot-nox not installed: the plot will be skipped"
fi

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  step "configuring $build (Release)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=ON >/dev/null
fi
step "building tether_soak in $build"
cmake --build "$build" -j 2 --target tether_soak >/dev/null

mkdir -p "$out"
step "soak: ${seconds} s of churn (results in $out)"
status=0
# shellcheck disable=SC2086  # SOAK_ARGS is split on purpose
"$build/tests/soak/tether_soak" --seconds "$seconds" --out "$out" ${SOAK_ARGS:-} || status=$?

if [[ -f "$out/samples.csv" ]]; then
  if command -v gnuplot >/dev/null; then
    gnuplot -e "csv='$out/samples.csv'; png='$out/soak.png'" tests/soak/plot.gp ||
      step "gnuplot failed: no plot"
  else
    step "gnuplot missing: no plot"
  fi
fi
exit "$status"

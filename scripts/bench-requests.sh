#!/usr/bin/env bash
# Request benchmark: requests with id correlation (default envelope, /app) next to plain message
# round trips (/echo), over one connection each, against one tether_test_server, interleaved over
# several rounds. Prints medians and the ratio. See tests/bench/README.md.
#
# Environment: ROUNDS (default 5), COUNT (default 200000), WINDOW (default 1000),
#              BUILD_DIR (default build/release)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-5}
count=${COUNT:-200000}
window=${WINDOW:-1000}
build=${BUILD_DIR:-build/release}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target request_bench tether_test_server >/dev/null
work=$(mktemp -d /tmp/tether-bench-requests-XXXXXX)
"$build/tests/servers/tether_test_server" --port 0 >"$work/server.out" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q LISTENING "$work/server.out" && break
  sleep 0.05
done
port=$(awk '/LISTENING/ {print $2; exit}' "$work/server.out")
[[ -n "$port" ]] || { echo "the server did not start" >&2; exit 1; }

for round in $(seq 1 "$rounds"); do
  for mode in messages requests; do
    "$build/tests/bench/request_bench" "ws://127.0.0.1:$port" "$mode" "$count" --window "$window" \
      >>"$work/results.jsonl"
  done
  echo "round $round done" >&2
done

/usr/bin/python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["mode"], []).append(r["per_second"])
m = statistics.median(by["messages"])
q = statistics.median(by["requests"])
print("| case | per second (median, min-max) |")
print("|---|---|")
print(f"| message round trips (/echo) | {m:,.0f} ({min(by['messages']):,.0f}-{max(by['messages']):,.0f}) |")
print(f"| requests with correlation (/app) | {q:,.0f} ({min(by['requests']):,.0f}-{max(by['requests']):,.0f}) |")
print(f"| ratio requests / messages | {q / m:.2f} |")
PY

#!/usr/bin/env bash
# The main demo: one tether client keeps sending through a server outage.
#
# Installs what is missing, builds (Release), starts the bundled server
# (examples/servers/chat_server.py) on 127.0.0.1 with an ephemeral port, and runs
# examples/outage-demo, which sends a numbered message every 200 ms to /echo. After a couple of
# seconds the server is stopped (SIGTERM: it closes with 1001 "going away"), stays down ~3 s and
# comes back on the same port; the client keeps sending throughout. The server's log and the
# echoes then prove that every message sent during the outage arrived after the reconnect, in
# order, exactly once. Exit status 0 when that holds.
#
# Environment: TETHER_DEMO_BUILD_DIR (default build/demo), JOBS (build parallelism),
# DEMO_COUNT (messages, default 40), DEMO_OUTAGE_S (seconds down, default 3).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh

build=${TETHER_DEMO_BUILD_DIR:-build/demo}
count=${DEMO_COUNT:-40}
outage_s=${DEMO_OUTAGE_S:-3}
python=/usr/bin/python3
server_script=examples/servers/chat_server.py

work=$(mktemp -d)
server_pid=""
client_pid=""
tail_pid=""
cleanup() {
  for pid in $client_pid $server_pid $tail_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $client_pid $server_pid $tail_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> building (Release) in $build"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=OFF \
         -DTETHER_BUILD_EXAMPLES=ON &&
       cmake --build "$build" -j "${JOBS:-$(nproc)}" --target outage-demo; } >"$work/build.log" 2>&1; then
  echo "demo: the build failed:" >&2
  tail -n 40 "$work/build.log" >&2
  exit 1
fi
client_bin="$build/examples/outage-demo/outage-demo"

# wait_for FILE PATTERN TENTHS: polls until FILE has a line matching PATTERN.
wait_for() {
  for ((i = 0; i < $3; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start_server PORT RUN: starts the server, waits for its LISTENING line, sets server_pid and port.
start_server() {
  local out="$work/server$2.out"
  "$python" "$server_script" --host 127.0.0.1 --port "$1" --log "$work/server.log" >"$out" \
    2>"$work/server$2.err" &
  server_pid=$!
  if ! wait_for "$out" '^LISTENING ' 100; then
    echo "demo: the server did not start:" >&2
    cat "$work/server$2.err" >&2
    exit 1
  fi
  port=$(awk '/^LISTENING/ {print $2; exit}' "$out")
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || { echo "demo: the server exited with $?" >&2; exit 1; }
  server_pid=""
}

port=0
start_server 0 1
url="ws://127.0.0.1:$port/echo"
echo "==> server listening on 127.0.0.1:$port (pid $server_pid)"
echo "==> outage-demo $url --count $count   (one message every 200 ms)"
echo

"$client_bin" "$url" --count "$count" --interval-ms 200 >"$work/client.out" 2>&1 &
client_pid=$!
tail -n +1 -s 0.1 -f --pid="$client_pid" "$work/client.out" &
tail_pid=$!

# A couple of seconds of normal traffic, then the outage.
if ! wait_for "$work/client.out" 'echo   message 10$' 300; then
  echo "demo: no traffic through the server" >&2
  exit 1
fi
echo "==> stopping the server (SIGTERM, pid $server_pid)"
stop_server
echo "==> server stopped; it stays down for ${outage_s} s while the client keeps sending"
sleep "$outage_s"
start_server "$port" 2
echo "==> server restarted on the same port 127.0.0.1:$port (pid $server_pid)"

client_status=0
wait "$client_pid" || client_status=$?
client_pid=""
wait "$tail_pid" 2>/dev/null || true
tail_pid=""
stop_server
cp "$work/server.log" "$build/demo-server.log"
cp "$work/client.out" "$build/demo-client.log"
echo
echo "==> checking the server's log ($build/demo-server.log) against what the client sent"

"$python" - "$work/server.log" "$work/client.out" "$count" "$client_status" <<'EOF'
import json
import re
import sys

log_path, client_path, count, client_status = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
events = [json.loads(line) for line in open(log_path, encoding="utf-8") if line.strip()]
client = open(client_path, encoding="utf-8").read()

runs = []  # pids in start order
for e in events:
    if e["event"] == "listening":
        runs.append(e["pid"])
received = [(e["pid"], int(e["text"].split()[1])) for e in events
            if e["event"] == "message" and e.get("path") == "/echo"
            and re.fullmatch(r"message \d+", e.get("text", ""))]
numbers = [n for _, n in received]
after_shutdown = set()
shutdown_seen = set()
for e in events:
    if e["event"] == "shutdown":
        shutdown_seen.add(e["pid"])
    elif (e["event"] == "message" and e["pid"] in shutdown_seen
          and re.fullmatch(r"message \d+", e.get("text", ""))):
        after_shutdown.add(int(e["text"].split()[1]))

def ranges(values):
    values = sorted(values)
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(str(values[i]) if i == j else "%d-%d" % (values[i], values[j]))
        i = j + 1
    return ", ".join(out) or "none"

match = re.search(r"^waited for the connection: (.*)$", client, re.M)
waited = set()
if match and match.group(1) != "none":
    for part in match.group(1).split(", "):
        a, _, b = part.partition("-")
        waited.update(range(int(a), int(b or a) + 1))
summary = re.search(r"^outage-demo: .*echoed=(\d+) dropped=(\d+) .*reconnects=(\d+)", client, re.M)
echoed, dropped, reconnects = (int(x) for x in summary.groups()) if summary else (0, -1, 0)

problems = []
for i, pid in enumerate(runs, 1):
    got = [n for p, n in received if p == pid]
    print("    server run %d (pid %d) received: %s" % (i, pid, ranges(got)))
print("    messages that waited for the connection (sent during the outage): %s" % ranges(waited))
if numbers != list(range(1, count + 1)):
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    missing = sorted(set(range(1, count + 1)) - set(numbers))
    problems.append("received %s, expected 1-%d in order (missing: %s, duplicated: %s)"
                    % (ranges(numbers), count, ranges(missing), ranges(dupes)))
if len(runs) < 2:
    problems.append("the server did not run twice")
else:
    second = {n for p, n in received if p == runs[1]}
    if not waited:
        problems.append("no message waited for the connection: the outage was not observed")
    if not waited <= second:
        problems.append("sent during the outage but not received after the reconnect: %s"
                        % ranges(waited - second))
# A message that reached the first server while it was closing is logged but cannot be echoed.
if echoed + len(after_shutdown) < count:
    problems.append("only %d echoes for %d messages" % (echoed, count))
if dropped != 0:
    problems.append("the client dropped %d messages" % dropped)
if client_status != 0 and not after_shutdown:
    problems.append("outage-demo exited with %d" % client_status)

print("summary: sent=%d delivered=%d dropped=%d reconnects=%d echoed=%d  %s" % (
    count, len(set(numbers)), max(dropped, 0), reconnects, echoed,
    "OK: every message sent during the outage (%s) arrived after the reconnect, in order, "
    "exactly once" % ranges(waited) if not problems else "FAILED"))
for p in problems:
    print("  problem: " + p)
sys.exit(1 if problems else 0)
EOF

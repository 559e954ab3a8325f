#!/usr/bin/env bash
# Installs what is missing, builds tether, starts the bundled server on 127.0.0.1 and shows
# tether-cli doing a round trip with it (the event log on stderr, the echoes on stdout).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
echo "==> building (release)"
cmake --preset release >/dev/null
cmake --build --preset release -j "${JOBS:-$(nproc)}" --target tether-cli tether_test_server >/dev/null

build=build/release
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$build/tests/servers/tether_test_server" --port 0 >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^LISTENING' "$work/server.out" 2>/dev/null && break
  sleep 0.05
done
port=$(awk '/^LISTENING/ {print $2; exit}' "$work/server.out")
[[ -n "$port" ]] || { echo "the server did not start" >&2; exit 1; }
url="ws://127.0.0.1:$port/echo"

echo "==> bundled server listening on 127.0.0.1:$port (pid $server_pid)"
echo "==> tether-cli --events $url   (three lines on stdin)"
echo
printf 'hello from tether\nsecond line\nthird line\n' |
  "$build/examples/tether-cli/tether-cli" --events "$url" 2> >(sed 's/^/  event  /' >&2) |
  sed 's/^/  stdout /'
status=${PIPESTATUS[1]}
sleep 0.1
echo
echo "==> tether-cli exited with $status"
exit "$status"

#!/usr/bin/env bash
# The side-by-side benchmark suite: tether (three threading models) next to libwebsockets' ws
# role, Boost.Beast, websocketpp, a blocking OpenSSL client and a raw TCP floor, against the
# project's own echo server pinned to one CPU, clients on the other CPU and on the same one,
# interleaved over several rounds. Installs what it needs (benchmark-only packages), builds
# Release, runs everything, writes docs/performance.md and the plots in docs/.
# See tests/bench/README.md.
#
# Environment:
#   ROUNDS=N        interleaved rounds (default 3)
#   DURATION=S      seconds per rtt/flood run (default 1; each stops sending after this)
#   IDLE_SECONDS=S  the idle case (default 10)
#   SERVER_CPU=N    CPU of the servers (default 0)
#   CLIENT_CPU=N    CPU of the clients (default 1)
#   BUILD_DIR=DIR   Release build directory (default build/bench)
#   OUT_DIR=DIR     where performance.md and the plots go (default docs)
#   NO_INSTALL=1    do not call apt-get (adapters whose headers are missing are left out)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-3}
duration=${DURATION:-1}
idle_seconds=${IDLE_SECONDS:-10}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
build=${BUILD_DIR:-build/bench}
out_dir=${OUT_DIR:-docs}

step() { printf '==> %s\n' "$*" >&2; }

if (($(nproc) < 2)) && [[ -z "${CLIENT_CPU:-}" ]]; then
  client_cpu=$server_cpu
fi

# What the library needs (scripts/deps.sh), plus the benchmark-only packages, passed to it as
# extras: the Beast and websocketpp adapters and the plots.
if [[ -z "${NO_INSTALL:-}" ]]; then
  scripts/deps.sh libboost-dev libwebsocketpp-dev gnuplot-nox
fi

step "building $build (Release)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j 2 --target transport_bench idle_bench tether_test_server >/dev/null
bench=$build/tests/bench/transport_bench
# The idle and many cases: a program that links tether alone, as an application does
# (transport_bench also carries every other adapter's libraries).
idle_bench=$build/tests/bench/idle_bench
server=$build/tests/servers/tether_test_server

work=$(mktemp -d /tmp/tether-bench-XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# No proxy for 127.0.0.1, whatever the environment says.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

step "certificates for wss"
sh tests/servers/make_certs.sh "$work/certs" >"$work/certs.log" 2>&1 ||
  { cat "$work/certs.log" >&2; exit 1; }
ca=$work/certs/ca.pem

# start NAME COMMAND...: a server in the background; sets `port`.
source "$root/scripts/lib/start-server.sh"

step "servers on CPU $server_cpu, clients on CPU $client_cpu"
start ws "$server" --cpu "$server_cpu"
ws_url="ws://127.0.0.1:$port"
start wss "$server" --cpu "$server_cpu" --tls-cert "$work/certs/server.pem" \
  --tls-key "$work/certs/server.key"
wss_url="wss://127.0.0.1:$port"
start tcp "$bench" --tcp-echo --cpu "$server_cpu"
tcp_url="tcp://127.0.0.1:$port"

adapters=$("$bench" 2>&1 | awk '/ADAPTER:/ {$1 = ""; print}' || true)
have() { [[ " $adapters " == *" $1 "* ]]; }
ws_clients=(tcp tether tether-executor tether-poll lws openssl)
have beast && ws_clients+=(beast)
have websocketpp && ws_clients+=(websocketpp)
core_clients=(tcp tether lws openssl)
have beast && core_clients+=(beast)
have websocketpp && core_clients+=(websocketpp)

# Cases: NAME|CLIENTS|SCHEME|MODE COUNT SIZE KIND [WARMUP]|CPU. CLIENTS is a list name; SCHEME
# picks the server (ws, wss; tcp clients always use the TCP echo). rtt and flood runs stop
# sending after DURATION, so their COUNT is only a ceiling.
cases=(
  "rtt-64|ws_clients|ws|rtt 1000000 64 text 500|$client_cpu"
  "rtt-64-same-cpu|ws_clients|ws|rtt 1000000 64 text 500|$server_cpu"
  "rtt-1k|core_clients|ws|rtt 1000000 1k text 200|$client_cpu"
  "rtt-64k|core_clients|ws|rtt 1000000 64k binary 50|$client_cpu"
  "rtt-64k-same-cpu|core_clients|ws|rtt 1000000 64k binary 50|$server_cpu"
  "rtt-1m|core_clients|ws|rtt 1000000 1m binary 5|$client_cpu"
  "flood-64|ws_clients|ws|flood 200000 64 text|$client_cpu"
  "flood-1k|core_clients|ws|flood 100000 1k text|$client_cpu"
  "flood-64k|ws_clients|ws|flood 20000 64k binary|$client_cpu"
  "flood-1m|ws_clients|ws|flood 1000 1m binary|$client_cpu"
  "connect|core_clients|ws|connect 300 0 text|$client_cpu"
  "wss-rtt-64|wss_clients|wss|rtt 1000000 64 text 500|$client_cpu"
  "wss-flood-64k|wss_clients|wss|flood 20000 64k binary|$client_cpu"
  "wss-flood-1m|wss_clients|wss|flood 1000 1m binary|$client_cpu"
  "wss-connect|wss_clients|wss|connect 100 0 text|$client_cpu"
  "request-64|tether_only|ws|request 50000 64 text|$client_cpu"
  "queue-flush-64|tether_only|ws|queue-flush 100000 64 text|$client_cpu"
  "reconnect|tether_only|ws|reconnect 5 0 text|$client_cpu"
  "idle|tether_only|ws|idle 1 0 text|$client_cpu"
  "many-1|tether_only|ws|many 1 0 text|$client_cpu"
  "many-100|tether_only|ws|many 100 0 text|$client_cpu"
  "many-1000|tether_only|ws|many 1000 0 text|$client_cpu"
)
wss_clients=(tether lws openssl)
tether_only=(tether)

limit=$(ulimit -n)
if ((limit < 2200)); then
  ulimit -n 4096 2>/dev/null || echo "ulimit -n is $limit: the 1,000-connection case may fail" >&2
fi

results=$work/results.jsonl
commands=$work/commands.txt
: >"$results"
: >"$commands"
uptime_before=$(uptime)
started=$(date +%s)
for ((round = 1; round <= rounds; round++)); do
  step "round $round of $rounds"
  for entry in "${cases[@]}"; do
    IFS='|' read -r name list scheme args cpu <<<"$entry"
    read -r mode count size kind warmup <<<"$args"
    declare -n clients=$list
    n=${#clients[@]}
    for ((i = 0; i < n; i++)); do
      # Rotate the order of the clients from round to round.
      target=${clients[$(((i + round - 1) % n))]}
      if [[ $target == tcp ]]; then
        [[ $scheme == ws ]] || continue
        url=$tcp_url
      elif [[ $scheme == wss ]]; then
        url=$wss_url/echo
      else
        url=$ws_url/echo
      fi
      [[ $mode == request ]] && url=$ws_url/app
      if [[ $mode == idle || $mode == many ]]; then
        cmd=("$idle_bench" "$url" "$mode" "$count" --cpu "$cpu" --ca "$ca" --timeout 60)
      else
        cmd=("$bench" "$target" "$url" "$mode" "$count" "$size" "$kind" --cpu "$cpu" --ca "$ca"
          --timeout 60)
      fi
      case $mode in
        rtt | flood) cmd+=(--duration "$duration") ;;&
        rtt) if [[ -n "$warmup" ]]; then cmd+=(--warmup "$warmup"); fi ;;
        idle) cmd+=(--idle-seconds "$idle_seconds") ;;
        queue-flush | reconnect) cmd+=(--server "$server" --server-cpu "$server_cpu") ;;
      esac
      ((round == 1)) && echo "${cmd[*]}" >>"$commands"
      if line=$("${cmd[@]}" 2>"$work/run.err"); then
        :
      else
        echo "  $name $target failed: $(tail -n 3 "$work/run.err")" >&2
      fi
      [[ -n "$line" ]] || line='{"error":"no output"}'
      printf '{"case":"%s","target":"%s","round":%d,"result":%s}\n' \
        "$name" "$target" "$round" "$line" >>"$results"
    done
    unset -n clients
  done
done
elapsed=$(($(date +%s) - started))
uptime_after=$(uptime)
step "ran in ${elapsed}s"

mkdir -p "$out_dir"
cp "$results" "$build/bench-results.jsonl"
cp "$commands" "$build/bench-commands.txt"
/usr/bin/python3 tests/bench/report.py \
  --results "$results" --commands "$commands" --out-dir "$out_dir" \
  --rounds "$rounds" --duration "$duration" --server-cpu "$server_cpu" \
  --client-cpu "$client_cpu" --elapsed "$elapsed" \
  --load-before "$uptime_before" --load-after "$uptime_after" \
  --build "$build"
step "wrote $out_dir/performance.md and its plots; raw results in $build/bench-results.jsonl"
# To redo the report from the same results: tests/bench/report.py --results
# $build/bench-results.jsonl --commands $build/bench-commands.txt --out-dir docs (see --help).

#!/usr/bin/env bash
# Transport benchmark: 64 B round trips and 64 B / 64 KiB / 1 MiB echo floods over one
# connection, through tether's Client API (ws and wss) next to a raw TCP floor measured in the
# same run. Builds Release, starts tether_test_server (ws and wss) and a TCP echo pinned to one
# CPU, runs the clients pinned to another, interleaves the three targets over several rounds and
# prints a markdown table of medians (min–max). See tests/bench/README.md.
#
# Environment:
#   ROUNDS=N        rounds (default 5)
#   SERVER_CPU=N    CPU of the servers (default 0)
#   CLIENT_CPU=N    CPU of the clients (default 1)
#   SCALE=F         multiply every message count by F (default 1; 0.1 for a quick look)
#   BUILD_DIR=DIR   build directory (default build/release)
#   RESULTS=FILE    where the raw JSON lines go (default $BUILD_DIR/bench-transport.jsonl)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-5}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
scale=${SCALE:-1}
build=${BUILD_DIR:-build/release}
results=${RESULTS:-$build/bench-transport.jsonl}
max_seconds=10  # a run longer than this halves that case's count for the next rounds

step() { printf '==> %s\n' "$*" >&2; }

if (($(nproc) < 2)) && [[ -z "${CLIENT_CPU:-}" ]]; then
  client_cpu=$server_cpu
fi

step "building $build (Release)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target transport_bench tether_test_server >/dev/null
bench=$build/tests/bench/transport_bench
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

step "certificate for wss (EC P-256, self-signed, 127.0.0.1)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
  { cat "$work/openssl.log" >&2; exit 1; }

# start NAME COMMAND...: a server in the background; sets `port`.
source "$root/scripts/lib/start-server.sh"

step "servers on CPU $server_cpu, clients on CPU $client_cpu"
start ws "$server" --cpu "$server_cpu"
ws_port=$port
start wss "$server" --cpu "$server_cpu" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
wss_port=$port
start tcp "$bench" --tcp-echo --cpu "$server_cpu"
tcp_port=$port

declare -A target_args=(
  [tcp]="tcp tcp://127.0.0.1:$tcp_port"
  [ws]="tether ws://127.0.0.1:$ws_port/echo"
  [wss]="tether wss://127.0.0.1:$wss_port/echo --ca $work/cert.pem"
)
targets=(tcp ws wss)

# case name, then the bench's MODE COUNT SIZE KIND and the client CPU.
cases=(
  "rtt-64:rtt 20000 64 text $client_cpu"
  "rtt-64-same-cpu:rtt 20000 64 text $server_cpu"
  "flood-64:flood 200000 64 text $client_cpu"
  "flood-64k:flood 20000 65536 binary $client_cpu"
  "flood-1m:flood 2000 1048576 binary $client_cpu"
)

declare -A counts=()
for entry in "${cases[@]}"; do
  name=${entry%%:*}
  read -r _ count _ <<<"${entry#*:}"
  count=$(awk -v c="$count" -v s="$scale" 'BEGIN { n = int(c * s); print (n < 1 ? 1 : n) }')
  for target in "${targets[@]}"; do counts[$name/$target]=$count; done
done

: >"$results"
commands="$work/commands.txt"
: >"$commands"
started=$(date +%s)
for ((round = 1; round <= rounds; round++)); do
  step "round $round of $rounds"
  for entry in "${cases[@]}"; do
    name=${entry%%:*}
    read -r mode _ size kind cpu <<<"${entry#*:}"
    # Rotate the order of the targets from round to round.
    for ((i = 0; i < ${#targets[@]}; i++)); do
      target=${targets[$(((i + round - 1) % ${#targets[@]}))]}
      count=${counts[$name/$target]}
      read -r -a adapter <<<"${target_args[$target]}"
      cmd=("$bench" "${adapter[@]:0:2}" "$mode" "$count" "$size" "$kind" --cpu "$cpu"
        "${adapter[@]:2}")
      ((round == 1)) && echo "${cmd[*]}" >>"$commands"
      t0=$(date +%s.%N)
      if line=$("${cmd[@]}" 2>"$work/run.err"); then
        :
      else
        echo "  $name $target failed: $(tail -n 3 "$work/run.err")" >&2
      fi
      t1=$(date +%s.%N)
      [[ -n "$line" ]] || line='{"error":"no output"}'
      printf '{"case":"%s","target":"%s","round":%d,"result":%s}\n' \
        "$name" "$target" "$round" "$line" >>"$results"
      if awk -v a="$t0" -v b="$t1" -v m="$max_seconds" 'BEGIN { exit !(b - a > m) }'; then
        if ((count > 1)); then
          counts[$name/$target]=$((count / 2))
          echo "  $name $target took over ${max_seconds}s: count $count -> $((count / 2))" >&2
        fi
      fi
    done
  done
done
elapsed=$(($(date +%s) - started))

step "done in ${elapsed}s; raw results in $results"
echo
echo "Commands (round 1; ports and the certificate path change per run):"
echo
sed 's/^/    /' "$commands"
echo
python3 - "$results" "$rounds" "$server_cpu" "$client_cpu" <<'EOF'
import json
import platform
import statistics
import sys

path, rounds, server_cpu, client_cpu = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
runs = [json.loads(line) for line in open(path) if line.strip()]
targets = ["tcp", "ws", "wss"]
titles = {"tcp": "raw TCP floor", "ws": "tether ws", "wss": "tether wss"}


def values(case, target, key):
    out = []
    for run in runs:
        r = run["result"]
        if run["case"] == case and run["target"] == target and "error" not in r and key in r:
            out.append(r[key])
    return out


def errors(case, target):
    return sum(1 for run in runs
               if run["case"] == case and run["target"] == target and "error" in run["result"])


def fmt(v, unit):
    if unit == "msgs/s":
        return f"{v / 1e3:.0f} k"
    if unit == "MB/s":
        return f"{v:.0f}"
    return f"{v:.1f}"


rows = [
    ("rtt-64", "64 B round trip p50", "p50_us", "µs", False),
    ("rtt-64", "64 B round trip p90", "p90_us", "µs", False),
    ("rtt-64", "64 B round trip p99", "p99_us", "µs", False),
    ("rtt-64-same-cpu", "64 B round trip p50, same CPU", "p50_us", "µs", False),
    ("rtt-64-same-cpu", "64 B round trip p90, same CPU", "p90_us", "µs", False),
    ("rtt-64-same-cpu", "64 B round trip p99, same CPU", "p99_us", "µs", False),
    ("flood-64", "64 B flood (text)", "msgs_per_s", "msgs/s", True),
    ("flood-64k", "64 KiB flood (binary)", "mb_per_s", "MB/s", True),
    ("flood-1m", "1 MiB flood (binary)", "mb_per_s", "MB/s", True),
]

cpu_model = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(f"Loopback, {platform.node()} ({cpu_model}, kernel {platform.release()}); "
      f"servers on CPU {server_cpu}, clients on CPU {client_cpu} (same CPU: both on "
      f"{server_cpu}); {rounds} interleaved rounds; median (min–max) over the rounds. "
      "Throughput is one-way payload (MB = 10^6 bytes); round-trip percentiles are per run.")
print()
print("| case | unit | " + " | ".join(titles[t] for t in targets) +
      " | ws / floor | wss / floor |")
print("|---|---|" + "---:|" * (len(targets) + 2))
for case, label, key, unit, higher_better in rows:
    cells = []
    medians = {}
    for t in targets:
        v = values(case, t, key)
        failed = errors(case, t)
        if not v:
            cells.append("failed" if failed else "–")
            continue
        medians[t] = statistics.median(v)
        cell = f"{fmt(medians[t], unit)} ({fmt(min(v), unit)}–{fmt(max(v), unit)})"
        if failed:
            cell += f" [{failed} failed]"
        cells.append(cell)
    ratios = []
    for t in ("ws", "wss"):
        if "tcp" in medians and t in medians and medians["tcp"] > 0:
            ratios.append(f"{medians[t] / medians['tcp']:.2f}×")
        else:
            ratios.append("–")
    print(f"| {label} | {unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")

counts = {}
for run in runs:
    r = run["result"]
    if "count" in r:
        counts.setdefault(run["case"], set()).add(r["count"])
print()
print("Counts per run: " + ", ".join(
    f"{case} {'/'.join(str(c) for c in sorted(cs, reverse=True))}" for case, cs in counts.items()) +
      ". Ratios: tether median / floor median (for round trips, higher is slower).")
failed = sum(1 for run in runs if "error" in run["result"])
if failed:
    print(f"\n{failed} run(s) failed; see the raw results.")
    sys.exit(1)
EOF

# Sourced by the benchmark scripts. Needs `work` (a scratch directory) and the array `pids`.
#
# start NAME COMMAND...: runs a server in the background (its PID kept in `pids` for the
# cleanup) and sets `port` from its `LISTENING <port>` line.
port=""
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  port=""
  for _ in $(seq 1 200); do
    port=$(awk '/^LISTENING/ {print $2; exit}' "$work/$name.out" 2>/dev/null)
    [[ -n "$port" ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

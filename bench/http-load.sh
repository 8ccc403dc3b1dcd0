#!/usr/bin/env bash
# Latency and throughput of a Python hello world through cordon serve's HTTP APIs, measured with wrk on this machine:
# p50/p99 sequentially (one connection) and requests/s with 4 and 16 concurrent connections, for
# POST /api/v2/execute (Piston) and POST /v1/executions (native).
#   bash bench/http-load.sh [SECONDS]      (after `bash build.sh setup`; needs wrk: apt-get install -y wrk)
# It starts its own `cordon serve` on a free loopback port (SERVE_CMD overrides the command) with the per-client
# rate limit off, checks that each endpoint answers hello, runs wrk, and stops the server with SIGTERM.
# Set URL=http://127.0.0.1:PORT to measure a server that is already running instead.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-10}
SERVE_CMD=${SERVE_CMD:-cordon serve}
command -v wrk >/dev/null || { echo "http-load.sh: wrk is needed: apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # A clean shutdown takes at most ShutdownTimeoutSeconds (20 s by default); never wait forever for one.
    for _ in $(seq 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "http-load.sh: cordon serve did not exit within 30 s of SIGTERM; killed it (the next start's janitor reaps its jails)" >&2
      grep -E "Stopping|Stopped" "$work/server.log" >&2 || true
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port"
  CORDON_Address="127.0.0.1:$port" CORDON_RequestsPerMinute=0 $SERVE_CMD >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    curl -sf "$URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$URL/healthz" >/dev/null || { echo "http-load.sh: the server did not come up" >&2; cat "$work/server.log" >&2; exit 1; }
fi

printf '%s' '{"language":"python","version":"3","files":[{"name":"main.py","content":"print(\"hello\")"}]}' > "$work/piston.json"
printf '%s' '{"language":"python","files":[{"name":"main.py","content":"print(\"hello\")"}]}' > "$work/v1.json"

# Each endpoint must really run the program before it is timed (this also warms the runtime's version probe).
check() {
  local answer
  answer=$(curl -sS -X POST -H 'Content-Type: application/json' --data-binary "@$work/$2" "$URL$1")
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["run"]["stdout"]=="hello\n", r' "$answer" \
    || { echo "http-load.sh: $1 did not answer hello: $answer" >&2; exit 1; }
}
check /api/v2/execute piston.json
check /v1/executions v1.json

# Prints "p50 p99 requests/s non-2xx" from one wrk run.
measure() {
  local path=$1 body=$2 connections=$3 threads out
  threads=$(( connections < 2 ? 1 : 2 ))
  out=$(wrk -t"$threads" -c"$connections" -d"${SECONDS_EACH}s" --latency -s bench/post.lua "$URL$path" -- "$work/$body")
  echo "$out" >> "$work/wrk.log"
  python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
errors = re.search(r"Socket errors:.*", out)
print(f"{ms('50'):.1f} {ms('99'):.1f} {rps:.1f} {bad.group(1) if bad else 0}{' (' + errors.group(0) + ')' if errors else ''}")
PY
}

echo "cordon serve at $URL; wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), ${SECONDS_EACH} s per run, $(nproc) cores"
echo
echo "| endpoint | connections | p50 ms | p99 ms | requests/s | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for spec in "/api/v2/execute piston.json" "/v1/executions v1.json"; do
  set -- $spec
  for connections in 1 4 16; do
    read -r p50 p99 rps bad <<<"$(measure "$1" "$2" "$connections")"
    echo "| POST $1 | $connections | $p50 | $p99 | $rps | $bad |"
  done
done
echo
echo "commands: wrk -t1 -c1 -d${SECONDS_EACH}s --latency -s bench/post.lua URL -- BODY (1 connection); -t2 -c4 and -t2 -c16 for 4 and 16"

#!/bin/bash
# Usage: C=http://127.0.0.1:PORT bench/session-create-times.sh [N] against a running `cordon serve` (no API keys).
# Median and p95 of POST /v1/sessions (created, kernel ready) for each kernel set, N each, deleting each after.
C=${C:-http://127.0.0.1:2000}; N=${1:-20}; tmp=$(mktemp); trap "rm -f $tmp" EXIT
for langs in '["python"]' '["javascript"]' '["python", "javascript"]'; do
  for i in $(seq $N); do
    out=$(curl -s -o "$tmp" -w '%{time_total}' -X POST $C/v1/sessions -H 'Content-Type: application/json' -d "{\"languages\": $langs}")
    echo "$out"; curl -s -o /dev/null -X DELETE $C/v1/sessions/$(jq -r .id "$tmp"); sleep 0.2
  done | sort -n | awk -v l="$langs" '{a[NR]=$1*1000} END {printf "%-26s p50 %.1f ms  p95 %.1f ms  (n=%d)\n", l, a[int(NR*0.5+0.5)], a[int(NR*0.95+0.5)], NR}'
done

#!/usr/bin/env bash
# Cold compile and run times of every runtime's test program through `cordon run`, median of N runs each.
# Each run is a fresh cordon process and fresh jails (compile jail, then run jail): nothing is warm but the page cache.
#   bash bench/runtime-times.sh [N]        (after `bash build.sh setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
echo "| language | version | compile wall ms | run wall ms | cordon run end-to-end ms |"
echo "|---|---|---:|---:|---:|"
for dir in runtimes/*/; do
  name=$(basename "$dir")
  test=$(python3 -c 'import json,re,sys; t=open(sys.argv[1]).read(); t=re.sub(r"^\s*//.*$", "", t, flags=re.M); print(json.loads(t)["testProgram"])' "$dir/manifest.json")
  tmp=$(mktemp -d)
  cp "$dir/$test" "$tmp/"
  results=()
  for _ in $(seq "$N"); do
    start=$(date +%s%N)
    json=$(cd "$tmp" && cordon run --json --language "$name" "$test")
    end=$(date +%s%N)
    results+=("$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); c=r.get("compile"); print(r["version"], c["usage"]["wall_time_ms"] if c else "-", r["run"]["usage"]["wall_time_ms"], (int(sys.argv[2])-int(sys.argv[3]))//1000000, r["run"]["stdout"].strip())' "$json" "$end" "$start")")
  done
  rm -rf "$tmp"
  printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
def med(i):
    vals = [int(r[i]) for r in rows if r[i] != "-"]
    return str(int(statistics.median(vals))) if vals else "-"
assert all(r[4] == "OK" for r in rows), rows
print(f"| {sys.argv[1]} | {rows[0][0]} | {med(1)} | {med(2)} | {med(3)} |")' "$name"
done

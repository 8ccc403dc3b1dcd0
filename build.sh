#!/usr/bin/env bash
# Cordon's one entry point for people and CI.
#   bash build.sh setup   install what is missing (Debian 12, as root) and build
#   bash build.sh start   setup, then run Cordon's main job
#   bash build.sh test    setup, then run every test; ends with "N passed, N failed"
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
OUT="$ROOT/artifacts/cordon"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "build.sh: Cordon jails need root (it drops every jail to its own unprivileged uid); run as root." >&2
    exit 1
  fi
}

setup() {
  need_root
  local packages=(bubblewrap libseccomp2 libseccomp-dev util-linux python3 nodejs gcc libc6-dev bash hyperfine wrk perl g++ node-typescript php-cli ruby perl lua5.4 golang-go rustc default-jdk-headless sqlite3 gfortran fp-compiler gawk python3-matplotlib python3-numpy)
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Debian's nodejs ships npm separately; NodeSource's includes it.
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v dotnet >/dev/null; then
    echo "build.sh: the .NET SDK $(sed -n 's/.*"version": "\(.*\)".*/\1/p' global.json) is needed (see global.json); install it and run again." >&2
    exit 1
  fi
  # The npm clients the functional tests drive (piston-client, the MCP SDK), from each lock file.
  for js in tests/*/js; do
    [ -f "$js/package-lock.json" ] && (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  done
  dotnet build Cordon.slnx -c Release -v quiet -nologo
  # ReadyToRun: precompiled code takes about a quarter off every `cordon` start.
  dotnet publish src/Cordon.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$OUT" -v quiet -nologo >/dev/null
  # `cordon` on PATH runs this checkout's build.
  printf '#!/bin/sh\nexec dotnet "%s/cordon.dll" "$@"\n' "$OUT" > /usr/local/bin/cordon
  chmod 755 /usr/local/bin/cordon
  echo "build.sh: built; 'cordon' is on PATH"
}

start() {
  setup
  cordon doctor
  exec cordon serve
}

run_tests() {
  setup
  local results="$ROOT/artifacts/test-results"
  rm -rf "$results"
  # One project at a time, each with its own result file: no two suites compete for the 2 cores, and no
  # result file can overwrite another.
  local status=0 projects=() project name
  mapfile -t projects < <(find tests -name '*Tests.csproj' | sort)
  for project in "${projects[@]}"; do
    name=$(basename "$project" .csproj)
    dotnet test "$project" -c Release --no-build -nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      || status=1
  done
  # The security suite once more with warm pools: every attack must fail the same way from a pre-started jail.
  CORDON_TEST_WARM=1 dotnet test tests/Cordon.Security.Tests -c Release --no-build -nologo \
    --logger "trx;LogFileName=Cordon.Security.Tests.warm.trx" --results-directory "$results" || status=1
  projects+=("Cordon.Security.Tests.warm")
  local passed=0 failed=0 counters
  for project in "${projects[@]}"; do
    name=$(basename "$project" .csproj)
    if [ ! -f "$results/$name.trx" ]; then
      echo "build.sh: $name reported no results" >&2
      failed=$((failed + 1))
      continue
    fi
    counters=$(grep -o '<Counters [^>]*>' "$results/$name.trx" | head -n 1)
    passed=$((passed + $(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")))
    failed=$((failed + $(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")))
  done
  if leftovers; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  echo "$passed passed, $failed failed"
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
}

# After the suite nothing of Cordon may remain: no jail process, cgroup or jail directory.
leftovers() {
  local found=0
  for d in /sys/fs/cgroup/*/cordon /sys/fs/cgroup/cordon; do
    [ -d "$d" ] || continue
    if [ -n "$(find "$d" -mindepth 1 -type d 2>/dev/null)" ]; then
      echo "build.sh: cgroups left behind under $d:" >&2; find "$d" -mindepth 1 -type d >&2; found=1
    fi
  done
  if [ -d /run/cordon/instances ] && [ -n "$(ls -A /run/cordon/instances)" ]; then
    echo "build.sh: jail directories left behind in /run/cordon/instances:" >&2; ls /run/cordon/instances >&2; found=1
  fi
  if ps -eo uid= | awk '$1 >= 1900000 && $1 < 1904096 { found=1 } END { exit !found }'; then
    echo "build.sh: jail processes left behind:" >&2; ps -eo uid,pid,cmd | awk '$1 >= 1900000 && $1 < 1904096' >&2; found=1
  fi
  [ "$found" = 0 ] && echo "build.sh: nothing left behind (no jail process, cgroup or directory)"
  return "$found"
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  test) run_tests ;;
  *) echo "usage: bash build.sh setup|start|test" >&2; exit 2 ;;
esac

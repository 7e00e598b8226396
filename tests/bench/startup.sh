#!/usr/bin/env bash
# startup.sh: what starting opsrun costs. Times `opsrun -e ''` (Lua opened, the opsrun module and
# its embedded Lua loaded, the empty chunk run as a task, the process ended) against
# `lua5.4 -e ''`, each run R times in turns, and prints each one's mean wall time per run in ms and
# opsrun's over lua5.4's. Figures only, no pass or fail.
# Usage: tests/bench/startup.sh [R]   (default 200 runs each)
# Needs build/opsrun (or $OPSRUN) and lua5.4.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-200}
opsrun=${OPSRUN:-build/opsrun}

# Adds the wall time of one run of the command (in µs) to the variable named first.
time_once() {
  local -n total=$1
  shift
  local start=$EPOCHREALTIME
  "$@" >/dev/null
  local end=$EPOCHREALTIME
  total=$((total + ${end/./} - ${start/./}))
}

opsrun_us=0 lua_us=0
for ((i = 0; i < runs; i++)); do
  time_once opsrun_us "$opsrun" -e ''
  time_once lua_us lua5.4 -e ''
done
awk -v o="$opsrun_us" -v l="$lua_us" -v r="$runs" 'BEGIN {
  printf "opsrun -e '\'''\''  %6.2f ms\n", o / r / 1000
  printf "lua5.4 -e '\'''\''  %6.2f ms\n", l / r / 1000
  printf "ratio          %6.2fx\n", o / l
}'

#!/usr/bin/env bash
# engine.sh: the task engine's overhead. Sweeps N tasks that each sleep S seconds at concurrency
# C and prints wall time against the bound ceil(N/C) x S, CPU seconds and peak memory.
# Usage: tests/bench/engine.sh [N] [C] [S]   (default 10000 1000 0.5; needs build/opsrun)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000} c=${2:-1000} s=${3:-0.5}
opsrun=${OPSRUN:-build/opsrun}
chunk="local items = {} for i = 1, $n do items[i] = i end
local r = sweep(items, function(i) sleep($s) return i end, {concurrency = $c})
assert(#r == $n and r[$n].value == $n)"
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
/usr/bin/time -o "$stats" -f '%e %U %S %M' "$opsrun" -q --no-progress -e "$chunk" >/dev/null
read -r wall user sys rss_kb <"$stats"
awk -v n="$n" -v c="$c" -v s="$s" -v wall="$wall" -v user="$user" -v sys="$sys" -v rss="$rss_kb" 'BEGIN {
  bound = int((n + c - 1) / c) * s
  printf "%-8s %-6s %-7s %-9s %-9s %-7s %-9s %-12s %-14s\n", "tasks", "conc", "sleep", "wall s", "bound s", "ratio", "cpu s", "peak MB", "cpu us/task"
  printf "%-8d %-6d %-7.2f %-9.2f %-9.2f %-7.3f %-9.2f %-12.1f %-14.1f\n", n, c, s, wall, bound, (bound > 0 ? wall / bound : 0), user + sys, rss / 1024, (user + sys) * 1e6 / n
}'

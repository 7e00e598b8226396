#!/usr/bin/env bash
# sweep.sh: the headline job's speed, opsrun beside two peers doing the same sweep. Sweeps N
# accounts at concurrency C against the simulator with 20 ms STS and 50 ms MCP latency; each
# account costs one AssumeRole and three MCP round trips (initialize, notifications/initialized,
# tools/call), then its session is DELETEd. The tools, each one process run in turn against the
# same simulator:
#   opsrun  build/opsrun (or $OPSRUN) running a sweep() playbook
#   node    tests/bench/peers/node/sweep.mjs: AWS SDK v3 STS + the official MCP SDK client
#   python  tests/bench/peers/python/sweep.py: boto3 + ThreadPoolExecutor, requests signed by botocore
# Every tool asserts that every account's call succeeded; a failure stops the benchmark.
# The simulator keeps no request quota here and neither peer paces its requests, so opsrun runs
# with --mcp-rate 0 too: its default pacing (3 requests a second per session, the hosted
# server's quota) would hold each session's DELETE until a second after its initialize, adding
# up to a second after the sweep's last accounts that the bound does not count.
# Prints a table, a row per (N, C, tool): the sweep's own wall time (as the tool measures it),
# the whole process's wall time (start-up and the DELETEs included), the latency bound
# ceil(N/C) x (STS + 3 MCP), their ratio (whole process / bound), the tool's CPU seconds and
# peak memory, the simulator's CPU seconds over the run, all its processes (when they near the
# wall time times its workers, the simulator rather than the tool sets the pace), and the CPU
# floor: the tool's and the simulator's CPU seconds over the machine's cores, the shortest wall
# time that work allows here (when it nears the bound, the machine rather than the tool sets the
# pace). The simulator runs $SIM_WORKERS worker processes (its --workers; default: the number of
# cores). Then writes a PNG chart (gnuplot) of the whole process's wall time against N for each
# tool, the bound drawn in, a panel per C.
# Usage: tests/bench/sweep.sh ["N..." ["C..."]]   (default "100 400 1000" "16 64 256")
# Environment: TOOLS (default "opsrun node python"), STS_MS and MCP_MS (the latencies in ms;
# default 20 and 50), SIM_WORKERS, SWEEP_CHART (the PNG; default build/bench-sweep.png, empty for
# none).
# Needs build/opsrun, the simulator's and the Node peer's node_modules, Debian's python3-boto3
# and gnuplot (scripts/setup.sh installs them all).
set -euo pipefail
shopt -s inherit_errexit # a tool that fails inside $(run_TOOL) stops the benchmark
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
sizes=${1:-"100 400 1000"} concurrencies=${2:-"16 64 256"}
tools=${TOOLS:-"opsrun node python"}
chart=${SWEEP_CHART-build/bench-sweep.png}
opsrun=${OPSRUN:-build/opsrun}
sim_workers=${SIM_WORKERS:-$(nproc)}
sts_ms=${STS_MS:-20} mcp_ms=${MCP_MS:-50}
work=$(mktemp -d)
trap 'sim_stop; rm -rf "$work"' EXIT

playbook="$work/sweep.lua"
cat >"$playbook" <<'LUA'
log.info("sweep starts")
local results = sweep(accounts(), function(acct)
  assume(acct)
  return mcp.call("aws___list_regions", {}).text ~= ""
end)
log.info("sweep ends")
for _, r in ipairs(results) do assert(r.ok and r.value, tostring(r.error)) end
LUA

# measure CMD...: runs CMD as one process with only the simulator's central credentials and
# the region in its environment (stdout to $work/out, stderr to $work/log), its wall time, CPU
# and peak memory into $work/time. Fails, showing the end of its stderr, when CMD fails.
measure() {
  if ! env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' "$@" >"$work/out" 2>"$work/log"; then
    echo "sweep.sh: failed: $*" >&2
    tail -n 20 "$work/log" >&2
    return 1
  fi
}

# run_TOOL C: one sweep of $work/registry.json at concurrency C under `measure`; prints the
# sweep's own wall time in seconds.
run_opsrun() {
  measure env AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    "$opsrun" -v --log-format json --no-progress --mcp-rate 0 -r "$work/registry.json" -j "$1" "$playbook"
  # seconds between the playbook's two log lines (JSON log, millisecond timestamps)
  jq -rs 'def at: (.time[0:19] + "Z" | fromdateiso8601) + (.time[20:23] | tonumber) / 1000;
    (map(select(.message == "sweep ends")) | .[0] | at) - (map(select(.message == "sweep starts")) | .[0] | at)' "$work/log"
}
run_node() {
  measure node tests/bench/peers/node/sweep.mjs "${peer_args[@]}" --concurrency "$1"
  awk '$1 == "sweep" && $2 == "seconds" { print $3 }' "$work/out"
}
run_python() {
  measure /usr/bin/python3 tests/bench/peers/python/sweep.py "${peer_args[@]}" --concurrency "$1"
  awk '$1 == "sweep" && $2 == "seconds" { print $3 }' "$work/out"
}

# chart ROWS PNG: the whole process's wall time against N, a line per tool and the bound, a
# panel per C, from the table's rows (tab-separated: tool N C sweep wall bound ...).
chart() {
  local rows=$1 png=$2 c panels=() file
  for c in $concurrencies; do
    file="$work/chart-$c.dat" # N bound wall-of-each-tool, in the order of $tools
    awk -F'\t' -v c="$c" -v tools="$tools" '
      BEGIN { ntools = split(tools, tool, " ") }
      $3 == c { wall[$2, $1] = $5; bound[$2] = $6; if (!($2 in seen)) { seen[$2]; order[++n] = $2 } }
      END { for (i = 1; i <= n; i++) { line = order[i] "\t" bound[order[i]]
              for (t = 1; t <= ntools; t++) line = line "\t" wall[order[i], tool[t]]
              print line } }' "$rows" >"$file"
    panels+=("set title 'C = $c'; plot for [i=1:words(tools)] '$file' using 1:(column(i+2)) with linespoints title word(tools, i), '$file' using 1:2 with lines dashtype 2 linecolor 'black' title 'bound'")
  done
  mkdir -p "$(dirname "$png")"
  gnuplot <<GNUPLOT
tools = "$tools"
set terminal pngcairo size $((420 * $(wc -w <<<"$concurrencies") + 80)),420 font ',10'
set output '$png'
set multiplot layout 1,$(wc -w <<<"$concurrencies") title 'Sweep of N accounts at concurrency C: whole-process wall time (STS $sts_ms ms, MCP $mcp_ms ms; simulator: $sim_workers worker(s); $(date -u +%F))'
set datafile separator tab
set xlabel 'accounts (N)'; set ylabel 'wall time (s)'; set key top left Left reverse; set grid
set yrange [0:*]
$(printf '%s\n' "${panels[@]}")
unset multiplot
GNUPLOT
}

rows="$work/rows.tsv"
: >"$rows"
echo "simulator: $sim_workers worker process(es); sim cpu s is all its processes' CPU"
printf '%-7s %-6s %-5s %-8s %-8s %-8s %-7s %-7s %-8s %-9s %-11s\n' tool N C "sweep s" "wall s" "bound s" \
  ratio "cpu s" "peak MB" "sim cpu s" "cpu floor s"
for n in $sizes; do
  sim_start --workers "$sim_workers" --accounts "$n" --sts-latency-ms "$sts_ms" --mcp-latency-ms "$mcp_ms" >/dev/null
  sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"
  peer_args=(--registry "$work/registry.json" --sts "$SIM_STS" --mcp "$SIM_MCP"
    --role-name "$(sim_get .role_name)")
  # The simulator's JavaScript runs unoptimised until V8 has compiled its busy paths: one sweep,
  # not measured, warms it, or the first tool measured pays for it (about twice the simulator's
  # CPU per account in a cold sweep of 1,000 accounts).
  run_opsrun "${concurrencies##* }" >/dev/null
  for c in $concurrencies; do
    for tool in $tools; do
      sim_before=$(sim_cpu_seconds)
      swept=$("run_$tool" "$c")
      read -r wall user sys rss <"$work/time"
      awk -v rows="$rows" -v tool="$tool" -v n="$n" -v c="$c" -v swept="$swept" -v wall="$wall" \
        -v cpu="$(echo "$user + $sys" | bc)" -v rss="$rss" -v trip="$((sts_ms + 3 * mcp_ms))" \
        -v sim="$(echo "$(sim_cpu_seconds) - $sim_before" | bc)" -v cores="$(nproc)" 'BEGIN {
        bound = int((n + c - 1) / c) * trip / 1000
        printf "%-7s %-6d %-5d %-8.2f %-8.2f %-8.2f %-7.2f %-7.2f %-8.1f %-9.2f %-11.2f\n", tool, n, c,
          swept, wall, bound, wall / bound, cpu, rss / 1024, sim, (cpu + sim) / cores
        printf "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\n", tool, n, c, swept, wall, bound >>rows
      }'
    done
  done
  sim_stop
done
if [ -n "$chart" ]; then
  chart "$rows" "$chart"
  echo "chart: $chart"
fi

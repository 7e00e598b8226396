#!/usr/bin/env bash
# sweep.sh: the headline job's speed. Sweeps N accounts at concurrency C against the simulator
# with 20 ms STS and 50 ms MCP latency; each account costs one AssumeRole and three MCP round
# trips (initialize, notifications/initialized, tools/call). Prints the sweep's wall time (from
# the playbook's own log lines), the latency bound ceil(N/C) x (STS + 3 MCP), their ratio, the
# whole process's wall time (start-up and the DELETE of every session at exit included),
# opsrun's CPU seconds and its peak memory, and the simulator's CPU seconds over the run (when
# they near the wall time, the simulator rather than opsrun sets the pace).
# Usage: tests/bench/sweep.sh ["N..." ["C..."]]   (default "100 400 1000" "16 64 256")
# Needs build/opsrun (or $OPSRUN) and the simulator's node_modules (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
sizes=${1:-"100 400 1000"} concurrencies=${2:-"16 64 256"}
opsrun=${OPSRUN:-build/opsrun}
sts_ms=20 mcp_ms=50
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

# Seconds between the playbook's two log lines (JSON log, millisecond timestamps).
sweep_seconds() {
  jq -rs 'def at: (.time[0:19] + "Z" | fromdateiso8601) + (.time[20:23] | tonumber) / 1000;
    (map(select(.message == "sweep ends")) | .[0] | at) - (map(select(.message == "sweep starts")) | .[0] | at)' "$1"
}

# CPU seconds the simulator has used so far, all its threads.
sim_cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SIM_PID/stat"
}

printf '%-6s %-5s %-8s %-8s %-7s %-8s %-7s %-8s %-8s\n' N C "sweep s" "bound s" ratio "total s" "cpu s" \
  "peak MB" "sim cpu s"
for n in $sizes; do
  sim_start --accounts "$n" --sts-latency-ms "$sts_ms" --mcp-latency-ms "$mcp_ms" >/dev/null
  sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"
  for c in $concurrencies; do
    sim_before=$(sim_cpu_seconds)
    env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
      AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
      /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$opsrun" -v --log-format json --no-progress -r "$work/registry.json" -j "$c" "$playbook" \
      2>"$work/log"
    read -r total user sys rss <"$work/time"
    awk -v n="$n" -v c="$c" -v swept="$(sweep_seconds "$work/log")" -v total="$total" \
      -v cpu="$(echo "$user + $sys" | bc)" -v rss="$rss" -v trip="$(( sts_ms + 3 * mcp_ms ))" \
      -v sim="$(echo "$(sim_cpu_seconds) - $sim_before" | bc)" 'BEGIN {
      bound = int((n + c - 1) / c) * trip / 1000
      printf "%-6d %-5d %-8.2f %-8.2f %-7.2f %-8.2f %-7.2f %-8.1f %-8.2f\n", n, c, swept, bound,
        swept / bound, total, cpu, rss / 1024, sim
    }'
  done
  sim_stop
done

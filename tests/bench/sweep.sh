#!/usr/bin/env bash
# sweep.sh: the headline job's speed. Sweeps N accounts at concurrency C against the simulator
# with 20 ms STS and 50 ms MCP latency; each account costs one AssumeRole and three MCP round
# trips (initialize, notifications/initialized, tools/call). Prints wall time, the latency bound
# ceil(N/C) x (STS + 3 MCP), their ratio, opsrun's CPU seconds and peak memory.
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
local results = sweep(accounts(), function(acct)
  assume(acct)
  return mcp.call("aws___list_regions", {}).text ~= ""
end)
for _, r in ipairs(results) do assert(r.ok and r.value, tostring(r.error)) end
LUA

printf '%-6s %-5s %-8s %-8s %-7s %-7s %-8s\n' N C "wall s" "bound s" ratio "cpu s" "peak MB"
for n in $sizes; do
  sim_start --accounts "$n" --sts-latency-ms "$sts_ms" --mcp-latency-ms "$mcp_ms" >/dev/null
  sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"
  for c in $concurrencies; do
    env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
      AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
      /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$opsrun" -q --no-progress -r "$work/registry.json" -j "$c" "$playbook"
    read -r wall user sys rss <"$work/time"
    awk -v n="$n" -v c="$c" -v wall="$wall" -v cpu="$(echo "$user + $sys" | bc)" -v rss="$rss" \
      -v trip="$(( sts_ms + 3 * mcp_ms ))" 'BEGIN {
      bound = int((n + c - 1) / c) * trip / 1000
      printf "%-6d %-5d %-8.2f %-8.2f %-7.2f %-7.2f %-8.1f\n", n, c, wall, bound, wall / bound, cpu, rss / 1024
    }'
  done
  sim_stop
done

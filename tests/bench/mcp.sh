#!/usr/bin/env bash
# mcp.sh: signed tools/call round trips over one MCP session against the simulator with no
# injected latency: calls per second and opsrun's CPU microseconds per call, one call at a time
# and with many in flight on the same session. The simulator runs on the same machine; the
# per-account MCP request quota (--mcp-rate, default 3 a second) is off, as it would measure sleeps.
# Usage: tests/bench/mcp.sh [CALLS]   (default 2000; needs build/opsrun or $OPSRUN)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
calls=${1:-2000}
opsrun=${OPSRUN:-build/opsrun}
work=$(mktemp -d)
trap 'sim_stop || true; rm -rf "$work"' EXIT
sim_start --accounts 1 >/dev/null

printf '%-22s %-7s %-9s %-10s %-12s\n' mode calls "wall s" "calls/s" "cpu us/call"
for in_flight in 1 16 64; do
  cat >"$work/bench.lua" <<LUA
mcp.tools() -- opens the session first
local per_task = $calls // $in_flight
local tasks = {}
for i = 1, $in_flight do tasks[i] = i end
sweep(tasks, function()
  for _ = 1, per_task do mcp.call("aws___list_regions", {}) end
end, { concurrency = $in_flight })
LUA
  env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    /usr/bin/time -o "$work/time" -f '%e %U %S' "$opsrun" -q --no-progress --mcp-rate 0 "$work/bench.lua"
  read -r wall user sys <"$work/time"
  done_calls=$(( calls / in_flight * in_flight ))
  awk -v mode="$in_flight in flight" -v n="$done_calls" -v wall="$wall" -v cpu="$(echo "$user + $sys" | bc)" \
    'BEGIN { printf "%-22s %-7d %-9.2f %-10.0f %-12.1f\n", mode, n, wall, n / wall, cpu * 1e6 / n }'
done

#!/usr/bin/env bash
# paginate.sh: what following pages inside the sandbox buys. Sweeps N accounts whose EC2
# DescribeInstances answers in P pages (MaxResults 5) against the simulator (20 ms STS, 50 ms MCP
# latency), once with mcp.paginate (one tools/call per account) and once with a Lua loop of
# mcp.boto3 calls passing NextToken (P tools/call per account, paced below the hosted quota of 3
# requests a second per account). Prints each run's wall time, tools/call count and instances
# found, the latency bound of one round trip per account, and the loop's time over paginate's.
# Usage: [MCP_RATE=R] tests/bench/paginate.sh [N [PAGES [C]]]   (default 64 accounts, 10 pages,
# C 64; MCP_RATE is --mcp-rate, 0 for no pacing)
# Needs build/opsrun (or $OPSRUN) and the simulator's node_modules (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
n=${1:-64} pages=${2:-10} c=${3:-64}
opsrun=${OPSRUN:-build/opsrun}
sts_ms=20 mcp_ms=50
work=$(mktemp -d)
trap 'sim_stop; rm -rf "$work"' EXIT

# The playbook: `paginate` or `loop` as its argument says how each account's pages are read.
cat >"$work/instances.lua" <<'LUA'
local way = ...
local function instances_of(page)
  local count = 0
  for _, reservation in ipairs(page.Reservations) do count = count + #reservation.Instances end
  return count
end
local function count_instances()
  if way == "paginate" then
    return instances_of(mcp.paginate("ec2", "DescribeInstances", {}, { page_size = 5 }))
  end
  local count, token = 0, nil
  repeat
    local page = mcp.boto3("ec2", "DescribeInstances", { MaxResults = 5, NextToken = token })
    count, token = count + instances_of(page), page.NextToken
  until token == nil
  return count
end
local results = sweep(accounts(), function(acct)
  assume(acct)
  return count_instances()
end)
local total = 0
for _, r in ipairs(results) do total = total + assert(r.ok and r.value, tostring(r.error)) end
print(total)
LUA

sim_start --accounts "$n" --instances-per-region $((pages * 5)) --sts-latency-ms "$sts_ms" \
  --mcp-latency-ms "$mcp_ms" >/dev/null
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"

# run WAY: prints "seconds tool_calls instances".
run() {
  curl -s -X POST "${SIM_COUNTERS%/counters}/reset" >/dev/null
  local start end found
  start=$(date +%s.%N)
  found=$(env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    "$opsrun" -q --no-progress -r "$work/registry.json" -j "$c" ${MCP_RATE:+--mcp-rate "$MCP_RATE"} \
    "$work/instances.lua" "$1")
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $(curl -s "$SIM_COUNTERS" | jq .tool_calls.total) $found"
}

read -r paginate_s paginate_calls paginate_found < <(run paginate)
read -r loop_s loop_calls loop_found < <(run loop)
bound=$(echo "scale=2; ($n + $c - 1) / $c * ($sts_ms + 3 * $mcp_ms) / 1000" | bc)
printf '%-14s %-8s %-11s %-10s %-8s\n' way "wall s" "tool calls" instances "bound s"
printf '%-14s %-8.2f %-11d %-10d %-8.2f\n' mcp.paginate "$paginate_s" "$paginate_calls" \
  "$paginate_found" "$bound"
printf '%-14s %-8.2f %-11d %-10d\n' "mcp.boto3 loop" "$loop_s" "$loop_calls" "$loop_found"
printf 'the loop takes %.1fx as long as mcp.paginate for %d pages per account\n' \
  "$(echo "$loop_s / $paginate_s" | bc -l)" "$pages"

#!/usr/bin/env bash
# regions.sh: a sweep of N accounts in R regions each (one tools/call per account and region) at
# concurrency C, against the simulator with the hosted server's quota of 3 MCP requests a second
# per account (--mcp-rate-limit 3, which opsrun's own pacing, --mcp-rate 3, keeps under) and
# 20 ms STS / 50 ms MCP latency. Each account sends 2 + R requests (initialize,
# notifications/initialized, R tool calls), so no schedule beats the pace bound (2 + R) / 3 s,
# nor the round-trip bound ceil(N x R / C) x 50 ms; the sweep's wall time (from the playbook's own
# log lines) is printed against the larger. A sweep that starts one account's regions together
# fills its places with tasks waiting on that account's pace while the others sit idle.
# Usage: tests/bench/regions.sh ["N" ["R" ["C..."]]]   (default 8 17 "16 136")
# Needs build/opsrun (or $OPSRUN) and the simulator's node_modules (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
n=${1:-8} r=${2:-17} concurrencies=${3:-"16 136"}
opsrun=${OPSRUN:-build/opsrun}
sts_ms=20 mcp_ms=50 rate=3
work=$(mktemp -d)
trap 'sim_stop; rm -rf "$work"' EXIT

# The first R of the Regions enabled by default (launched before March 2019).
regions=$(printf '"%s",' us-east-1 us-east-2 us-west-1 us-west-2 ca-central-1 eu-west-1 eu-west-2 \
  eu-west-3 eu-central-1 eu-north-1 ap-south-1 ap-northeast-1 ap-northeast-2 ap-northeast-3 \
  ap-southeast-1 ap-southeast-2 sa-east-1 | cut -d, -f"1-$r")
playbook="$work/regions.lua"
cat >"$playbook" <<LUA
log.info("sweep starts")
local results = sweep(accounts(), function(acct, region)
  assume(acct)
  return mcp.call("aws___list_regions", {}, { region = region }).text ~= ""
end, { regions = { $regions } })
log.info("sweep ends")
for _, r in ipairs(results) do assert(r.ok and r.value, tostring(r.error)) end
LUA

# Seconds between the playbook's two log lines (JSON log, millisecond timestamps).
sweep_seconds() {
  jq -rs 'def at: (.time[0:19] + "Z" | fromdateiso8601) + (.time[20:23] | tonumber) / 1000;
    (map(select(.message == "sweep ends")) | .[0] | at) - (map(select(.message == "sweep starts")) | .[0] | at)' "$1"
}

sim_start --accounts "$n" --sts-latency-ms "$sts_ms" --mcp-latency-ms "$mcp_ms" \
  --mcp-rate-limit "$rate" >/dev/null
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"
printf '%-4s %-4s %-5s %-8s %-8s %-7s %-8s %-9s\n' N R C "sweep s" "bound s" ratio "total s" \
  "throttled"
for c in $concurrencies; do
  curl -s -X POST "${SIM_COUNTERS%/counters}/reset" >/dev/null
  env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    /usr/bin/time -o "$work/time" -f '%e' \
    "$opsrun" -v --log-format json --no-progress -r "$work/registry.json" -j "$c" "$playbook" \
    2>"$work/log"
  throttled=$(curl -s "$SIM_COUNTERS" | jq .quota_throttled.total)
  awk -v n="$n" -v r="$r" -v c="$c" -v swept="$(sweep_seconds "$work/log")" \
    -v total="$(cat "$work/time")" -v rate="$rate" -v mcp="$mcp_ms" -v throttled="$throttled" 'BEGIN {
    pace = (2 + r) / rate
    trips = int((n * r + c - 1) / c) * mcp / 1000
    bound = pace > trips ? pace : trips
    printf "%-4d %-4d %-5d %-8.2f %-8.2f %-7.2f %-8.2f %-9d\n", n, r, c, swept, bound,
      swept / bound, total, throttled
  }'
done

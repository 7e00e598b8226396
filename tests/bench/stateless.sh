#!/usr/bin/env bash
# stateless.sh: opsrun's sweep against a server of the stateless MCP revision (2026-07-28) beside
# one of 2025-11-25 sessions, with the simulator's 20 ms STS and 50 ms MCP latency. A stateless
# account costs one AssumeRole and one MCP round trip (tools/call), so its bound is
# ceil(N/C) x (STS + MCP); in sessions it is ceil(N/C) x (STS + 3 MCP) (initialize,
# notifications/initialized, tools/call; the DELETE after). opsrun asks the endpoint its revision
# once (server/discover, one MCP round trip before the first call) unless
# OPSRUN_MCP_PROTOCOL_VERSION pins it: rows `discover` and `pinned` show both.
# Prints a row per (revision, N, C, way): the whole process's wall time, the bound, their ratio,
# MCP requests per account (the simulator's counters) and opsrun's CPU seconds. opsrun runs with
# --mcp-rate 0, as the simulator keeps no quota here (see sweep.sh).
# Usage: tests/bench/stateless.sh ["N..." ["C..."]]   (default "1000" "64")
# Environment: STS_MS and MCP_MS (the latencies in ms; default 20 and 50), SIM_WORKERS (default:
# the number of cores). Needs build/opsrun (or $OPSRUN) and the simulator's node_modules.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
source tests/sim/lib.sh
sizes=${1:-1000} concurrencies=${2:-64}
opsrun=${OPSRUN:-build/opsrun}
sim_workers=${SIM_WORKERS:-$(nproc)}
sts_ms=${STS_MS:-20} mcp_ms=${MCP_MS:-50}
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

# sweep C [NAME=VALUE...]: one whole opsrun process at concurrency C; its wall and CPU seconds
# into $work/time.
sweep() {
  local c=$1
  shift
  if ! env -i PATH="$PATH" HOME="$work" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" "$@" \
    /usr/bin/time -o "$work/time" -f '%e %U %S' "$opsrun" --no-progress --mcp-rate 0 \
    -r "$work/registry.json" -j "$c" "$playbook" >/dev/null 2>"$work/log"; then
    echo "stateless.sh: the sweep failed:" >&2
    tail -n 20 "$work/log" >&2
    return 1
  fi
}

printf '%-11s %-6s %-5s %-9s %-8s %-8s %-7s %-12s %-6s\n' revision N C way "wall s" "bound s" ratio \
  "MCP/account" "cpu s"
for revision in 2026-07-28 2025-11-25; do
  trips=$([ "$revision" = 2026-07-28 ] && echo 1 || echo 3)
  for n in $sizes; do
    sim_start --workers "$sim_workers" --accounts "$n" --sts-latency-ms "$sts_ms" \
      --mcp-latency-ms "$mcp_ms" --mcp-revision "$revision" >/dev/null
    sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$work/registry.json"
    sweep "${concurrencies##* }" # not measured: warms the simulator's JavaScript (see sweep.sh)
    for c in $concurrencies; do
      for way in discover pinned; do
        pin=()
        [ "$way" = pinned ] && pin=(OPSRUN_MCP_PROTOCOL_VERSION="$revision")
        sim_reset_counters
        sweep "$c" "${pin[@]}"
        read -r wall user sys <"$work/time"
        mcp=$(sim_curl "$SIM_COUNTERS" | jq .requests.mcp)
        awk -v revision="$revision" -v n="$n" -v c="$c" -v way="$way" -v wall="$wall" \
          -v cpu="$(echo "$user + $sys" | bc)" -v mcp="$mcp" \
          -v trip="$((sts_ms + trips * mcp_ms))" 'BEGIN {
          bound = int((n + c - 1) / c) * trip / 1000
          printf "%-11s %-6d %-5d %-9s %-8.2f %-8.2f %-7.3f %-12.3f %-6.2f\n", revision, n, c, way, wall,
            bound, wall / bound, mcp / n, cpu
        }'
      done
    done
    sim_stop
  done
done

#!/usr/bin/env bash
# revisions_test.sh: a sweep against each MCP revision the simulator serves (--mcp-revision):
# stateless 2026-07-28 costs 1 STS and 1 MCP request per account (one server/discover for the
# endpoint besides), with no session; a server of both revisions is spoken to statelessly; a
# 2025-11-25 server is found by the refused server/discover and spoken to in sessions, as before.
# Round trips per account come from the simulator's counters.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

write_script sweep.lua >/dev/null <<'LUA'
local results = sweep(accounts(), function(acct)
  assume(acct)
  return mcp.call("aws___list_regions", {}).text ~= nil
end)
local ok = 0
for _, r in ipairs(results) do
  if r.ok and r.value then ok = ok + 1 end
end
print(ok)
LUA

ACCOUNTS=12
# per_account JQ: the values of a per-account tally, sorted and joined ("1 1 ... 2").
per_account() { jq -r "[$1[]] | sort | map(tostring) | join(\" \")" <<<"$counters"; }
ones=$(printf '1 %.0s' $(seq 2 $ACCOUNTS))

# --- stateless: 1 STS + 1 MCP request per account -----------------------------------------

for revision in 2026-07-28 both; do
  sim_start --accounts $ACCOUNTS --mcp-revision $revision || exit 1
  sim_sweep "$E2E_TMP/sweep.lua" -- -j 4 -v --
  mcp=$(jq .requests.mcp <<<"$counters")
  expect "--mcp-revision $revision: $ACCOUNTS accounts done, $mcp MCP requests ($ACCOUNTS tools/call + 1 server/discover)" \
    '[ $status -eq 0 ] && [ "$out" = "$ACCOUNTS" ] && [ "$mcp" -eq $((ACCOUNTS + 1)) ] &&
     [ "$(jq .stateless_requests.by_method.\"tools/call\" <<<"$counters")" -eq $ACCOUNTS ] &&
     [ "$(jq .stateless_requests.by_method.\"server/discover\" <<<"$counters")" -eq 1 ]'
  expect "... 1 AssumeRole and 1 MCP request per workload account, no session opened" \
    '[ "$(per_account .assume_role)" = "${ones}1" ] &&
     [ "$(jq "[.mcp_requests_by_account | to_entries[] | select(.key != \"111111111111\") | .value] | add" <<<"$counters")" -le $((ACCOUNTS + 1)) ] &&
     [ "$(jq "[.mcp_requests_by_account[]] | max" <<<"$counters")" -le 2 ] &&
     [ "$(jq .sessions_opened <<<"$counters")" -eq 0 ] && [ "$(jq .requests.sts <<<"$counters")" -eq $ACCOUNTS ]'
  expect "... -v says the endpoint speaks 2026-07-28" \
    'grep -q "speaks 2026-07-28, stateless (server aws-mcp 1.0.0)" <<<"$err"'
  sim_run opsrun doctor mcp
  expect "... doctor's mcp line says the endpoint is stateless" \
    '[ $status -eq 0 ] && grep -q "^✓ mcp .*: server/discover (2026-07-28, stateless) and tools/list signed, 8 tools" <<<"$out"'
  sim_stop
done

# --- 2025-11-25 sessions, found by the refused server/discover -------------------------------

sim_start --accounts $ACCOUNTS || exit 1
sim_sweep "$E2E_TMP/sweep.lua" -- -j 4 -v --
mcp=$(jq .requests.mcp <<<"$counters")
expect "--mcp-revision 2025-11-25: $ACCOUNTS accounts done in $ACCOUNTS sessions, $mcp MCP requests (4 per account + 1 server/discover)" \
  '[ $status -eq 0 ] && [ "$out" = "$ACCOUNTS" ] && [ "$mcp" -eq $((4 * ACCOUNTS + 1)) ] &&
   [ "$(jq .sessions_opened <<<"$counters")" -eq $ACCOUNTS ] && [ "$(jq .sessions_closed <<<"$counters")" -eq $ACCOUNTS ] &&
   [ "$(jq .stateless_requests.total <<<"$counters")" -eq 0 ]'
expect "... -v says it falls back to 2025-11-25 sessions" \
  'grep -q "does not speak 2026-07-28 (server/discover answered HTTP 400, JSON-RPC error -32000): using 2025-11-25 sessions" <<<"$err"'

# Pinned to sessions, opsrun sends no server/discover.
sim_sweep "$E2E_TMP/sweep.lua" OPSRUN_MCP_PROTOCOL_VERSION=2025-11-25 -- -j 4 --
expect "OPSRUN_MCP_PROTOCOL_VERSION=2025-11-25: no server/discover, 4 MCP requests per account" \
  '[ $status -eq 0 ] && [ "$(jq .requests.mcp <<<"$counters")" -eq $((4 * ACCOUNTS)) ]'
sim_sweep "$E2E_TMP/sweep.lua" OPSRUN_MCP_PROTOCOL_VERSION=2026-07-28 -- -j 4 --
expect "pinned to 2026-07-28 against a 2025-11-25 server: every account fails with the server's words" \
  '[ $status -eq 3 ] && grep -q "Mcp-Session-Id header is required" <<<"$err"'
sim_sweep "$E2E_TMP/sweep.lua" OPSRUN_MCP_PROTOCOL_VERSION=2025-03-26 -- -j 4 --
expect "OPSRUN_MCP_PROTOCOL_VERSION with another value is a configuration error" \
  '[ $status -eq 2 ] && grep -q "OPSRUN_MCP_PROTOCOL_VERSION=2025-03-26: expected 2026-07-28" <<<"$err"'
sim_stop

finish

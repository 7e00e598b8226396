#!/usr/bin/env bash
# sessions_test.sh: every MCP session opsrun opens is closed (DELETE) by the end of the run, as
# the MCP specification asks: DELETEs go out at most -j at once, a throttled DELETE is sent again,
# and the session of credentials that were refreshed mid-sweep is closed while they are still
# valid (no ExpiredToken at the server). Against tests/sim and its counters.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# One tool call per account (more with CALLS, SLEEP seconds apart); prints "ok failed".
write_script sweep.lua >/dev/null <<'LUA'
local calls, pause = tonumber(os.getenv("CALLS") or "1"), tonumber(os.getenv("SLEEP") or "0")
local results = sweep({...}, function(id)
  assume(id)
  for i = 1, calls do
    if i > 1 then sleep(pause) end
    mcp.call("aws___list_regions", {})
  end
end)
local ok, failed = 0, 0
for _, r in ipairs(results) do
  if r.ok then ok = ok + 1 else failed = failed + 1 end
end
print(ok, failed)
LUA

# --- the concurrency limit ------------------------------------------------------------------

sim_start --accounts 40 --mcp-latency-ms 200 || exit 1 # slow enough for DELETEs to overlap
mapfile -t ids < <(sim_get '.accounts[]')
sim_run opsrun -j 6 "$E2E_TMP/sweep.lua" "${ids[@]}"
expect "40 sessions with -j 6: all closed, at most 6 DELETEs at once ($(sim_counter .peak_concurrent_deletes))" \
  '[ $status -eq 0 ] && [ "$(sim_counter .sessions_opened)" -eq 40 ] && [ "$(sim_counter .sessions_active)" -eq 0 ] &&
   [ "$(sim_counter .peak_concurrent_deletes)" -le 6 ] && [ "$(sim_counter .peak_concurrent_deletes)" -ge 4 ]'
sim_stop

# --- throttled DELETEs ----------------------------------------------------------------------

# A third of MCP requests throttled; enough attempts that every call gets through in the end.
sim_start --accounts 30 --mcp-throttle-rate 0.3 --seed 7 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
sim_run env AWS_MAX_ATTEMPTS=12 "$OPSRUN" -j 10 "$E2E_TMP/sweep.lua" "${ids[@]}"
expect "throttled run ($(sim_counter .throttled.mcp) throttled): every session opened is closed" \
  '[ $status -eq 0 ] && [ "$out" = "30	0" ] && [ "$(sim_counter .throttled.mcp)" -gt 0 ] &&
   [ "$(sim_counter .sessions_opened)" -eq 30 ] && [ "$(sim_counter .sessions_active)" -eq 0 ] &&
   [ "$(sim_counter .peak_concurrent_deletes)" -le 10 ]'
sim_stop

# --- credentials refreshed mid-sweep --------------------------------------------------------

# Role credentials live 4 s, so opsrun assumes each role again 2 s in (halfway through a short
# lifetime); calls 0, 2.5 and 5 s in run on three keys, the first expired by the end.
sim_start --accounts 4 --credential-lifetime 4 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
sim_run env CALLS=3 SLEEP=2.5 "$OPSRUN" "$E2E_TMP/sweep.lua" "${ids[@]}"
expect "refreshed mid-sweep: 3 keys, 3 sessions per account ($(sim_counter .sessions_opened)), all closed" \
  '[ $status -eq 0 ] && [ "$out" = "4	0" ] && [ "$(sim_counter "[.assume_role[]] | min")" -ge 3 ] &&
   [ "$(sim_counter .sessions_opened)" -ge 12 ] && [ "$(sim_counter .sessions_active)" -eq 0 ]'
expect "... each old session DELETEd while its key was valid: no ExpiredToken at the server" \
  '[ "$(sim_counter ".signature_failures.by_reason.expired_token // 0")" -eq 0 ] &&
   [ "$(sim_counter .signature_failures.total)" -eq 0 ]'

finish

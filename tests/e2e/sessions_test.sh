#!/usr/bin/env bash
# sessions_test.sh: every MCP session opsrun opens is closed (DELETE) by the end of the run, as
# the MCP specification asks: a sweep closes an account's sessions as soon as its last task in
# the account has ended, while other accounts still work (a failing account's too, once, and
# none for an account that never opened one); DELETEs go out at most -j at once, a throttled
# DELETE is sent again, and the session of credentials that were refreshed mid-sweep is closed
# while they are still valid (no ExpiredToken at the server). Against tests/sim and its counters.
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

# --- closed as each account's work ends -----------------------------------------------------

# Two tasks per account sharing its session; the first account's second task waits for the test
# to create $GATE, so that the sweep is still running while the test reads the counters.
write_script gated.lua >/dev/null <<'LUA'
local ids = {...}
local results = sweep(ids, function(id, region)
  assume(id)
  mcp.call("aws___list_regions", {}, { timeout = 3 }) -- a hung account's task fails in 3 s
  if id == ids[1] and region == "eu-west-1" then
    while not io.open(os.getenv("GATE")) do sleep(0.05) end
  end
end, { regions = { "us-east-1", "eu-west-1" } })
local failed = 0
for _, r in ipairs(results) do failed = failed + (r.ok and 0 or 1) end
print(#results, failed)
LUA

# six accounts: four answer, one hangs its tool calls (its tasks time out), one refuses AssumeRole
sim_start --accounts 6 --hang-accounts 1 --deny-accounts 1 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
gate="$E2E_TMP/gate"
env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" GATE="$gate" \
  "$OPSRUN" -j 4 "$E2E_TMP/gated.lua" "${ids[@]}" >"$E2E_TMP/gated.out" 2>"$E2E_TMP/gated.err" &
gated=$!
for _ in $(seq 200); do # until the four sessions not held by the gated task are closed (20 s)
  [ "$(sim_counter .sessions_closed)" -ge 4 ] && break
  sleep 0.1
done
closed_during=$(sim_counter .sessions_closed) active_during=$(sim_counter .sessions_active)
expect "during the sweep: every session but the one a running task holds is closed ($closed_during closed, $active_during open)" \
  '[ "$closed_during" -eq 4 ] && [ "$active_during" -eq 1 ] && kill -0 $gated'
touch "$gate"
wait $gated
status=$?
expect "after it (status $status, results and failures $(cat "$E2E_TMP/gated.out")): all 5 sessions closed, each DELETEd once ($(sim_counter .deletes) DELETEs)" \
  '[ $status -eq 3 ] && [ "$(cat "$E2E_TMP/gated.out")" = "12	4" ] &&
   [ "$(sim_counter .sessions_opened)" -eq 5 ] && [ "$(sim_counter .sessions_closed)" -eq 5 ] &&
   [ "$(sim_counter .sessions_active)" -eq 0 ] && [ "$(sim_counter .deletes)" -eq 5 ]'
sim_stop

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

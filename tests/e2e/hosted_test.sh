#!/usr/bin/env bash
# hosted_test.sh: opsrun against the simulator acting as the hosted AWS MCP Server does where it
# differs from a plain MCP server (tests/sim/README.md, public evidence): sessions that end in the
# hosted server's JSON-RPC error -30001 at HTTP 200, 400 or 404, the per-account request quota,
# and --read-only refusing what it cannot tell is a read before anything is sent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# Every account, three tool calls each, in a sweep; prints "ok failed".
sweep_calls='local ids = {...}
local results = sweep(ids, function(id)
  assume(id)
  for _ = 1, 3 do mcp.call("aws___list_regions", {}) end
end, { concurrency = 8 })
local ok, failed = 0, 0
for _, r in ipairs(results) do
  if r.ok then ok = ok + 1 else failed = failed + 1 print(tostring(r.error)) end
end
print(ok, failed)'

for status_code in 200 400 404; do
  sim_start --accounts 6 --session-expiry 2 --session-expiry-error hosted \
    --session-expiry-status "$status_code" || exit 1
  mapfile -t ids < <(sim_get '.accounts[]')
  sim_run opsrun --mcp-rate 0 -e "$sweep_calls" "${ids[@]}" # each call reopens: unpaced for speed
  expect "sessions gone with -30001 at HTTP $status_code are opened again: every account succeeds" \
    '[ $status -eq 0 ] && [ "$out" = "6	0" ] && [ "$(sim_counter .sessions_expired)" -ge 6 ]'
  sim_stop
done

# N calls at once in one account (N the chunk's argument), against a per-account quota: paced,
# they all succeed.
calls='local n = tonumber(...)
local calls = {}
for i = 1, n do calls[i] = i end
local results = sweep(calls, function() return #mcp.call("aws___list_regions", {}).content end,
  { concurrency = n })
local ok = 0
for _, r in ipairs(results) do if r.ok then ok = ok + 1 end end
print(ok)'
sim_start --accounts 1 --mcp-rate-limit 10 || exit 1
sim_run opsrun --mcp-rate 10 -e "$calls" 40
expect "40 calls in one account under a 10/s quota, paced at 10/s: all succeed, few 429s" \
  '[ $status -eq 0 ] && [ "$out" = 40 ] && [ "$(sim_counter .quota_throttled.total)" -le 3 ]'
sim_stop
sim_start --accounts 1 --mcp-rate-limit 3 || exit 1
sim_run opsrun -e "$calls" 12
expect "12 calls under the documented 3/s quota with the default pacing: all succeed, few 429s" \
  '[ $status -eq 0 ] && [ "$out" = 12 ] && [ "$(sim_counter .quota_throttled.total)" -le 3 ]'
sim_run opsrun --mcp-rate 0 -e "$calls" 12
expect "without pacing the same calls meet the quota (the test can fail)" \
  '[ "$(sim_counter .quota_throttled.total)" -gt 6 ]'
sim_stop

# --read-only: refused before anything is sent; reads go through.
sim_start --accounts 1 || exit 1
sim_run opsrun --read-only -e 'mcp.call("aws___run_script", { code = "1" })'
expect "--read-only refuses raw aws___run_script code, saying why" \
  '[ $status -eq 1 ] && grep -q "ReadOnly (mcp): --read-only refused aws___run_script with code of its own" <<<"$err"'
run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true OPSRUN_READ_ONLY=1 \
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
  OPSRUN_MCP_URL="$SIM_MCP" "$OPSRUN" call aws___get_presigned_url \
  '{"service_name": "s3", "operation_name": "PutObject", "params": {"Bucket": "b", "Key": "k"}}'
expect "OPSRUN_READ_ONLY=1 refuses a presigned PutObject" \
  '[ $status -ne 0 ] && grep -q "refused s3 PutObject: it is not a read" <<<"$err"'
expect "nothing was sent for the refused calls" '[ "$(sim_counter .requests.mcp)" -eq 0 ]'
sim_run opsrun --read-only call aws___list_regions
expect "--read-only lets a tool that only reads through" \
  '[ $status -eq 0 ] && grep -q us-east-1 <<<"$out"'
sim_stop
finish

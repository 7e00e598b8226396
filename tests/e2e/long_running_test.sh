#!/usr/bin/env bash
# long_running_test.sh: opsrun against the hosted server's long-running pattern (tests/sim
# README, --working-after-ms): a script that outlives it answers "working" with a task_id, and
# mcp.call polls aws___get_tasks to its result while the sweep's other accounts finish first;
# under a shorter --timeout the slow account times out alone; mcp.boto3 through the same pattern
# when call_boto3 answers slowly (--boto3-latency-ms).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# The first argument is the slow account; every account runs aws___run_script, the slow one a
# script of 1.5 s. Prints each account's value (or error) in input order, then the order in which
# they finished.
sweep_scripts='local slow = ...
local ids = { select(2, ...) }
local finished = {}
local results = sweep(ids, function(id)
  assume(id)
  local code = id == slow and "import asyncio\nawait asyncio.sleep(1.5)\nresult = 42\nresult"
    or "result = 7\nresult"
  return mcp.call("aws___run_script", { code = code }).structured.return_value
end, { concurrency = 8, on_result = function(r) finished[#finished + 1] = r.item end })
for _, r in ipairs(results) do
  print(r.item, r.ok and ("%d"):format(r.value) or r.error.kind .. " " .. r.error.message)
end
print("finished", table.concat(finished, " "))'

sim_start --accounts 4 --working-after-ms 300 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
slow=${ids[2]}
sim_run opsrun -e "$sweep_scripts" "$slow" "${ids[@]}"
want=$(for id in "${ids[@]}"; do printf '%s\t%s\n' "$id" "$([ "$id" = "$slow" ] && echo 42 || echo 7)"; done)
expect "the slow account's script is polled to its result (42), the others answer at once (7)" \
  '[ $status -eq 0 ] && [ "$(head -4 <<<"$out")" = "$want" ]'
order=$(tail -1 <<<"$out" | cut -f2)
echo "    finishing order: $order"
expect "the slow account finished last, after the other three" \
  '[ "$(wc -w <<<"$order")" -eq 4 ] && [ "${order##* }" = "$slow" ]'
expect "one task started, in the slow account" \
  '[ "$(sim_counter .tasks_started)" = "{\"total\":1,\"by_account\":{\"$slow\":1}}" ]'
polls=$(sim_counter .task_polls.total)
echo "    aws___get_tasks polls: $polls"
expect "aws___get_tasks was polled, by the slow account only" \
  '[ "$polls" -ge 1 ] && [ "$(sim_counter .task_polls.by_account)" = "{\"$slow\":$polls}" ]'
sim_stop

sim_start --accounts 4 --working-after-ms 300 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
slow=${ids[0]}
sim_run opsrun --timeout 1 -e "$sweep_scripts" "$slow" "${ids[@]}"
expect "under --timeout 1 the slow account times out while polling and the sweep exits 3" \
  '[ $status -eq 3 ] && [[ "$(head -1 <<<"$out")" == "$slow	timeout "* ]]'
expect "the other three still succeed" \
  '[ "$(sed -n 2,4p <<<"$out" | cut -f2 | sort -u)" = 7 ] && grep -q "4 tasks in .*: 3 ok, 1 failed (1 timeout)" <<<"$err"'
sim_stop

# mcp.boto3: every call_boto3 answers after 1 s, so each account's script becomes a task.
sim_start --accounts 3 --working-after-ms 300 --boto3-latency-ms 1000 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
sim_run opsrun -e 'local results = sweep({...}, function(id)
  assume(id)
  return mcp.boto3("sts", "GetCallerIdentity").Account
end, { concurrency = 8 })
for _, r in ipairs(results) do print(r.item, r.ok and r.value or tostring(r.error)) end' "${ids[@]}"
want=$(for id in "${ids[@]}"; do printf '%s\t%s\n' "$id" "$id"; done)
expect "mcp.boto3 through the pattern: each account's GetCallerIdentity is polled to its answer" \
  '[ $status -eq 0 ] && [ "$out" = "$want" ]'
expect "three tasks started, each polled" \
  '[ "$(sim_counter .tasks_started.total)" -eq 3 ] && [ "$(sim_counter ".task_polls.by_account | length")" -eq 3 ]'
sim_stop
finish

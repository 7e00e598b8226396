#!/usr/bin/env bash
# chain_test.sh: chained roles (issue 17 item 6) against the simulator's hub role
# (--hub-account): a registry's role_chain sweeps every account through the hub, which is assumed
# once for all of them; a failing hop is named; each hop has its own external id; the one-hour
# cap of chained sessions; assume(id, {role_chain = ...}) without a registry; MCP as the chained
# role; and the hops refreshed when short-lived.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

hub=100000000001
sim_start --accounts 6 --deny-accounts 1 --hub-account "$hub" --hub-external-id hub-x \
  --external-id x-123 --max-session-duration 7200 || exit 1
hub_arn=$(sim_get .hub_role_arn)
first=$(sim_get '.accounts[0]')
denied=$(sim_get '.denied[0]')
workloads=$(sim_get '.accounts | length')
central_arn=$(sim_get .central_user_arn)
role_arn() { echo "arn:aws:iam::$1:role/CentralOpsTargetRole"; }

sim_get "{defaults: {role_chain: [{role: \"$hub_arn\", external_id: \"hub-x\"}, \"CentralOpsTargetRole\"],
  external_id: \"x-123\", session_duration: 7200}, accounts: [.accounts[] | {id: ., name: (\"a\" + .)}]}" \
  >"$E2E_TMP/registry.json"

# --- a sweep through the hub -------------------------------------------------------------------

sweep_script=$(write_script sweep.lua <<'LUA'
local results = sweep(accounts(), function(acct)
  local assumed = assume(acct)
  local remaining = assumed.expires - os.time()
  return whoami().arn .. " " .. tostring(remaining > 3500 and remaining <= 3600)
end)
for _, r in ipairs(results) do
  print(r.item.id, r.ok and r.value or tostring(r.error))
end
LUA
)
sim_reset_counters
sim_run opsrun --no-progress -r "$E2E_TMP/registry.json" "$sweep_script"
counters=$(curl -s "$SIM_COUNTERS")
good=$(grep -c "assumed-role/CentralOpsTargetRole/opsrun-.* true$" <<<"$out")
expect "a two-hop chain sweeps every account but the denied one, each as its own role" \
  '[ $status -eq 3 ] && [ "$good" = $((workloads - 1)) ] &&
   [ "$(grep -c "^$first	arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/opsrun-$first true$" <<<"$out")" = 1 ]'
expect "... the hub assumed once for all of them, each workload role once" \
  '[ "$(jq ".assume_role[\"$hub\"]" <<<"$counters")" = 1 ] &&
   [ "$(jq "(.assume_role | del(.[\"$hub\"], .[\"$denied\"]) | [.[]] | length == $workloads - 1 and all(. == 1))" <<<"$counters")" = true ]'
expect "... the chained session lasts one hour though session_duration asks two (STS's cap)" \
  '[ "$(grep -c " true$" <<<"$out")" = $((workloads - 1)) ]'
expect "the denied account's failure names the second hop, refused to the hub's session" \
  '[[ "$(grep "^$denied" <<<"$out")" == "$denied	AccessDenied (assume $denied): hop 2 of 2 (role CentralOpsTargetRole): User: arn:aws:sts::$hub:assumed-role/OpsHub/opsrun-"*" is not authorized to perform: sts:AssumeRole on resource: $(role_arn "$denied")" ]] &&
   [[ "$err" == *"hop 2 of 2 (role CentralOpsTargetRole)"* ]]'

# --- each hop's own failure, and its own external id ----------------------------------------

sim_run opsrun -e "
local ok, err = pcall(assume, '$first', {role_chain = {{role = '$hub_arn', external_id = 'wrong'}, 'CentralOpsTargetRole'}, external_id = 'x-123'})
print(ok, err.kind, err.code, err.account) print(tostring(err))"
expect "a refused first hop is named with its role, refused to the base user" \
  '[ "$out" = "false	denied	AccessDenied	$first
AccessDenied (assume $first): hop 1 of 2 (role $hub_arn): User: $central_arn is not authorized to perform: sts:AssumeRole on resource: $hub_arn" ]'

sim_run opsrun -e "
local ok, err = pcall(assume, '$first', {role_chain = {{role = '$hub_arn', external_id = 'hub-x'}, 'CentralOpsTargetRole'}})
print(ok, err.code) print(tostring(err))"
expect "the workload role's external id is its own: the hub's does not open it" \
  '[[ "$out" == "false	AccessDenied"*"hop 2 of 2 (role CentralOpsTargetRole): User: arn:aws:sts::$hub:assumed-role/OpsHub/"* ]]'

sim_run opsrun -e "
local ok, err = pcall(assume, '$first', {external_id = 'x-123'})
print(ok, err.code) print(tostring(err))"
expect "without the chain the workload role refuses the central user (no hop is named)" \
  '[ "$out" = "false	AccessDenied
AccessDenied (assume $first): User: $central_arn is not authorized to perform: sts:AssumeRole on resource: $(role_arn "$first")" ]'

# --- assume(id, {role_chain = ...}) without a registry, and MCP as the chained role -----------

sim_reset_counters
sim_run opsrun -e "
local chain = {{role = '$hub_arn', external_id = 'hub-x'}, 'CentralOpsTargetRole'}
local a = assume('$first', {role_chain = chain, external_id = 'x-123', session_name = 'mine'})
print(a.account, a.role, a.arn)
print(#mcp.tools() > 0, whoami().arn)"
counters=$(curl -s "$SIM_COUNTERS")
expect "assume(id, {role_chain = ...}) needs no registry; MCP is signed as the final role" \
  '[ $status -eq 0 ] && [ "$out" = "$first	CentralOpsTargetRole	arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/mine
true	arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/mine" ] &&
   [ "$(jq ".signature_failures.total" <<<"$counters")" = 0 ] && [ "$(jq ".sessions_opened" <<<"$counters")" -ge 1 ]'

sim_run opsrun -e "assume('$first', {role_chain = {}})"
expect "an empty role_chain is the caller's mistake" \
  '[ $status -ne 0 ] && [[ "$err" == *"bad argument #2 to '"'"'assume'"'"' (role_chain must be an array of 1 to 10 roles, got 0 roles)"* ]]'

# --- short-lived hops are refreshed ---------------------------------------------------------

sim_stop
sim_start --accounts 2 --hub-account "$hub" --credential-lifetime 4 || exit 1
first=$(sim_get '.accounts[0]')
sim_run opsrun -e "
local chain = {'$hub_arn', 'CentralOpsTargetRole'}
assume('$first', {role_chain = chain})
local before = whoami().arn
sleep(2.5)
assume('$first', {role_chain = chain})
print(before == whoami().arn)
sleep(2.5)
print(whoami().account)"
counters=$(curl -s "$SIM_COUNTERS")
expect "each hop is fetched again before it expires, and the chain works after the first set expired" \
  '[ $status -eq 0 ] && [ "$out" = "true
$first" ] && [ "$(jq ".assume_role[\"$hub\"]" <<<"$counters")" -ge 2 ] &&
   [ "$(jq ".assume_role[\"$first\"]" <<<"$counters")" -ge 2 ]'

finish

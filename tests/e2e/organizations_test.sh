#!/usr/bin/env bash
# organizations_test.sh: --org against the simulator's AWS Organizations (issue 17 items 1, 2, 4,
# 5): the accounts are its ACTIVE ones with their OU, in id order; OU, OU path and tag filters;
# a registry overlaying the listing; the cache (reused, refreshed, corrupt); a caller that may not
# read the organization; --shard across pods that each read it; doctor's account source.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# org_run [NAME=VALUE...] ARGS...: sim_run with Organizations pointed at the simulator and the
# cache in $cache_home.
cache_home=$E2E_TMP/cache
org_run() {
  local vars=()
  while [[ "$1" == *=* ]]; do vars+=("$1"); shift; done
  sim_run env AWS_ENDPOINT_URL_ORGANIZATIONS="$SIM_ORGANIZATIONS" XDG_CACHE_HOME="$cache_home" \
    "${vars[@]}" "$OPSRUN" --no-progress "$@"
}

list_accounts=$(write_script list.lua <<'LUA'
-- prints "id ou ou_path name" for each account accounts(filter) keeps; the filter is Lua text
local filter = load("return " .. (arg[1] or "nil"))()
for _, acct in ipairs(accounts(filter)) do
  print(acct.id, acct.ou, acct.ou_path, acct.name)
end
LUA
)
# ids FILTER: the ids accounts(FILTER) keeps, one line, in order
ids() {
  org_run --org "$list_accounts" "${1:-nil}"
  cut -f1 <<<"$out" | tr '\n' ' '
}

sim_start --accounts 12 --suspended-accounts 2 --closed-accounts 3 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("a" + .)}]}' >"$E2E_TMP/plain.json"
cache_file=$E2E_TMP/cache/opsrun/organizations-111111111111.json
active=$(sim_get '.accounts | sort | join(" ")')" "

sim_reset_counters
org_run --org -v "$list_accounts"
expect "--org lists the ACTIVE workload accounts, by id" \
  '[ $status -eq 0 ] && [ "$(cut -f1 <<<"$out" | tr "\n" " ")" = "$active" ]'
expect "each with its OU id and OU path" \
  '[ "$(awk -F"\t" "\$2 !~ /^ou-/ || \$3 !~ /^Root\\// {bad=1} END {print bad+0}" <<<"$out")" = 0 ]'
expect "-v says how many suspended and closed accounts were skipped" \
  '[[ "$err" == *"3 CLOSED, 2 SUSPENDED"* ]]'
expect "the walk read the tree (ListRoots, then the OUs and accounts under each parent)" \
  '[ "$(sim_counter .org_ListRoots)" -ge 1 ] && [ "$(sim_counter .org_ListAccountsForParent)" -ge 5 ]'
expect "the cache is written 0600 in a 0700 directory" \
  '[ "$(stat -c %a "$cache_file")" = 600 ] && [ "$(stat -c %a "$(dirname "$cache_file")")" = 700 ]'

sim_reset_counters
org_run --org -e 'print(#accounts(), central().id)'
expect "a warm run reuses the cache: no Organizations request" \
  '[ $status -eq 0 ] && [ "$out" = "12	111111111111" ] && [ "$(sim_counter .org_requests)" = 0 ]'

sim_reset_counters
org_run OPSRUN_ORG=1 --org-refresh -e 'print(#accounts())'
expect "--org-refresh (with OPSRUN_ORG=1) reads Organizations again" \
  '[ "$out" = 12 ] && [ "$(sim_counter .org_requests)" -gt 0 ]'

prod=$(sim_get '.org_ous["Root/Workloads/Prod"]')
workloads=$(sim_get '.org_ous["Root/Workloads"]')
org_run --org "$list_accounts"
in_prod=$(awk -F'\t' '$3 == "Root/Workloads/Prod" {printf "%s ", $1}' <<<"$out")
under_workloads=$(awk -F'\t' '$3 ~ /^Root\/Workloads(\/|$)/ {printf "%s ", $1}' <<<"$out")
expect "accounts{ ou = prod } keeps the accounts of that OU" \
  '[ -n "$in_prod" ] && [ "$(ids "{ ou = \"$prod\" }")" = "$in_prod" ]'
expect "accounts{ ou = workloads } keeps its accounts and those of the OUs below it" \
  '[ "$(ids "{ ou = \"$workloads\" }")" = "$under_workloads" ] && [ "$under_workloads" != "$in_prod" ]'
expect "accounts{ ou_path = \"Root/Workloads\" } keeps the same" \
  '[ "$(ids "{ ou_path = \"Root/Workloads\" }")" = "$under_workloads" ]'
expect "accounts{ ou_path = \"Root/*/Prod\" }: * stands for one OU name" \
  '[ "$(ids "{ ou_path = \"Root/*/Prod\" }")" = "$in_prod" ]'
expect "a trailing / is the same path" '[ "$(ids "{ ou_path = \"Root/Workloads/\" }")" = "$under_workloads" ]'
org_run --org "$list_accounts" '{ ou = "ou-nope-12345678" }'
expect "an OU id the organization does not have is an error, not an empty list" \
  '[ $status -eq 1 ] && [ -z "$out" ] && [[ "$err" == *"bad argument #1 to '"'accounts'"' (no root or OU \"ou-nope-12345678\" in the organization)"* ]]'
org_run --org "$list_accounts" '{ ou_path = "Root/Workload" }'
expect "so is an OU path naming no OU, listing the OUs there are" \
  '[ $status -eq 1 ] && [[ "$err" == *"ou_path \"Root/Workload\" names no OU of the organization; its OUs are Root, Root/Sandbox, "* ]]'
org_run -r "$E2E_TMP/plain.json" "$list_accounts" '{ ou_path = "Root" }'
expect "ou and ou_path without --org say what they need" \
  '[ $status -eq 1 ] && [[ "$err" == *"ou_path filters the accounts of AWS Organizations: pass --org (or set OPSRUN_ORG=1)"* ]]'

# The tags as the AWS CLI reads them from the simulator.
by_function='function(a) return a.tags.team == "payments" end'
payments=$(for id in $active; do
  AWS_ACCESS_KEY_ID=$SIM_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$SIM_SECRET_ACCESS_KEY \
    aws organizations list-tags-for-resource --region us-east-1 --endpoint-url "$SIM_ORGANIZATIONS" \
    --resource-id "$id" --query 'Tags[?Key==`team`].Value' --output text | grep -qx payments &&
    printf '%s ' "$id"
done)
sim_reset_counters
org_run --org "$list_accounts" '{ tags = { team = "payments" } }'
expect "accounts{ tags = { team = \"payments\" } } keeps the accounts Organizations tags so" \
  '[ $status -eq 0 ] && [ -n "$payments" ] && [ "$(cut -f1 <<<"$out" | tr "\n" " ")" = "$payments" ]'
expect "the tags were fetched once per account, central included (the listing came from the cache)" \
  '[ "$(sim_counter .org_ListTagsForResource)" = 13 ] && [ "$(sim_counter ".org_ListRoots // 0")" = 0 ]'
sim_reset_counters
org_run --org "$list_accounts" '{ tags = { team = "payments" } }'
expect "then the cache holds the tags too" \
  '[ "$(cut -f1 <<<"$out" | tr "\n" " ")" = "$payments" ] && [ "$(sim_counter .org_requests)" = 0 ]'
org_run --org -e 'local n = 0 for _, a in ipairs(accounts()) do n = n + (a.tags.team and 1 or 0) end print(#accounts(), n)'
expect "accounts() without a tag filter has no Organizations tags, cached or not: the same every run" \
  '[ "$out" = "12	0" ]'
org_run --org --org-refresh "$list_accounts" "$by_function"
expect "a function filter sees the tags (fetched for it), so it keeps the same accounts every run" \
  '[ $status -eq 0 ] && [ "$(cut -f1 <<<"$out" | tr "\n" " ")" = "$payments" ]'

# The overlay.
first=$(cut -d' ' -f1 <<<"$active")
second=$(cut -d' ' -f2 <<<"$active")
cat >"$E2E_TMP/overlay.json" <<JSON
{ "source": "organizations",
  "defaults": { "role_name": "CentralOpsTargetRole", "tags": { "owner": "ops" } },
  "accounts": [
    { "id": "$first", "exclude": true },
    { "id": "$second", "name": "Payments prod", "regions": ["eu-west-1"], "tags": { "team": "mine" } },
    { "id": "999999999990" }
  ] }
JSON
org_run -r "$E2E_TMP/overlay.json" -e '
  local list = accounts()
  local second = accounts{ id = arg[1] }[1]
  print(#list, second.name, second.regions[1], second.tags.team, second.tags.owner, list[1].tags.owner)' "$second"
expect "a registry saying source organizations overlays the listing: exclusion, name, regions, tags" \
  '[ $status -eq 0 ] && [ "$out" = "11	Payments prod	eu-west-1	mine	ops	ops" ]'
expect "an overlay entry the organization does not list is warned about" \
  '[[ "$err" == *"999999999990 is not an ACTIVE account of the organization"* ]]'
org_run -r "$E2E_TMP/overlay.json" doctor registry
expect "and doctor's registry line warns of it" \
  '[ $status -eq 0 ] && [[ "$out" == "! registry "*"the registry'"'"'s entries for 999999999990 match no ACTIVE account of the organization — correct or remove them"* ]]'

# A corrupt cache is never trusted.
printf '{"version": 1, "caller": "111111111111", "accounts": [{"id": "evil"' >"$cache_file"
sim_reset_counters
org_run --org -e 'print(#accounts())'
expect "a corrupt cache is ignored with a warning naming it, and Organizations read instead" \
  '[ $status -eq 0 ] && [ "$out" = 12 ] && [[ "$err" == *"$cache_file"* ]] && [ "$(sim_counter .org_requests)" -gt 0 ]'
org_run --org -e 'print(#accounts())'
expect "and the cache is whole again" '[ "$out" = 12 ] && [ -z "$err" ]'

# Shards: each pod reads Organizations (or its cache) and keeps its share, by id.
shards=$(for k in 1 2 3; do org_run --org --org-refresh --shard "$k/3" "$list_accounts"; cut -f1 <<<"$out"; done | sort | tr '\n' ' ')
expect "--shard K/N over the listing covers every account exactly once" '[ "$shards" = "$active" ]'

org_run --org -e '
  local results = sweep(accounts(), function(acct) assume(acct) return whoami().account end)
  local seen = {}
  for _, r in ipairs(results) do seen[#seen + 1] = r.ok and r.value or r.error.code end
  print(table.concat(seen, " ") .. " " .. assume(arg[1]).account)' "$first"
expect "a sweep over the listing assumes the role in each account; assume(id) takes its entry" \
  '[ $status -eq 0 ] && [ "$out" = "$active$first" ]'

org_run --org doctor registry
expect "doctor names the account source and what it read" \
  '[ $status -eq 0 ] && [[ "$out" == *"registry     AWS Organizations as 111111111111, cached "*": 13 ACTIVE accounts (skipped: 3 CLOSED, 2 SUSPENDED): 12 workload accounts, central 111111111111"* ]]'

sim_stop

# A caller that is neither the management account nor a delegated administrator.
cache_home=$E2E_TMP/cache-member
sim_start --accounts 3 --org-caller member || exit 1
org_run --org -e 'print(#accounts())'
expect "a member account's AccessDeniedException exits 2 with one line saying what to do" \
  '[ $status -eq 2 ] && [ "$(lines "$err")" = 1 ] && [[ "$err" == *AccessDeniedException* ]] && [[ "$err" == *"delegated administrator"* ]]'
org_run --org doctor registry
expect "doctor's registry line says it is Organizations that refused, and what to do" \
  '[ $status -eq 1 ] && [[ "$out" == "✗ registry     AWS Organizations: You don'"'"'t have permissions"*"— to fix: read Organizations as its management account or a delegated administrator"* ]]'
sim_stop

# A delegated administrator reads the organization, the management account among the accounts.
cache_home=$E2E_TMP/cache-delegated
sim_start --accounts 3 --org-caller delegated || exit 1
org_run --org -e 'for _, a in ipairs(accounts()) do io.write(a.id, " ") end print(central().id)'
expect "a delegated administrator reads it too; central() is the caller's own account" \
  '[ $status -eq 0 ] && [ "$out" = "100000000001 $(sim_get ".accounts | sort | join(\" \")") 111111111111" ]'
sim_stop

finish

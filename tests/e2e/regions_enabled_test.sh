#!/usr/bin/env bash
# regions_enabled_test.sh: sweep's regions = "enabled" against the simulator, whose accounts have
# each enabled their own opt-in Regions (issue 17 item 7). A sweep runs every account in exactly
# the Regions DescribeRegions (AllRegions) says it has enabled, in item-then-region order, with
# one DescribeRegions per account, none from a second sweep of the same run, and no call in a
# disabled Region; an account whose lookup is denied is one failed result; a registry's
# "regions": "enabled" (in defaults or an account) does the same when the sweep names no regions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

sim_start --accounts 6 --deny-accounts 1 || exit 1
denied=$(sim_get '.denied[0]')
allowed=$(jq -r --arg d "$denied" '[.accounts[] | select(. != $d)] | join(" ")' <<<"$SIM_JSON")

# --- what the simulator says each account has enabled ------------------------------------------
truth=$(write_script truth.lua <<'LUA'
for _, id in ipairs(arg) do
  assume(id)
  for _, r in ipairs(mcp.boto3("ec2", "DescribeRegions", { AllRegions = true }).Regions) do
    emit{ account = id, region = r.RegionName, status = r.OptInStatus }
  end
end
LUA
)
sim_run opsrun --no-progress -o jsonl "$truth" $allowed
all_regions=$out
enabled=$(jq -r 'select(.status != "not-opted-in") | "\(.account) \(.region)"' <<<"$all_regions" | sort)
expect "the simulator lists every Region of each account with its opt-in status" \
  '[ $status -eq 0 ] && [ "$(jq -r .account <<<"$all_regions" | sort -u | wc -l)" -eq 5 ]'
expect "... some opt-in Regions are disabled, and the accounts' enabled sets differ" \
  '[ "$(jq -r "select(.status == \"not-opted-in\") | .account" <<<"$all_regions" | wc -l)" -gt 0 ] &&
   [ "$(for a in $allowed; do grep "^$a " <<<"$enabled" | cut -d" " -f2 | tr "\n" ,; echo; done | sort -u | wc -l)" -gt 1 ]'

# --- a sweep over every account's enabled Regions, and a second one ----------------------------
sweeps=$(write_script sweeps.lua <<'LUA'
sweep(accounts(), function(acct, region)
  assume(acct)
  local out = mcp.boto3("ec2", "DescribeInstances", {}, { region = region })
  emit{ sweep = 1, account = acct.id, region = region, reservations = #(out.Reservations or {}) }
end, { regions = "enabled" })
sweep(accounts(), function(acct, region)
  emit{ sweep = 2, account = acct.id, region = region }
end, { regions = "enabled" })
LUA
)
sim_sweep "$sweeps" -- -o json -- --
rows=$out
first=$(jq -r '.[] | select(.sweep == 1) | "\(.account) \(.region)"' <<<"$rows")
second=$(jq -r '.[] | select(.sweep == 2) | "\(.account) \(.region)"' <<<"$rows")
tasks=$(lines "$enabled")
expect "each account ran in exactly the Regions it has enabled" \
  '[ -n "$enabled" ] && [ "$(sort <<<"$first")" = "$enabled" ]'
expect "... in item-then-region order: accounts as listed, each one's Regions sorted" \
  '[ "$first" = "$(for a in $allowed; do grep "^$a " <<<"$enabled"; done)" ]'
expect "the second sweep of the run found the same Regions" '[ "$second" = "$first" ]'
expect "one DescribeRegions per account for both sweeps, none from the central account" \
  '[ "$(jq -cS "[.boto3_calls_by_account | to_entries[] | select(.value[\"ec2.DescribeRegions\"]) | {(.key): .value[\"ec2.DescribeRegions\"]}] | add" <<<"$counters")" = "$(for a in $allowed; do echo "{\"$a\":1}"; done | jq -scS add)" ]'
expect "no call in a Region an account has not enabled; one DescribeInstances per enabled Region" \
  '[ "$(jq .disabled_region_calls.total <<<"$counters")" -eq 0 ] &&
   [ "$(jq "[.boto3_calls_by_account[][\"ec2.DescribeInstances\"] // 0] | add" <<<"$counters")" -eq "$tasks" ]'
expect "the denied account is one failed result (its lookup), named once a sweep, and the sweeps go on: exit 3" \
  '[ $status -eq 3 ] && [ "$(grep -c "sweep: $denied (looking up its enabled Regions) failed (denied): AccessDenied" <<<"$err")" -eq 2 ] &&
   [[ "$err" == *"sweep: $((tasks + 1)) tasks in "*": $tasks ok, 1 failed (1 denied)"* ]]'

# --- the results of a sweep: a failed lookup in its place ---------------------------------------
results=$(write_script results.lua <<'LUA'
for _, r in ipairs(sweep(accounts(), function(_, region) return region end, { regions = "enabled" })) do
  emit{ account = r.item.id, region = r.region or "-", ok = r.ok,
        kind = r.error and r.error.kind or "-" }
end
LUA
)
sim_sweep "$results" -- -o jsonl -- --
expect "the failed lookup's result has no region and the error's kind, in its account's place" \
  '[ "$(jq -r "select(.ok == false) | \"\(.account) \(.region) \(.kind)\"" <<<"$out")" = "$denied - denied" ] &&
   [ "$(jq -r "select(.ok) | \"\(.account) \(.region)\"" <<<"$out" | sort)" = "$enabled" ]'

# --- the registry's "regions": "enabled" -------------------------------------------------------
jq --arg d "$denied" \
  '{defaults: {regions: "enabled"}, accounts: [.accounts[] | select(. != $d) | {id: ., name: ("a" + .)}]}' \
  <<<"$SIM_JSON" >"$E2E_TMP/enabled.json"
own=$(write_script own.lua <<'LUA'
sweep(accounts(), function(acct, region) emit{ account = acct.id, region = region or "-" } end)
LUA
)
sim_reset_counters
sim_run opsrun --no-progress -o jsonl -r "$E2E_TMP/enabled.json" "$own"
expect 'a registry whose defaults say "regions": "enabled" runs each account in its enabled Regions' \
  '[ $status -eq 0 ] && [ "$(jq -r "\"\(.account) \(.region)\"" <<<"$out" | sort)" = "$enabled" ]'
one=${allowed%% *}
jq --arg one "$one" '.defaults.regions = ["us-east-1"] | .accounts |= map(if .id == $one then .regions = "enabled" else . end)' \
  "$E2E_TMP/enabled.json" >"$E2E_TMP/one.json"
sim_run opsrun --no-progress -o jsonl -r "$E2E_TMP/one.json" "$own"
expect '... one account'"'"'s own "enabled" expands only that one; the others run once, without a region' \
  '[ $status -eq 0 ] && [ "$(jq -r "select(.account == \"$one\") | .region" <<<"$out" | tr "\n" " ")" = "$(grep "^$one " <<<"$enabled" | cut -d" " -f2 | tr "\n" " ")" ] &&
   [ "$(jq -r "select(.account != \"$one\") | .region" <<<"$out" | sort -u)" = "-" ]'

finish

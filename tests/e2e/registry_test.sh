#!/usr/bin/env bash
# registry_test.sh: the account registry as a user meets it (SPEC sections 1, 3 and 4): -r,
# OPSRUN_REGISTRY and ACCOUNT_REGISTRY, accounts() and central(), --shard and --role, and an
# invalid registry stopping the run with exit status 2 and one line on stderr before the script
# starts (the host's call of ops_lua_registry_preload).
source "$(dirname "$0")/lib.sh"

# Relative registry paths below: messages must show the path exactly as it was given.
cd "$E2E_TMP" || exit 1
unset OPSRUN_REGISTRY ACCOUNT_REGISTRY

cat >good.json <<'JSON'
{
  "defaults": { "role_name": "CentralOpsTargetRole", "regions": ["us-east-1"], "session_duration": 3600 },
  "accounts": [
    { "id": "111111111111", "name": "Central", "environment": "ops", "role": "central" },
    { "id": "222222222222", "name": "Production", "environment": "prod", "role_name": "OpsReadOnly",
      "tags": { "team": "payments" } },
    { "id": "333333333333", "name": "Staging", "environment": "staging" },
    { "id": "444444444444", "name": "Analytics", "environment": "prod" },
    { "id": "555555555555", "name": "Sandbox", "environment": "dev" },
    { "id": "666666666666", "name": "Shared", "environment": "prod" },
    { "id": "777777777777", "name": "Logs", "environment": "ops" }
  ]
}
JSON
workloads="222222222222
333333333333
444444444444
555555555555
666666666666
777777777777"
print_ids='for _, a in ipairs(accounts()) do print(a.id) end'

# --- a valid registry ------------------------------------------------------------------------

run opsrun -r good.json -e 'print(#accounts())'
expect "-r FILE: accounts() lists the workload accounts" '[ $status -eq 0 ] && [ "$out" = 6 ] && [ -z "$err" ]'

run opsrun -r good.json -e "$print_ids"
expect "accounts() keeps registry order and leaves the central account out" '[ "$out" = "$workloads" ]'

run opsrun -r good.json -e 'local c = central() print(c.id, c.name, c.index)'
expect "central() is the central account" '[ "$out" = "111111111111	Central	0" ]'

run opsrun -r good.json -e 'for _, a in ipairs(accounts{environment = "prod", tags = {team = "payments"}}) do print(a.id, a.role_name) end'
expect "a filter table selects on fields and tags" '[ "$out" = "222222222222	OpsReadOnly" ]'

run opsrun -r good.json --role Override -e 'print(accounts()[1].role_name, accounts()[2].role_name, central().role_name)'
expect "--role wins over the registry's role names" '[ "$out" = "Override	Override	Override" ]'

run env OPSRUN_REGISTRY=good.json "$OPSRUN" -e 'print(#accounts())'
expect "OPSRUN_REGISTRY names the registry file" '[ $status -eq 0 ] && [ "$out" = 6 ]'

run env ACCOUNT_REGISTRY='{"accounts": [{"id": "222222222222", "name": "P"}]}' "$OPSRUN" -e "$print_ids"
expect "ACCOUNT_REGISTRY holds the registry as JSON text" '[ $status -eq 0 ] && [ "$out" = 222222222222 ]'

run env OPSRUN_REGISTRY=nosuch.json ACCOUNT_REGISTRY='{"accounts": []}' "$OPSRUN" -r good.json -e 'print(#accounts())'
expect "-r wins over OPSRUN_REGISTRY, which wins over ACCOUNT_REGISTRY" '[ $status -eq 0 ] && [ "$out" = 6 ]'

run opsrun -e 'print(pcall(accounts))'
expect "without a registry a script that needs none still runs" '[ $status -eq 0 ] && [[ "$out" == false* ]]'

run opsrun -e 'accounts()'
expect "accounts() without a registry exits 2 saying how to give one" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: registry: no account registry: pass -r FILE or --org, or set OPSRUN_REGISTRY (a path), ACCOUNT_REGISTRY (JSON text) or OPSRUN_ORG=1" ]'

# --- role chains, "enabled" regions, exclusion (issue 17 items 4 and 6) ------------------------

cat >chained.json <<'JSON'
{
  "defaults": { "role_chain": ["arn:aws:iam::111111111111:role/OpsHub", "OpsReadOnly"],
                "regions": "enabled" },
  "accounts": [
    { "id": "222222222222", "name": "Production", "external_id": "x-123" },
    { "id": "333333333333", "name": "Retired", "exclude": true },
    { "id": "444444444444", "name": "Direct", "role_name": "Plain", "regions": ["eu-west-1"] }
  ]
}
JSON
run opsrun -r chained.json -e 'for _, a in ipairs(accounts()) do
  local chain = {}
  for i, hop in ipairs(a.role_chain or {}) do chain[i] = hop.role .. "/" .. (hop.external_id or "-") end
  print(a.id, a.role_name, type(a.regions) == "table" and table.concat(a.regions, ",") or a.regions, table.concat(chain, " "))
end'
expect "accounts() gives role_chain and regions = \"enabled\", and leaves excluded accounts out" \
  '[ $status -eq 0 ] && [ "$out" = "222222222222	OpsReadOnly	enabled	arn:aws:iam::111111111111:role/OpsHub/- OpsReadOnly/x-123
444444444444	Plain	eu-west-1	" ]'

printf '{"accounts": [{"id": "222222222222", "name": "P", "role_chain": ["arn:aws:iam::111111111111:role/OpsHub", "arn:aws:iam::333333333333:role/Ops"]}]}' >badchain.json
run opsrun -r badchain.json -e 'print("the script ran")'
expect "a chain whose last role is another account's exits 2 naming the hop" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: badchain.json: /accounts/0/role_chain/1: the last role of the chain is the role in account 222222222222, got a role of account 333333333333" ]'

run env ACCOUNT_REGISTRY='{"accounts": [{"id": "222222222222", "name": "P", "exclude": "yes"}]}' "$OPSRUN" -e 'print("the script ran")'
expect "a bad exclude exits 2 with its pointer" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: \$ACCOUNT_REGISTRY: /accounts/0/exclude: expected true or false, got \"yes\"" ]'

# --- --shard K/N -----------------------------------------------------------------------------

shards=""
for k in 1 2 3; do
  run opsrun -r good.json --shard "$k/3" -e "$print_ids"
  expect "--shard $k/3 runs" '[ $status -eq 0 ] && [ -n "$out" ]'
  shards+="$out"$'\n'
done
expect "--shard 1/3, 2/3 and 3/3 together hold every workload account exactly once" \
  '[ "$(printf "%s" "$shards" | sort)" = "$workloads" ]'

run opsrun -r good.json --shard 2/3 -e "$print_ids"
expect "--shard 2/3 keeps workload positions 1, 4: the central account (registry index 0) is not counted" '[ "$out" = "333333333333
666666666666" ]'

# --- an invalid registry stops the run before the script -------------------------------------

cat >bad.json <<'JSON'
{
  "accounts": [
    { "id": "222222222222", "name": "Production" },
    { "id": "12345", "name": "Short" }
  ]
}
JSON
run opsrun -r bad.json -e 'print("the script ran")'
expect "an invalid registry given with -r exits 2 with one line, before the script runs" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: bad.json: /accounts/1/id: expected a string of exactly 12 digits, got \"12345\"" ]'

run env ACCOUNT_REGISTRY='{"accounts": [{"id": "222222222222", "name": "P", "rolename": "R"}]}' "$OPSRUN" -e 'print("the script ran")'
expect "an invalid ACCOUNT_REGISTRY exits 2 with one line, before the script runs" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: \$ACCOUNT_REGISTRY: /accounts/0/rolename: unknown key (did you mean \"role_name\"?)" ]'

printf '{\n  "accounts": [\n    {"id": "222222222222", "name": "P"\n  ]\n}\n' >broken.json
run opsrun -r broken.json -e 'print("the script ran")'
expect "a JSON syntax error names line and column" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: broken.json:4:3: invalid JSON: '"'"'}'"'"' expected near '"'"']'"'"'" ]'

run opsrun -r ./nosuch.json -e 'print("the script ran")'
expect "an unreadable registry exits 2 naming the path as given" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: ./nosuch.json: cannot read: No such file or directory" ]'

# It read until memory ran out (issue 14); `timeout` turns such a regression into a failure.
start=$EPOCHREALTIME
run timeout 60 "$OPSRUN" -r /dev/zero -e 'print("the script ran")'
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "-r /dev/zero exits 2 at the 64 MiB registry cap, naming the file and the cap (${took} s)" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$err" = "opsrun: /dev/zero: cannot read: larger than 67108864 bytes" ] &&
   awk -v t="$took" "BEGIN { exit !(t < 10) }"'

finish

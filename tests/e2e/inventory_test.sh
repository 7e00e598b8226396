#!/usr/bin/env bash
# inventory_test.sh: the headline job. The examples against the simulator: inventory rows equal
# the simulator's data for every account and region; denied and hung accounts are reported with
# the right error kinds while the others succeed (exit 3); every output format parsed back by a
# real parser; Ctrl-C keeps finished rows and exits 130; the README's demo command (SPEC 1, 4, 6).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT
root=$(cd "$(dirname "$0")/../.." && pwd)

sim_start --accounts 10 --deny-accounts 2 --hang-accounts 2 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
denied=$(sim_get '.denied | join(" ")')
hung=$(sim_get '.hung | join(" ")')
inventory="${SIM_COUNTERS%/counters}/inventory"

opsrun_sim() {
  sim_run opsrun --no-progress -r "$E2E_TMP/registry.json" --timeout 3 "$@"
}

# What the simulator holds: "account region instance type state" lines, sorted.
expected_rows() {
  for account in $(sim_get '.accounts[]'); do
    case " $denied $hung " in *" $account "*) continue ;; esac
    for region in us-east-1 eu-west-1; do
      curl -s "$inventory?account=$account&region=$region" |
        jq -r --arg a "$account" --arg r "$region" \
          '.ec2.Reservations[].Instances[] | [$a, $r, .InstanceId, .InstanceType, .State.Name] | join(" ")'
    done
  done | sort
}
expected=$(expected_rows)

# --- ec2_inventory.lua -----------------------------------------------------------------------

opsrun_sim -o jsonl "$root/examples/ec2_inventory.lua"
got=$(jq -r '[.account, .region, .instance, .type, .state] | join(" ")' <<<"$out" | sort)
expect "inventory rows equal the simulator's instances for every account and region" \
  '[ -n "$expected" ] && [ "$got" = "$expected" ]'
expect "denied and hung accounts fail, the others succeed: exit 3 and the summary says so" \
  '[ $status -eq 3 ] && [[ "$err" == *"sweep: 20 tasks in "*": 12 ok, 8 failed (4 denied, 4 timeout)"* ]]'
expect "each denied account is reported with AWS's AccessDenied in both regions" \
  'for a in $denied; do [ $(grep -c "$a .*AccessDenied (assume $a): " <<<"$err") -eq 2 ] || exit 1; done'
expect "each hung account is reported as a timeout in both regions" \
  'for a in $hung; do [ $(grep -c "$a .*TaskTimeout ($a): " <<<"$err") -eq 2 ] || exit 1; done'
rows=$(lines "$got")

opsrun_sim -o json "$root/examples/ec2_inventory.lua"
expect "-o json is one array that jq reads, with every row" '[ "$(jq length <<<"$out")" = "$rows" ]'

opsrun_sim -o csv "$root/examples/ec2_inventory.lua"
printf '%s\n' "$out" >"$E2E_TMP/inventory.csv"
expect "-o csv is RFC 4180 that Python's csv module reads, with every row" \
  '[ "$(python3 -c "import csv, sys; r = list(csv.DictReader(open(sys.argv[1], newline=\"\"))); print(len(r), sorted(r[0]))" "$E2E_TMP/inventory.csv")" = "$rows ['"'"'account'"'"', '"'"'instance'"'"', '"'"'name'"'"', '"'"'region'"'"', '"'"'state'"'"', '"'"'type'"'"']" ]'

opsrun_sim -o table "$root/examples/ec2_inventory.lua"
expect "-o table prints a header and one aligned line per row" \
  '[ $(lines "$out") -eq $((rows + 1)) ] && [[ "$(head -1 <<<"$out")" == account*instance*name*region*state*type ]] && [ $(awk "{ print index(\$0, \$2) }" <<<"$out" | sort -u | wc -l) -eq 1 ]'

# --- the other examples ----------------------------------------------------------------------

opsrun_sim -o jsonl "$root/examples/whoami_all.lua"
expect "whoami_all names each assumable account's role and why the others failed" \
  '[ $status -eq 3 ] && [ "$(jq -s "[.[] | select(.ok)] | length" <<<"$out")" = 8 ] && [ "$(jq -rs "[.[] | select(.ok == false) | .error] | unique | join(\" \")" <<<"$out")" = denied ]'

opsrun_sim -o jsonl "$root/examples/buckets.lua"
want_buckets=$(for a in $(sim_get '.accounts[]'); do case " $denied $hung " in *" $a "*) continue ;; esac
  curl -s "$inventory?account=$a&region=us-east-1" | jq -r --arg a "$a" '.s3.Buckets[] | "\($a) \(.Name)"'; done | sort)
expect "buckets lists every bucket of every account that answered" \
  '[ "$(jq -r "\"\(.account) \(.bucket)\"" <<<"$out" | sort)" = "$want_buckets" ]'

opsrun_sim -o jsonl --region eu-west-1 "$root/examples/untagged_instances.lua"
want_untagged=$(for a in $(sim_get '.accounts[]'); do case " $denied $hung " in *" $a "*) continue ;; esac
  curl -s "$inventory?account=$a&region=eu-west-1" | jq -r '.ec2.Reservations[].Instances[]
    | select(.State.Name == "running" and ([.Tags[]? | select(.Key == "Owner")] | length == 0)) | .InstanceId'; done | sort)
expect "untagged_instances finds the running instances without an Owner tag" \
  '[ "$(jq -r .instance <<<"$out" | sort)" = "$want_untagged" ]'

# --- Ctrl-C ----------------------------------------------------------------------------------

env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
  "$OPSRUN" --no-progress -r "$E2E_TMP/registry.json" --timeout 60 -o jsonl \
  "$root/examples/ec2_inventory.lua" >"$E2E_TMP/out" 2>"$E2E_TMP/err" &
pid=$!
sleep 2 # every account but the hung ones has finished; those wait on their MCP calls
start=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
status=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
out=$(cat "$E2E_TMP/out") err=$(cat "$E2E_TMP/err")
expect "Ctrl-C during a sweep exits 130 at once (${elapsed_ms} ms), the summary printed" \
  '[ $status -eq 130 ] && [ $elapsed_ms -lt 2000 ] && [[ "$err" == *"sweep: 20 tasks in "*"4 cancelled"*", interrupted"* ]]'
expect "... and keeps every finished result" \
  '[ "$(jq -r "[.account, .region, .instance, .type, .state] | join(\" \")" <<<"$out" | sort)" = "$expected" ]'

# --- the README's playbook snippets ---------------------------------------------------------

# Each ```lua block of README.md, run as a playbook: the first is the inventory.
awk '/^```lua$/ { n++; file = dir "/readme_" n ".lua"; next } /^```$/ { file = "" } file { print > file }' \
  dir="$E2E_TMP" "$root/README.md"
snippets=("$E2E_TMP"/readme_*.lua)
expect "README.md has Lua snippets to run" '[ -f "${snippets[0]}" ]'
for snippet in "${snippets[@]}"; do
  opsrun_sim -o jsonl "$snippet"
  expect "README snippet $(basename "$snippet") runs: only the denied and hung accounts fail" \
    '[ $status -eq 3 ] && [[ "$err" != *"opsrun: "* ]] && [[ "$err" =~ failed\ \([0-9]+\ denied,\ [0-9]+\ timeout\) ]]'
done
opsrun_sim -o jsonl "$E2E_TMP/readme_1.lua"
expect "the README's inventory snippet lists every instance the simulator holds" \
  '[ "$(jq -r "[.account, .instance, .state] | join(\" \")" <<<"$out" | sort)" = "$(cut -d" " -f1,3,5 <<<"$expected" | sort)" ]'

# --- the README's demo -----------------------------------------------------------------------

sim_stop
run env -u AWS_ACCESS_KEY_ID -u AWS_PROFILE -u OPSRUN_REGISTRY -u ACCOUNT_REGISTRY \
  HOME="$E2E_TMP/nohome" bash "$root/scripts/demo.sh"
expect "the demo command sets up, sweeps 20 simulated accounts and prints the table" \
  '[ $status -eq 0 ] && [[ "$(grep -m1 ^account <<<"$out")" == account*instance*name*region*state*type ]] && [[ "$err" == *"sweep: 40 tasks in "*": 40 ok, 0 failed"* ]]'

finish

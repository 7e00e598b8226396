#!/usr/bin/env bash
# boto3_test.sh: mcp.boto3 of the real binary against the simulated AWS MCP Server (SPEC 4):
# DescribeInstances as an assumed role equals the simulator's inventory in each region, a sweep
# of accounts × regions counts every instance, botocore errors raise tool errors in their own
# words, and hostile strings reach the server intact (its errors quote them back).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

inventory() { # ACCOUNT REGION: the simulator's EC2 answer, {Reservations}
  curl -s "${SIM_COUNTERS%/counters}/inventory?account=$1&region=$2" | jq -c .ec2
}
# lua-cjson writes an empty array as {}: compare with empty containers made alike, keys sorted
normalized() {
  jq -S 'walk(if . == {} then [] else . end)'
}
instances() { # ACCOUNT REGION
  inventory "$1" "$2" | jq '[.Reservations[].Instances[]] | length'
}

sim_start --accounts 4 || exit 1
mapfile -t accounts < <(sim_get '.accounts[]')

# The account with the most instances in the two regions, so that the comparison has data.
best= best_count=-1
for id in "${accounts[@]}"; do
  n=$(($(instances "$id" us-east-1) + $(instances "$id" eu-west-1)))
  [ "$n" -gt "$best_count" ] && best=$id best_count=$n
done
expect "the simulator has instances to compare ($best_count in $best)" '[ "$best_count" -gt 0 ]'

for region in us-east-1 eu-west-1; do
  sim_run opsrun -e "assume('$best')
print(json.encode(mcp.boto3('ec2', 'DescribeInstances', {}, { region = '$region' })))"
  got=$(normalized <<<"$out") want=$(inventory "$best" "$region" | normalized)
  expect "DescribeInstances in $region as the assumed role equals the inventory's Reservations" \
    '[ $status -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]'
done

sim_run opsrun -e "assume('$best') print(json.encode(mcp.boto3('ec2', 'DescribeInstances')))"
got=$(normalized <<<"$out") want=$(inventory "$best" us-east-1 | normalized)
expect "without opts.region it runs in the operating region (AWS_REGION)" \
  '[ $status -eq 0 ] && [ "$got" = "$want" ]'

sim_run opsrun -e "assume('$best') print(mcp.boto3('sts', 'GetCallerIdentity').Account)"
expect "sts GetCallerIdentity through boto3 answers as the assumed account" '[ "$out" = "$best" ]'

sim_run opsrun -e "local r = sweep({...}, function(id, region)
  assume(id)
  local n = 0
  for _, res in ipairs(mcp.boto3('ec2', 'DescribeInstances', {}, { region = region }).Reservations or {}) do
    n = n + #res.Instances
  end
  return n
end, { regions = { 'us-east-1', 'eu-west-1' }, concurrency = 8 })
for _, x in ipairs(r) do print(x.item, x.region, x.ok and x.value or tostring(x.error)) end" \
  "${accounts[@]}"
want=$(for id in "${accounts[@]}"; do
  for region in us-east-1 eu-west-1; do printf '%s\t%s\t%s\n' "$id" "$region" "$(instances "$id" "$region")"; done
done)
expect "a sweep of accounts × regions counts every account's instances" \
  '[ $status -eq 0 ] && [ "$out" = "$want" ]'

# --- errors ------------------------------------------------------------------------------------

sim_run opsrun -e "assume('$best')
local ok, e = pcall(mcp.boto3, 'ec2', 'DescribeInstances', { MaxResults = 1 })
print(ok, e.kind, e.code, e.phase, e.account, e.service, e.operation, e.region)
print(e.message)"
expect "an invalid MaxResults raises a tool error named by its botocore code" \
  '[ $status -eq 0 ] && [ "$(head -1 <<<"$out")" = "false	tool	InvalidParameterValue	mcp	$best	ec2	DescribeInstances	us-east-1" ] &&
   [ "$(tail -1 <<<"$out")" = "botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5." ]'

sim_run opsrun -e "assume('$best') mcp.boto3('ec2', 'DescribeInstances', { MaxResults = 1 })"
expect "uncaught, it exits 1 with the error's line on stderr" \
  '[ $status -eq 1 ] && [[ "$err" == "opsrun: InvalidParameterValue (mcp $best): botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: "* ]] && [ -z "$out" ]'

sim_run opsrun -e "local ok, e = pcall(mcp.boto3, 'ec2', 'DescribeInstances', { Bogus = 1 }) print(e.code)
print(e.message)"
expect "an unknown parameter is a ParamValidationError in botocore's words" \
  '[ "$(head -1 <<<"$out")" = ParamValidationError ] && [[ "$out" == *"Unknown parameter in input: \"Bogus\""* ]]'

sim_run opsrun -e "local ok, e = pcall(mcp.boto3, 'ec2', 'DescribeVpcs') print(e.kind, e.code, e.message)"
expect "a script failure without a botocore code is a ScriptError with the server's text" \
  '[ "$out" = "tool	ScriptError	NotImplementedError: opsrun-sim does not simulate ec2.DescribeVpcs" ]'

before=$(curl -s "$SIM_COUNTERS" | jq .tool_calls.total)
sim_run opsrun -e "mcp.boto3('ec2\"); import os #', 'DescribeInstances')"
after=$(curl -s "$SIM_COUNTERS" | jq .tool_calls.total)
expect "a service name that is not a name is a bad argument, and nothing is sent" \
  '[ $status -eq 1 ] && [ "$before" = "$after" ] && [[ "$err" == "opsrun: (command line):1: bad argument #1 to '"'"'boto3'"'"' (service name must look like '"'"'ec2'"'"', got "* ]]'

# --- hostile strings ---------------------------------------------------------------------------

# Each is sent where the simulator's error quotes it back: a filter name, an instance id. (No
# NUL: it is sent intact too, but the MCP client refuses a reply holding \u0000.)
hostile=$(write_script hostile.lua <<'LUA'
local strings = {
  "x'); import os #",
  'x"); import os #',
  "q'''\"\"\"\\'\\\"\\\\",
  "line\nbreak\r\n\ttab ')\nreturn 1\n#",
  "\\N{BULLET} \\x41 \\u0041 \\U0001F600 \\0 \\",
  "é€😀 日本 \u{2028}\u{feff}",
  "control \1\31\127 bytes",
}
for i, text in ipairs(strings) do
  local ok, e = pcall(mcp.boto3, "ec2", "DescribeInstances", { Filters = { { Name = text, Values = { "v" } } } })
  local filter = not ok and e.message:find("The filter '" .. text .. "' is invalid", 1, true) ~= nil
  ok, e = pcall(mcp.boto3, "ec2", "DescribeInstances", { InstanceIds = { "i-" .. text } })
  local id = not ok and e.message:find('Invalid id: "i-' .. text .. '"', 1, true) ~= nil
  print(i, filter, id)
end
LUA
)
sim_run opsrun "$hostile"
expect "hostile strings arrive intact: the server quotes each back exactly" \
  '[ $status -eq 0 ] && [ "$out" = "$(printf "%s\ttrue\ttrue\n" 1 2 3 4 5 6 7)" ]'

sim_run opsrun -e "assume('$best') local r = mcp.boto3('ec2', 'DescribeInstances',
  { Filters = { { Name = 'tag:Owner', Values = { \"nobody'); import os #\" } } } }) print(#r.Reservations)"
expect "a hostile filter value is just a value that matches nothing" '[ $status -eq 0 ] && [ "$out" = 0 ]'

finish

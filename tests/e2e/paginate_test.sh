#!/usr/bin/env bash
# paginate_test.sh: mcp.paginate of the real binary against the simulated AWS MCP Server (SPEC 4):
# in a sweep, every account gets every item of an operation answered in 1, 2 and many pages, and
# with an empty page in the middle (--empty-page), from ONE tools/call per account, while the
# simulator answers one call_boto3 per page (its counters); EC2's NextToken, IAM's
# Marker/IsTruncated and S3's continuation tokens are followed, max_items stops early (counting
# items of the first result key, as botocore's MaxItems), and a page the service refuses raises
# the service's error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

INSTANCES=53 OBJECTS=7

hook() { # PATH [CURL ARGS...]: a test hook of the simulator
  local path=$1
  shift
  curl -s "$@" "${SIM_COUNTERS%/counters}/$path"
}
inventory() { hook "inventory?account=$1&region=us-east-1"; }

# The items each account holds, one line per account: "ACCOUNT<TAB>ITEM,ITEM,...".
want_instances() {
  for id in "${accounts[@]}"; do
    printf '%s\t%s\n' "$id" "$(inventory "$id" | jq -r '[.ec2.Reservations[].Instances[].InstanceId] | join(",")')"
  done
}
want_roles() {
  for id in "${accounts[@]}"; do
    printf '%s\t%s\n' "$id" "$(inventory "$id" | jq -r '[.iam.Roles[].RoleName] | join(",")')"
  done
}

# paginate SERVICE OPERATION OPTS ITEMS: resets the counters, then a sweep over the accounts in
# which each lists its items with one mcp.paginate(SERVICE, OPERATION, params, OPTS); ITEMS is
# Lua turning the result `out` into a list of names. Prints "ACCOUNT<TAB>NAME,NAME,..." per
# account and fails the account whose result still carries a token.
paginate() {
  hook reset -X POST >/dev/null
  sim_run opsrun -e "local r = sweep({...}, function(item)
  local id, bucket = item:match('^(%d+):?(.*)$')
  assume(id)
  local params = bucket ~= '' and { Bucket = bucket } or {}
  local out = mcp.paginate('$1', '$2', params, $3)
  assert(out.NextToken == nil and out.Marker == nil and out.NextContinuationToken == nil, 'a token')
  local names = {}
  $4
  return id .. '\t' .. table.concat(names, ',')
end, { concurrency = 8 })
for _, x in ipairs(r) do print(x.ok and x.value or tostring(x.error)) end" "${items[@]}"
}
EC2_NAMES="for _, res in ipairs(out.Reservations) do
    for _, instance in ipairs(res.Instances) do names[#names + 1] = instance.InstanceId end
  end"
IAM_NAMES="for _, role in ipairs(out.Roles) do names[#names + 1] = role.RoleName end"
S3_NAMES="for _, object in ipairs(out.Contents) do names[#names + 1] = object.Key end"

# one_call_each OPERATION PAGES: every account made one tools/call, and the simulator answered
# PAGES call_boto3 of OPERATION in each (PAGES a jq expression of the account's id).
one_call_each() {
  local counters
  counters=$(hook counters)
  jq -e --arg op "$1" --argjson accounts "$(printf '%s\n' "${accounts[@]}" | jq -R . | jq -s .)" \
    --argjson pages "$(for id in "${accounts[@]}"; do pages_of "$id" "$2"; done | jq -s 'add')" '
    .tool_calls.total == ($accounts | length)
    and ([$accounts[] as $id | .tool_calls.by_account[$id]] | all(. == 1))
    and .boto3_calls[$op] == $pages' <<<"$counters" >/dev/null
}
pages_of() { # ACCOUNT JQ: the number of pages JQ computes from the account's inventory
  inventory "$1" | jq "$2"
}

# --- pages without gaps --------------------------------------------------------------------------

sim_start --accounts 3 --instances-per-region $INSTANCES --objects-per-bucket $OBJECTS || exit 1
mapfile -t accounts < <(sim_get '.accounts[]')
items=("${accounts[@]}")
want=$(want_instances)
expect "the simulator holds $INSTANCES instances per account" \
  '[ "$(cut -f2 <<<"$want" | tr , "\n" | grep -c .)" -eq $((INSTANCES * ${#accounts[@]})) ]'

for case in "1:nil" "2:{ page_size = 27 }" "11:{ page_size = 5 }"; do
  pages=${case%%:*} opts=${case#*:}
  paginate ec2 DescribeInstances "$opts" "$EC2_NAMES"
  expect "DescribeInstances in $pages page(s) ($opts): every instance of every account" \
    '[ $status -eq 0 ] && [ "$out" = "$want" ]'
  expect "... from one tools/call per account, $pages call_boto3 in each" \
    'one_call_each ec2.DescribeInstances "$pages"'
done

paginate iam ListRoles "{ page_size = 1 }" "$IAM_NAMES"
expect "ListRoles one role a page follows Marker while IsTruncated: every role, in order" \
  '[ $status -eq 0 ] && [ "$out" = "$(want_roles)" ] && one_call_each iam.ListRoles "[.iam.Roles[]] | length"'

mapfile -t items < <(for id in "${accounts[@]}"; do
  printf '%s:%s\n' "$id" "$(inventory "$id" | jq -r '.s3.Buckets[0].Name')"
done)
paginate s3 ListObjectsV2 "{ page_size = 2 }" "$S3_NAMES"
expect "ListObjectsV2 two keys a page follows NextContinuationToken: all $OBJECTS objects" \
  '[ $status -eq 0 ] && [ "$(cut -f2 <<<"$out" | tr , "\n" | grep -c .)" -eq $((OBJECTS * ${#accounts[@]})) ] &&
   one_call_each s3.ListObjectsV2 "$(((OBJECTS + 1) / 2))"'
first_three=$(cut -f1 <<<"$out" | paste - <(cut -f2 <<<"$out" | cut -d, -f1-3))

paginate s3 ListObjectsV2 "{ page_size = 2, max_items = 3 }" "$S3_NAMES"
expect "max_items = 3 keeps the first 3 objects (botocore's MaxItems), and stops after page 2" \
  '[ $status -eq 0 ] && [ "$out" = "$first_three" ] && one_call_each s3.ListObjectsV2 2'
items=("${accounts[@]}")

paginate ec2 DescribeInstances "{ page_size = 1 }" "$EC2_NAMES"
expect "a page the service refuses raises its error in every account (MaxResults below 5)" \
  '[ $status -eq 3 ] && [ "$(grep -c "^InvalidParameterValue (mcp [0-9]*): botocore.exceptions.ClientError" <<<"$out")" -eq ${#accounts[@]} ]'
sim_stop

# --- an empty page in the middle -----------------------------------------------------------------

sim_start --accounts 3 --instances-per-region $INSTANCES --empty-page || exit 1
mapfile -t accounts < <(sim_get '.accounts[]')
items=("${accounts[@]}")
want=$(want_instances)

for case in "1:nil" "3:{ page_size = 27 }" "12:{ page_size = 5 }"; do
  pages=${case%%:*} opts=${case#*:}
  paginate ec2 DescribeInstances "$opts" "$EC2_NAMES"
  expect "with an empty page after the first, DescribeInstances ($opts): every instance" \
    '[ $status -eq 0 ] && [ "$out" = "$want" ]'
  expect "... from one tools/call per account, $pages call_boto3 in each" \
    'one_call_each ec2.DescribeInstances "$pages"'
done

paginate iam ListRoles "{ page_size = 1 }" "$IAM_NAMES"
expect "with an empty page, ListRoles one role a page: every role, one more call_boto3" \
  '[ $status -eq 0 ] && [ "$out" = "$(want_roles)" ] &&
   one_call_each iam.ListRoles "[.iam.Roles[]] | length | if . > 1 then . + 1 else . end"'

finish

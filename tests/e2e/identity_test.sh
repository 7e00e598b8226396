#!/usr/bin/env bash
# identity_test.sh: base credentials from each source of the chain, assume() and whoami()
# against the loopback simulator: one AssumeRole per account however often it is assumed,
# refresh of short-lived credentials, denied accounts, and no credentials at all (SPEC 2, 4).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
endpoints_pid=
trap 'sim_stop; [ -n "$endpoints_pid" ] && kill "$endpoints_pid" 2>/dev/null; rm -rf "$E2E_TMP"' EXIT

sim_start --accounts 50 --deny-accounts 1 || exit 1
home="$E2E_TMP/home"
mkdir -p "$home/.aws"
central_arn=$(sim_get .central_user_arn)
first=$(sim_get '.accounts[0]')
denied=$(sim_get '.denied[0]')

# opsrun_with VAR=VALUE... -- ARGS...: opsrun in a clean environment (no real credentials,
# instance metadata off unless the test turns it on) plus the given variables.
opsrun_with() {
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  run env -i PATH="$PATH" HOME="$home" AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_STS="$SIM_STS" \
    AWS_REGION=us-east-1 "${vars[@]}" "$OPSRUN" --no-progress "$@"
}
base_keys=(AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY")
print_whoami='local me = whoami() print(me.account, me.arn)'

# --- the base identity, from each source ----------------------------------------------------

opsrun_with "${base_keys[@]}" -- -e "$print_whoami"
expect "whoami as the base user from the environment" \
  '[ $status -eq 0 ] && [ "$out" = "111111111111	$central_arn" ]'

printf '[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$SIM_ACCESS_KEY_ID" "$SIM_SECRET_ACCESS_KEY" >"$home/.aws/credentials"
opsrun_with -- --profile ops -e "$print_whoami"
expect "whoami from a profile of ~/.aws/credentials (--profile)" '[ "$out" = "111111111111	$central_arn" ]'
opsrun_with AWS_PROFILE=ops -- -e "$print_whoami"
expect "whoami from the profile named by AWS_PROFILE" '[ "$out" = "111111111111	$central_arn" ]'

cat >"$home/.aws/config" <<EOF
[profile proc]
credential_process = printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}' $SIM_ACCESS_KEY_ID $SIM_SECRET_ACCESS_KEY
EOF
opsrun_with -- --profile proc -e "$print_whoami"
expect "whoami from credential_process" '[ $status -eq 0 ] && [ "$out" = "111111111111	$central_arn" ]'

# temporary credentials of the first account's role, served by container and IMDS endpoints
role=$(env -i PATH="$PATH" HOME="$home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  "${base_keys[@]}" AWS_REGION=us-east-1 timeout 60 /usr/bin/aws sts assume-role --endpoint-url "$SIM_STS" \
  --role-arn "arn:aws:iam::$first:role/CentralOpsTargetRole" --role-session-name endpoints --output json)
coproc ENDPOINTS { exec python3 "$(dirname "$0")/credential_endpoints.py" \
  "$(jq -r .Credentials.AccessKeyId <<<"$role")" "$(jq -r .Credentials.SecretAccessKey <<<"$role")" \
  "$(jq -r .Credentials.SessionToken <<<"$role")" "$(jq -r .Credentials.Expiration <<<"$role")"; }
endpoints_pid=$ENDPOINTS_PID
read -r -t 20 port <&"${ENDPOINTS[0]}" || { echo "FAIL - the credential endpoints did not start"; exit 1; }
role_arn="arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/endpoints"

opsrun_with AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$port/ecs/creds" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN=test-token -- -e "$print_whoami"
expect "whoami from the container credentials endpoint" '[ "$out" = "$first	$role_arn" ]'

run env -i PATH="$PATH" HOME="$home" AWS_ENDPOINT_URL_STS="$SIM_STS" AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$port" "$OPSRUN" -e "$print_whoami"
expect "whoami from instance metadata (IMDSv2)" '[ "$out" = "$first	$role_arn" ]'

rm -f "$home/.aws/credentials" "$home/.aws/config"
opsrun_with -- -e "$print_whoami"
expect "no credentials anywhere exits 2 with one line saying what to do" \
  '[ $status -eq 2 ] && [ $(lines "$err") -eq 1 ] && [[ "$err" == opsrun:*NoCredentials* || "$err" == opsrun:*credentials* ]] && [ -z "$out" ]'

# --- what is read whole has a cap (issue 14): an endless source fails at once, naming it -------

opsrun_with AWS_CONFIG_FILE=/dev/zero -- -e "$print_whoami"
expect "AWS_CONFIG_FILE=/dev/zero exits 2 at the 16 MiB cap, naming the file and the cap" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: config: /dev/zero: cannot read: larger than 16777216 bytes" ]'
opsrun_with AWS_SHARED_CREDENTIALS_FILE=/dev/zero -- -e "$print_whoami"
expect "... AWS_SHARED_CREDENTIALS_FILE=/dev/zero the same" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: config: /dev/zero: cannot read: larger than 16777216 bytes" ]'
opsrun_with AWS_WEB_IDENTITY_TOKEN_FILE=/dev/zero AWS_ROLE_ARN=arn:aws:iam::111111111111:role/Web -- \
  -e "$print_whoami"
expect "... a web identity token file at 64 KiB (STS takes tokens of 20,000 characters)" \
  '[ $status -ne 0 ] && [[ "$err" == *"web identity token file: /dev/zero: cannot read: larger than 65536 bytes"* ]]'
sso_cache="$home/.aws/sso/cache/$(printf %s https://zero.awsapps.com/start | sha1sum | cut -c1-40).json"
mkdir -p "$home/.aws/sso/cache"
ln -s /dev/zero "$sso_cache"
cat >"$home/.aws/config" <<'EOF'
[profile zero]
credential_process = cat /dev/zero

[profile sso]
sso_start_url = https://zero.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111111111111
sso_role_name = Ops
EOF
opsrun_with -- --profile sso -e "$print_whoami"
expect "... an SSO token cache at 1 MiB" \
  '[ $status -ne 0 ] && [[ "$err" == *"SSO (profile sso): $sso_cache: cannot read: larger than 1048576 bytes"* ]]'
start=$EPOCHREALTIME
opsrun_with -- --profile zero -e "$print_whoami"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "a credential_process printing without end is stopped at 1 MiB of stdout, at once (${took} s)" \
  '[ $status -ne 0 ] && [[ "$err" == *"credential_process of profile zero printed more than 1048576 bytes on stdout, the most opsrun reads"* ]] &&
   awk -v t="$took" "BEGIN { exit !(t < 10) }"'
rm -rf "$home/.aws/config" "$home/.aws/sso"

# --- assume ----------------------------------------------------------------------------------

sim_get '{accounts: ([{id: "111111111111", name: "Central", role: "central"}] + [.accounts[] | {id: ., name: ("acct-" + .)}])}' >"$E2E_TMP/registry.json"
workloads=$(sim_get '.accounts | length')

opsrun_with "${base_keys[@]}" -- -r "$E2E_TMP/registry.json" -e "
local r = assume('$first')
print(r.account, r.arn, r.role, math.type(r.expires), r.expires > os.time())
print(whoami().arn)"
expect "assume returns {account, arn, role, expires} and whoami then answers as the role" \
  '[ "$out" = "$first	arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/opsrun-$first	CentralOpsTargetRole	integer	true
arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/opsrun-$first" ]'

sim_reset_counters
opsrun_with "${base_keys[@]}" -- -r "$E2E_TMP/registry.json" -j 16 -e "
local ok = 0
for pass = 1, 2 do
  for _, r in ipairs(sweep(accounts(), function(acct) return assume(acct).account == acct.id end)) do
    if r.ok and r.value then ok = ok + 1 end
  end
end
print(ok)"
counters=$(curl -s "$SIM_COUNTERS")
expect "assume into every account twice over: all succeed but the denied one" \
  '[ "$out" = $(( 2 * (workloads - 1) )) ] && [ $status -eq 3 ]'
expect "... with exactly one AssumeRole per account (a refusal is not cached: one per pass)" \
  '[ "$(jq "(.assume_role | del(.[\"$denied\"]) | [.[]] | length == $workloads - 1 and all(. == 1)) and .assume_role[\"$denied\"] == 2" <<<"$counters")" = true ]'

sim_reset_counters
opsrun_with "${base_keys[@]}" -- -e "
local r = sweep({1,2,3,4,5,6,7,8,9,10}, function() return assume('$first').account end, {concurrency = 10})
print(#r, r[10].value)"
expect "ten tasks assuming one account at once share one STS call" \
  '[ "$out" = "10	$first" ] && [ "$(curl -s "$SIM_COUNTERS" | jq ".assume_role[\"$first\"]")" = 1 ]'

opsrun_with "${base_keys[@]}" -- -e "
local ok, err = pcall(assume, '$denied')
print(ok, err.kind, err.code, err.phase, err.account, err.http_status)
print(tostring(err))"
expect "a denied account gives an AccessDenied error object in AWS's words" \
  '[ "$out" = "false	denied	AccessDenied	assume	$denied	403
AccessDenied (assume $denied): User: $central_arn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::$denied:role/CentralOpsTargetRole" ]'

sim_get '{accounts: ([.accounts[] | {id: ., name: ("acct-" + .)}] | .[0].role_name = "ShardTestRole")}' \
  >"$E2E_TMP/shard-registry.json"
opsrun_with "${base_keys[@]}" -- -r "$E2E_TMP/shard-registry.json" --shard 2/2 -e "
print(#accounts(), pcall(assume, '$first'))"
expect "assume(id) takes the account's settings from the registry, even outside --shard" \
  '[[ "$out" == "25	false	AccessDenied (assume $first): "*"role/ShardTestRole" ]]'

opsrun_with "${base_keys[@]}" -- -e "assume('$first', {session_name = 'bad:name'})"
expect "parameters STS would refuse are refused before sending, in AWS's words" \
  '[ $status -eq 2 ] && [[ "$err" == *"roleSessionName"* ]]'

opsrun_with "${base_keys[@]}" -- -v -e "sweep({'$first'}, function(id) assume(id) log.info('inside') end)"
expect "log lines of a task carry the account it assumed" '[[ "$err" == *"INFO  [$first] inside"* ]]'

# --- refresh of short-lived credentials ------------------------------------------------------

sim_stop
sim_start --accounts 2 --credential-lifetime 4 || exit 1
first=$(sim_get '.accounts[0]')
opsrun_with AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" -- -e "
assume('$first')
local before = whoami().arn
sleep(2.5)
assume('$first')
print(before == whoami().arn)
sleep(2.5)
print(whoami().account)"
expect "credentials are fetched again before they expire, and work after the first set expired" \
  '[ $status -eq 0 ] && [ "$out" = "true
$first" ] && [ "$(curl -s "$SIM_COUNTERS" | jq ".assume_role[\"$first\"]")" -ge 2 ]'

finish

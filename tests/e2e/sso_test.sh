#!/usr/bin/env bash
# sso_test.sh: IAM Identity Center sessions that refresh (issue 17 item 8), against the
# simulator's SSO portal and SSO OIDC endpoints. A profile with an sso-session whose cached access
# token lives 12 s runs a sweep that outlives it (base credentials of 16 s, so they are fetched
# again mid-sweep): every account succeeds, CreateToken was called during the sweep, the cache file
# holds the new token (mode 0600, the CLI's fields, the registration kept, the refresh token
# rotated), no token, refresh token or client secret reaches stderr even at -vvv, and the AWS CLI
# reads the file opsrun wrote. An expired token whose refresh is refused asks to log in again, and
# the legacy form keeps its message.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

start_url=https://opsrun-sim.awsapps.com/start
cache_dir="$E2E_TMP/.aws/sso/cache"
cache="$cache_dir/$(printf %s corp | sha1sum | cut -c1-40).json"
mkdir -p "$cache_dir"
cat >"$E2E_TMP/config" <<EOF
[profile sso]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = AWSAdministratorAccess
region = us-east-1

[sso-session corp]
sso_start_url = $start_url
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111111111111
sso_role_name = AWSAdministratorAccess
EOF

# sso_login: what `aws sso login --sso-session corp` leaves, from the simulator's test hook.
sso_login() {
  curl -s -X POST "$SIM_SSO_OIDC/_sim/sso/login?start_url=$start_url&region=us-east-1" >"$cache"
  chmod 600 "$cache"
}

field() {
  jq -r "$1" "$cache"
}

sweep_playbook=$(write_script sweep.lua <<'LUA'
local started = os.time()
sweep(accounts(), function(acct)
  sleep(5)
  assume(acct)
  emit{ account = acct.id, arn = whoami().arn }
end, { concurrency = 2 })
io.stderr:write(("swept in %d s\n"):format(os.time() - started))
LUA
)

# --- a sweep that outlives the access token -------------------------------------------------------
sim_start --accounts 6 --sso-token-lifetime 12 --credential-lifetime 16 || exit 1
sso_env=(AWS_CONFIG_FILE="$E2E_TMP/config" AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY=
  AWS_ENDPOINT_URL_SSO="$SIM_SSO" AWS_ENDPOINT_URL_SSO_OIDC="$SIM_SSO_OIDC")
sso_login
first_token=$(field .accessToken)
first_refresh=$(field .refreshToken)
first_expiry=$(field .expiresAt)
secret=$(field .clientSecret)
client=$(field .clientId)
sim_sweep "$sweep_playbook" "${sso_env[@]}" -- --profile sso -o jsonl -vvv --
elapsed=$(grep -o 'swept in [0-9]* s' <<<"$err" | grep -o '[0-9]*')
echo "    sweep: ${elapsed:-?} s; token lived 12 s; CreateToken calls: $(jq -c .sso_calls <<<"$counters")"
expect "every account succeeds as its role, from the SSO user's session" \
  '[ $status -eq 0 ] && [ "$(jq -r .account <<<"$out" | sort | tr "\n" " ")" = "$(sim_get ".accounts[]" | sort | tr "\n" " ")" ] && [ "$(grep -c "assumed-role/CentralOpsTargetRole/" <<<"$out")" -eq 6 ]'
expect "the sweep outlived the access token the login left" '[ "${elapsed:-0}" -gt 12 ]'
expect "CreateToken was called, at least twice (the first token, then its successor, ran out)" \
  '[ "$(jq .sso_calls.CreateToken <<<"$counters")" -ge 2 ] && [ "$(jq ".sso_errors | length" <<<"$counters")" -eq 0 ]'
expect "the base credentials came from GetRoleCredentials more than once" \
  '[ "$(jq .sso_calls.GetRoleCredentials <<<"$counters")" -ge 2 ]'
expect "the cache file holds a new token that expires later, and a rotated refresh token" \
  '[ "$(field .accessToken)" != "$first_token" ] && [[ "$(field .expiresAt)" > "$first_expiry" ]] && [ "$(field .refreshToken)" != "$first_refresh" ]'
expect "the cache file keeps the CLI's fields and the client registration, mode 0600" \
  '[ "$(jq -c "keys" "$cache")" = "[\"accessToken\",\"clientId\",\"clientSecret\",\"expiresAt\",\"refreshToken\",\"region\",\"registrationExpiresAt\",\"startUrl\"]" ] && [ "$(field .clientId)" = "$client" ] && [ "$(field .clientSecret)" = "$secret" ] && [ "$(field .startUrl)" = "$start_url" ] && [ "$(stat -c %a "$cache")" = 600 ]'
expect "no temporary file is left beside it" '[ "$(ls -A "$cache_dir" | wc -l)" -eq 1 ]'
leaked=
for s in "$first_token" "$first_refresh" "$secret" "$(field .accessToken)" "$(field .refreshToken)"; do
  grep -qF -- "$s" <<<"$err" && leaked="$leaked ${s:0:8}..."
done
expect "no token, refresh token or client secret on stderr at -vvv (wire log included)" \
  '[ -z "$leaked" ] && grep -q "http > POST $SIM_SSO_OIDC/token" <<<"$err" && grep -q "x-amz-sso_bearer_token: <redacted>" <<<"$err"'

# --- the AWS CLI reads the file opsrun wrote ------------------------------------------------------
# Each AWS CLI installed, Debian's first: one whose SSO clients cannot be pointed at the simulator
# (AWS_ENDPOINT_URL_SSO and _SSO_OIDC came in AWS CLI v2.13 and botocore 1.31) says so.
cli_checked=
for aws_cli in $(type -ap aws | awk '!seen[$0]++' | sort -r -t/ -k2,2); do
  [ -n "$cli_checked" ] && break
  version=$("$aws_cli" --version 2>&1 | cut -d' ' -f1)
  before=$(field .accessToken)
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_CONFIG_FILE="$E2E_TMP/config" \
    AWS_SHARED_CREDENTIALS_FILE="$E2E_TMP/none" AWS_EC2_METADATA_DISABLED=true \
    AWS_ENDPOINT_URL_SSO="$SIM_SSO" AWS_ENDPOINT_URL_SSO_OIDC="$SIM_SSO_OIDC" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" "$aws_cli" sts get-caller-identity --profile sso --output json
  if grep -q "amazonaws.com" <<<"$err"; then
    echo "    $aws_cli ($version) cannot be pointed at the simulator: $(grep -o 'https://[a-z0-9.-]*amazonaws.com[^\"]*' <<<"$err" | head -1)"
    continue
  fi
  cli_checked=$aws_cli
  expect "the AWS CLI ($aws_cli, $version) reads the cache opsrun wrote: get-caller-identity as the SSO role" \
    '[ $status -eq 0 ] && [[ "$(jq -r .Arn <<<"$out")" == arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AWSAdministratorAccess_*/ops@example.com ]]'
  [ "$(field .accessToken)" != "$before" ] &&
    echo "    (it refreshed the token itself, with the client and refresh token opsrun stored)"
done
[ -z "$cli_checked" ] && echo "    no AWS CLI here can be pointed at the simulator: the cache was not read by one"

# --- an expired token that cannot be refreshed; the legacy form -----------------------------------
jq '.expiresAt = "2020-01-01T00:00:00Z" | .refreshToken = "spent"' "$cache" >"$cache.new" && mv "$cache.new" "$cache"
sim_sweep "$sweep_playbook" "${sso_env[@]}" -- --profile sso -o jsonl --
refused="SSO (profile sso): the cached token expired at 2020-01-01T00:00:00Z and cannot be refreshed (SSO OIDC CreateToken answered HTTP 400 InvalidGrantException): run \`aws sso login --profile sso\`"
expect "an expired token whose refresh is refused is one configuration error: exit 2, one line saying to log in" \
  '[ $status -eq 2 ] && [ "$(grep -cF "$refused" <<<"$err")" -eq 1 ] && [ "$(lines "$err")" -eq 1 ]'
expect "the refusal is asked once, not once an account" '[ "$(jq .sso_calls.CreateToken <<<"$counters")" -eq 1 ]'
legacy_cache="$cache_dir/$(printf %s https://legacy.awsapps.com/start | sha1sum | cut -c1-40).json"
jq '.expiresAt = "2020-01-01T00:00:00Z"' "$cache" >"$legacy_cache"
sim_run env "${sso_env[@]}" "$OPSRUN" --profile legacy -e 'print(whoami().arn)'
expect "the legacy form is not refreshed and keeps its message" \
  '[ $status -eq 2 ] && grep -q "SSO (profile legacy): the cached token expired at 2020-01-01T00:00:00Z: run \`aws sso login --profile legacy\`" <<<"$err" && [ "$(sim_counter .sso_calls.CreateToken)" -eq 1 ]'
sim_stop
finish

#!/usr/bin/env bash
# region_test.sh: a region goes into host names, headers and signatures, so one that is not a
# region name (runtime/region.h) is refused wherever it comes from (issue 14): --region, AWS_REGION
# and AWS_DEFAULT_REGION, a profile's region and sso_region, OPSRUN_MCP_SIGNING_REGION. Each
# exits 2 before anything is sent, with one line naming the source and the value made printable.
# A listener on 127.0.0.1 shows that a hostile AWS_REGION no longer sends STS requests to it.
source "$(dirname "$0")/lib.sh"
listener_pid=
trap '[ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null; rm -rf "$E2E_TMP"' EXIT

# opsrun in a clean environment with made-up base credentials; more VAR=VALUE may come first.
run_clean() {
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=AKIDREGIONTEST AWS_SECRET_ACCESS_KEY=regionTestSecret "$@"
}

# --- the command line ---------------------------------------------------------------------------
run_clean "$OPSRUN" --region $'us-east-1\r\nX-Injected: yes' -e 'print(whoami().arn)'
expect "--region with a header in it exits 2 naming --region, the value printable" \
  '[ $status -eq 2 ] && [ "$(head -n1 <<<"$err")" = "opsrun: region '"'"'us-east-1\x0d\x0aX-Injected: yes'"'"' from --region is not a region name (such as us-east-1)" ] && [ -z "$out" ]'

# --- the environment ----------------------------------------------------------------------------
python3 -c '
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(server.getsockname()[1], flush=True)
server.settimeout(60)
server.accept()
open(sys.argv[1], "w").write("connected\n")
' "$E2E_TMP/connected" >"$E2E_TMP/listener.port" &
listener_pid=$!
for _ in $(seq 100); do
  [ -s "$E2E_TMP/listener.port" ] && break
  sleep 0.05
done
port=$(head -n1 "$E2E_TMP/listener.port")
run_clean AWS_REGION="x@127.0.0.1:$port/#" "$OPSRUN" -e 'print(whoami().arn)'
sleep 0.2
expect "AWS_REGION naming another host (no endpoint override) exits 2 naming AWS_REGION" \
  '[ $status -eq 2 ] && [ "$(head -n1 <<<"$err")" = "opsrun: region '"'"'x@127.0.0.1:$port/#'"'"' from AWS_REGION is not a region name (such as us-east-1)" ]'
expect "... and nothing connected to that host" '[ ! -e "$E2E_TMP/connected" ]'

run_clean AWS_REGION="x@127.0.0.1:$port/#" "$OPSRUN" -e \
  'sweep({"111111111111", "222222222222"}, function(a) return assume(a) end)'
expect "... in a sweep too: the run stops before any task (exit 2)" \
  '[ $status -eq 2 ] && [[ "$err" == *"from AWS_REGION is not a region name"* ]] && [[ "$err" != *sweep:* ]]'

run_clean AWS_DEFAULT_REGION="us-east-1 " "$OPSRUN" -e 'print(1)'
expect "AWS_DEFAULT_REGION is checked the same way" \
  '[ $status -eq 2 ] && [[ "$err" == "opsrun: region '"'"'us-east-1 '"'"' from AWS_DEFAULT_REGION is not a region name"* ]]'

run_clean AWS_REGION="x@127.0.0.1:$port/#" "$OPSRUN" --region eu-west-1 -e 'print(1)'
expect "--region stands in for the environment's region" '[ $status -eq 0 ] && [ "$out" = 1 ]'
run_clean AWS_REGION= AWS_DEFAULT_REGION=eusc-de-east-1 "$OPSRUN" -e 'print(1)'
expect "an empty AWS_REGION is unset; every partition's shape passes (eusc-de-east-1)" \
  '[ $status -eq 0 ] && [ "$out" = 1 ]'

# --- a profile ----------------------------------------------------------------------------------
cat >"$E2E_TMP/config" <<'INI'
[default]
region = eu-west-1.evil.example

[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_region = portal.evil.example/#
sso_account_id = 111111111111
sso_role_name = Ops
INI
run_clean AWS_CONFIG_FILE="$E2E_TMP/config" "$OPSRUN" -e 'print(whoami().arn)'
expect "a profile's region is refused at the first AWS call (exit 2), naming the profile and file" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: config: region '"'"'eu-west-1.evil.example'"'"' from profile default in $E2E_TMP/config is not a region name (such as us-east-1)" ]'
run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE="$E2E_TMP/config" AWS_PROFILE=sso "$OPSRUN" -e 'print(whoami().arn)'
expect "a profile's sso_region (the portal's host) is refused the same way" \
  '[ $status -eq 2 ] && [[ "$err" == *"region '"'"'portal.evil.example/#'"'"' from sso_region of profile sso is not a region name"* ]]'

# --- the MCP signing region ---------------------------------------------------------------------
run_clean AWS_REGION=us-east-1 OPSRUN_MCP_SIGNING_REGION=$'us-east-1\nx' "$OPSRUN" \
  --mcp-url "http://127.0.0.1:$port/mcp" tools
expect "OPSRUN_MCP_SIGNING_REGION goes into every signature: refused (exit 2), naming it" \
  '[ $status -eq 2 ] && [[ "$err" == *"region '"'"'us-east-1\x0ax'"'"' from OPSRUN_MCP_SIGNING_REGION is not a region name"* ]] && [ $(lines "$err") -eq 1 ]'
expect "... and nothing connected" '[ ! -e "$E2E_TMP/connected" ]'

finish

#!/usr/bin/env bash
# Proves the simulator against clients nobody on the team wrote: Debian's AWS CLI drives STS and
# Organizations with --endpoint-url, and curl --aws-sigv4 drives the MCP endpoint. One line per
# check, then "N passed, M failed"; exits non-zero on any failure. Uses lib.sh, jq, curl and
# awscli.
set -uo pipefail
cd "$(dirname "$0")" || exit 2
. ./lib.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sim-check.XXXXXX")
trap 'sim_stop; rm -rf "$WORK"' EXIT
PASSED=0
FAILED=0

# Debian's awscli (/usr/bin/aws) first: a pip or pyenv `aws` earlier on PATH is another client.
AWS_CLI=${AWS_CLI:-$(command -v /usr/bin/aws || command -v aws)}
if [ -z "$AWS_CLI" ]; then
  echo "FAIL - awscli not found (scripts/setup.sh installs it)"
  echo "0 passed, 1 failed"
  exit 1
fi

# The AWS CLI sees only what a check gives it: no profile, config file, IMDS or pager.
: >"$WORK/config"
: >"$WORK/credentials"
unset AWS_MAX_ATTEMPTS AWS_RETRY_MODE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_ORGANIZATIONS \
  AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
export AWS_CONFIG_FILE="$WORK/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials" AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_CLI_AUTO_PROMPT=off

check() { # NAME COMMAND...: runs COMMAND, reports it as one line
  local name=$1
  shift
  if "$@"; then
    echo "ok - $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL - $name"
    FAILED=$((FAILED + 1))
  fi
}

aws_as() { # KEY SECRET TOKEN ARGS...: runs the AWS CLI against the simulator's STS
  local key=$1 secret=$2 token=$3
  shift 3
  AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$token \
    "$AWS_CLI" --endpoint-url "$SIM_STS" --output json "$@" >"$WORK/out" 2>"$WORK/err"
}

mcp_post() { # KEY SECRET TOKEN SESSION BODY: SigV4-signed POST by curl; prints the status
  local args=(-sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:aws-mcp"
    --user "$1:$2" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'
    -H 'MCP-Protocol-Version: 2025-06-18')
  [ -n "$3" ] && args+=(-H "x-amz-security-token: $3")
  [ -n "$4" ] && args+=(-H "Mcp-Session-Id: $4")
  curl "${args[@]}" --data-binary "$5" "$SIM_MCP"
}

header() { # NAME: a response header of the last mcp_post
  tr -d '\r' <"$WORK/headers" | awk -v n="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' 'tolower($1) == n { print $2 }'
}

has() { # JQ-EXPRESSION FILE: true when the expression holds for the file's JSON
  jq -e "$1" "$2" >/dev/null 2>&1
}

# ---------------------------------------------------------------- STS through the AWS CLI
if ! sim_start --accounts 4 --deny-accounts 1; then
  echo "FAIL - simulator starts"
  echo "0 passed, 1 failed"
  exit 1
fi
BASE_KEY=$SIM_ACCESS_KEY_ID
BASE_SECRET=$SIM_SECRET_ACCESS_KEY
ACCOUNT=$(sim_get '.accounts[0]')
DENIED=$(sim_get '.denied[0]')
USER_ARN=$(sim_get .central_user_arn)

t_caller_base() {
  aws_as "$BASE_KEY" "$BASE_SECRET" "" sts get-caller-identity &&
    has ".Arn == \"$USER_ARN\" and .Account == \"111111111111\"" "$WORK/out"
}
check "aws sts get-caller-identity with the printed base credentials" t_caller_base

t_assume() {
  aws_as "$BASE_KEY" "$BASE_SECRET" "" sts assume-role \
    --role-arn "arn:aws:iam::$ACCOUNT:role/CentralOpsTargetRole" --role-session-name check || return 1
  cp "$WORK/out" "$WORK/assumed.json"
  has '(.Credentials.AccessKeyId | startswith("ASIA")) and (.Credentials.SessionToken | length > 100) and .Credentials.Expiration' "$WORK/assumed.json"
}
check "aws sts assume-role into $ACCOUNT returns ASIA credentials" t_assume
TMP_KEY=$(jq -r '.Credentials.AccessKeyId // empty' "$WORK/assumed.json" 2>/dev/null)
TMP_SECRET=$(jq -r '.Credentials.SecretAccessKey // empty' "$WORK/assumed.json" 2>/dev/null)
TMP_TOKEN=$(jq -r '.Credentials.SessionToken // empty' "$WORK/assumed.json" 2>/dev/null)
ROLE_ARN="arn:aws:sts::$ACCOUNT:assumed-role/CentralOpsTargetRole/check"

t_caller_assumed() {
  aws_as "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" sts get-caller-identity &&
    has ".Arn == \"$ROLE_ARN\" and .Account == \"$ACCOUNT\"" "$WORK/out"
}
check "aws sts get-caller-identity with the temporary credentials shows the assumed role" t_caller_assumed

t_denied() {
  ! aws_as "$BASE_KEY" "$BASE_SECRET" "" sts assume-role \
    --role-arn "arn:aws:iam::$DENIED:role/CentralOpsTargetRole" --role-session-name check &&
    grep -qF "An error occurred (AccessDenied) when calling the AssumeRole operation: User: $USER_ARN is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::$DENIED:role/CentralOpsTargetRole" "$WORK/err"
}
check "aws sts assume-role into denied $DENIED is AccessDenied in AWS's words" t_denied

t_wrong_secret_sts() {
  ! aws_as "$BASE_KEY" "${BASE_SECRET%?}x" "" sts get-caller-identity &&
    grep -qF '(SignatureDoesNotMatch)' "$WORK/err"
}
check "aws sts get-caller-identity with a wrong secret is SignatureDoesNotMatch" t_wrong_secret_sts

t_web_identity() {
  aws_as "" "" "" sts assume-role-with-web-identity --role-arn "$(sim_get .web_identity_role_arn)" \
    --role-session-name ci --web-identity-token "$(sim_get .web_identity_token)" &&
    has '.AssumedRoleUser.Arn == "arn:aws:sts::111111111111:assumed-role/OpsWebIdentityRole/ci"' "$WORK/out"
}
check "aws sts assume-role-with-web-identity accepts the printed token" t_web_identity

# ---------------------------------------------------------------- MCP through curl --aws-sigv4
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
SESSION=
t_initialize() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "" "$INIT")" = 200 ] || return 1
  SESSION=$(header mcp-session-id)
  [ -n "$SESSION" ] && has '.result.serverInfo.name and .result.capabilities.tools' "$WORK/body"
}
check "curl --aws-sigv4 initializes an MCP session" t_initialize

t_initialized() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" '{"jsonrpc":"2.0","method":"notifications/initialized"}')" = 202 ]
}
check "notifications/initialized is accepted (202)" t_initialized

t_tools_list() {
  local cursor='' names='' page=0 params
  while :; do
    page=$((page + 1))
    params=$([ -n "$cursor" ] && printf '{"cursor":"%s"}' "$cursor" || echo '{}')
    [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" "{\"jsonrpc\":\"2.0\",\"id\":$((page + 1)),\"method\":\"tools/list\",\"params\":$params}")" = 200 ] || return 1
    names+=$(jq -r '.result.tools[].name' "$WORK/body")$'\n'
    cursor=$(jq -r '.result.nextCursor // empty' "$WORK/body")
    [ -n "$cursor" ] || break
    [ "$page" -lt 10 ] || return 1
  done
  [ "$page" -eq 3 ] && [ "$(grep -c '^aws___' <<<"$names")" -eq 8 ] && grep -qx aws___run_script <<<"$names"
}
check "tools/list pages through 8 tools in 3 pages" t_tools_list

# A region other than the default in which the account has instances, so the answer means something.
REGION=
for r in eu-west-1 eu-central-1 ap-southeast-2 us-west-2 sa-east-1; do
  if curl -sS "${SIM_COUNTERS%/counters}/inventory?account=$ACCOUNT&region=$r" | jq -e '.ec2.Reservations | length > 0' >/dev/null; then
    REGION=$r
    break
  fi
done
RUN_EC2=$(jq -nc --arg region "${REGION:-eu-west-1}" '{jsonrpc:"2.0",id:20,method:"tools/call",params:{name:"aws___run_script",_meta:{AWS_REGION:$region},arguments:{code:"result = await call_boto3(service_name='"'"'ec2'"'"', operation_name='"'"'DescribeInstances'"'"', region_name=None, params={'"'"'Filters'"'"': [{'"'"'Name'"'"': '"'"'instance-state-name'"'"', '"'"'Values'"'"': ['"'"'running'"'"', '"'"'stopped'"'"', '"'"'pending'"'"']}]})\nresult"}}}')
t_run_script() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" "$RUN_EC2")" = 200 ] || return 1
  [ -n "$REGION" ] || return 1
  curl -sS "${SIM_COUNTERS%/counters}/inventory?account=$ACCOUNT&region=$REGION" >"$WORK/inventory" || return 1
  jq -c '.result.structuredContent.return_value' "$WORK/body" >"$WORK/got"
  jq -c '.ec2' "$WORK/inventory" >"$WORK/want"
  has ".result.structuredContent.status == \"success\" and .result.structuredContent.api_calls == [{\"service\":\"ec2\",\"operation\":\"DescribeInstances\",\"status\":\"success\",\"n_items\":{\"Reservations\":(.result.structuredContent.return_value.Reservations | length)}}] and (.result.content[0].text | fromjson) == .result.structuredContent" "$WORK/body" &&
    cmp -s "$WORK/got" "$WORK/want" && has '.Reservations[0].OwnerId' "$WORK/got" &&
    [ "$(jq -r '.Reservations[0].OwnerId' "$WORK/got")" = "$ACCOUNT" ]
}
check "tools/call aws___run_script DescribeInstances answers for $ACCOUNT in _meta.AWS_REGION ${REGION:-?}" t_run_script

RUN_WHOAMI=$(jq -nc '{jsonrpc:"2.0",id:21,method:"tools/call",params:{name:"aws___run_script",arguments:{code:"r = await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\", region_name=\"us-east-1\", params={})\nr"}}}')
t_run_whoami() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" "$RUN_WHOAMI")" = 200 ] &&
    has ".result.structuredContent.return_value.Arn == \"$ROLE_ARN\"" "$WORK/body"
}
check "aws___run_script sts GetCallerIdentity is the assumed role" t_run_whoami

t_bad_script() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" '{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"aws___run_script","arguments":{"code":"import os\nos.system(\"true\")"}}}')" = 200 ] &&
    has '.result.isError and .result.structuredContent.error == "ModuleNotFoundError: No module named '"'"'os'"'"'"' "$WORK/body"
}
check "code the sandbox refuses (import os) gives status error in Python's words" t_bad_script

t_module_return() {
  [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "$SESSION" '{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"aws___run_script","arguments":{"code":"result = 1\nreturn result"}}}')" = 200 ] &&
    has ".result.isError and .result.structuredContent.error == \"SyntaxError: 'return' outside function (<script>, line 2)\"" "$WORK/body"
}
check "a script ending in a module-level return fails as CPython fails it" t_module_return

t_wrong_secret_mcp() {
  [ "$(mcp_post "$TMP_KEY" "${TMP_SECRET%?}x" "$TMP_TOKEN" "$SESSION" '{"jsonrpc":"2.0","id":30,"method":"tools/list"}')" = 403 ] &&
    [ "$(header x-amzn-ErrorType)" = InvalidSignatureException ] &&
    has '.message | startswith("The request signature we calculated does not match")' "$WORK/body"
}
check "MCP request signed with a wrong secret is 403 InvalidSignatureException" t_wrong_secret_mcp

# Tampering: let curl sign one body, then replay its exact headers with another body.
t_tampered() {
  local signed='{"jsonrpc":"2.0","id":40,"method":"tools/list","params":{}}'
  local other='{"jsonrpc":"2.0","id":40,"method":"tools/list","params":{"cursor":"x"}}'
  curl -sS -v -o /dev/null --aws-sigv4 "aws:amz:us-east-1:aws-mcp" --user "$TMP_KEY:$TMP_SECRET" \
    -H "x-amz-security-token: $TMP_TOKEN" -H "Mcp-Session-Id: $SESSION" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-06-18' \
    --data-binary "$signed" "$SIM_MCP" 2>"$WORK/trace" || return 1
  local replay=()
  while IFS= read -r line; do
    replay+=(-H "$line")
  done < <(tr -d '\r' <"$WORK/trace" | sed -n 's/^> //p' | grep -iE '^(authorization|x-amz-date|x-amz-security-token|x-amz-content-sha256|mcp-session-id|content-type|accept|mcp-protocol-version):')
  local same tampered
  same=$(curl -sS -o "$WORK/body" -w '%{http_code}' "${replay[@]}" --data-binary "$signed" "$SIM_MCP")
  tampered=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "${replay[@]}" --data-binary "$other" "$SIM_MCP")
  [ "$same" = 200 ] && [ "$tampered" = 403 ] && [ "$(header x-amzn-ErrorType)" = InvalidSignatureException ]
}
check "a replayed signed request is accepted, the same headers with a tampered body are refused" t_tampered

t_other_identity() {
  [ "$(mcp_post "$BASE_KEY" "$BASE_SECRET" "" "$SESSION" '{"jsonrpc":"2.0","id":50,"method":"tools/list"}')" = 404 ] &&
    has '.error.code == -32001' "$WORK/body"
}
check "a session is refused (404) to another signing identity" t_other_identity

t_unsigned_mcp() {
  [ "$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$INIT" "$SIM_MCP")" = 401 ] &&
    [ "$(header x-amzn-ErrorType)" = MissingAuthenticationTokenException ]
}
check "an unsigned MCP request is 401 MissingAuthenticationTokenException" t_unsigned_mcp

t_counters() {
  curl -sS "$SIM_COUNTERS" >"$WORK/counters" &&
    has ".assume_role[\"$ACCOUNT\"] == 1 and .assume_role_denied[\"$DENIED\"] == 1 and .sessions_opened == 1 and .tool_calls.by_account[\"$ACCOUNT\"] == 4 and .signature_failures.by_reason.signature_mismatch >= 3 and .signature_failures.by_reason.missing_auth == 1" "$WORK/counters"
}
check "counters record assume-role, sessions, tool calls and signature failures" t_counters
sim_stop

# ---------------------------------------------------------------- expired temporary credentials
if sim_start --accounts 1 --credential-lifetime 1; then
  ACCOUNT=$(sim_get '.accounts[0]')
  aws_as "$SIM_ACCESS_KEY_ID" "$SIM_SECRET_ACCESS_KEY" "" sts assume-role \
    --role-arn "arn:aws:iam::$ACCOUNT:role/CentralOpsTargetRole" --role-session-name expiring
  TMP_KEY=$(jq -r '.Credentials.AccessKeyId // empty' "$WORK/out")
  TMP_SECRET=$(jq -r '.Credentials.SecretAccessKey // empty' "$WORK/out")
  TMP_TOKEN=$(jq -r '.Credentials.SessionToken // empty' "$WORK/out")
  sleep 2
  t_expired_sts() {
    ! aws_as "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" sts get-caller-identity &&
      grep -qF 'An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired' "$WORK/err"
  }
  check "expired temporary credentials get ExpiredToken from STS" t_expired_sts
  t_expired_mcp() {
    [ "$(mcp_post "$TMP_KEY" "$TMP_SECRET" "$TMP_TOKEN" "" "$INIT")" = 403 ] &&
      [ "$(header x-amzn-ErrorType)" = ExpiredTokenException ]
  }
  check "expired temporary credentials get 403 ExpiredTokenException from MCP" t_expired_mcp
  sim_stop
else
  check "simulator starts with --credential-lifetime 1" false
fi

# ---------------------------------------------------------------- Organizations through the AWS CLI
aws_org() { # ARGS...: `aws organizations ARGS` as the running simulator's base user
  AWS_ACCESS_KEY_ID=$SIM_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$SIM_SECRET_ACCESS_KEY \
    "$AWS_CLI" --endpoint-url "$SIM_ORGANIZATIONS" --output json organizations "$@" >"$WORK/out" 2>"$WORK/err"
}

# Pages of 2 with an empty page after each one that leaves accounts behind; Debian's CLI knows
# only the retired Status, so it is sent beside State here.
if sim_start --accounts 4 --org-page-size 2 --org-empty-pages --org-legacy-status; then
  ROOT=$(sim_get .org_root)
  PROD=$(sim_get '.org_ous["Root/Workloads/Prod"]')
  ACCOUNT=$(sim_get '.accounts[0]')
  t_org_list_accounts() {
    aws_org list-accounts || return 1
    [ "$(jq -r '[.Accounts[].Id] | sort | join(" ")' "$WORK/out")" = "$(sim_get '[.central_account] + .accounts + .suspended_accounts + .closed_accounts | sort | join(" ")')" ] &&
      has "[.Accounts[] | select(.Status == \"SUSPENDED\") | .Id] | sort == $(sim_get '.suspended_accounts + .closed_accounts | sort | tojson')" "$WORK/out" &&
      [ "$(sim_counter .org_ListAccounts)" = 7 ] # 7 accounts: pages of 2, 0, 2, 0, 2, 0, 1
  }
  check "aws organizations list-accounts pages through empty pages to every account" t_org_list_accounts
  t_org_list_roots() {
    aws_org list-roots && has ".Roots == [{\"Id\": \"$ROOT\", \"Arn\": .Roots[0].Arn, \"Name\": \"Root\", \"PolicyTypes\": [{\"Type\": \"SERVICE_CONTROL_POLICY\", \"Status\": \"ENABLED\"}]}]" "$WORK/out"
  }
  check "aws organizations list-roots gives the ready line's root" t_org_list_roots
  t_org_list_ous() {
    aws_org list-organizational-units-for-parent --parent-id "$ROOT" &&
      has '[.OrganizationalUnits[].Name] | sort == ["Sandbox", "Security", "Workloads"]' "$WORK/out" &&
      aws_org list-organizational-units-for-parent --parent-id "$(sim_get '.org_ous["Root/Workloads"]')" &&
      has '[.OrganizationalUnits[].Name] | sort == ["Dev", "Prod"]' "$WORK/out"
  }
  check "aws organizations list-organizational-units-for-parent walks Root and Workloads" t_org_list_ous
  t_org_list_for_parent() {
    aws_org list-accounts-for-parent --parent-id "$PROD" && has "[.Accounts[].Id] == [\"$ACCOUNT\"]" "$WORK/out"
  }
  check "aws organizations list-accounts-for-parent lists Root/Workloads/Prod" t_org_list_for_parent
  t_org_tags() {
    aws_org list-tags-for-resource --resource-id "$ACCOUNT" &&
      has '[.Tags[].Key] == ["team", "cost-center", "environment"] and .Tags[2].Value == "production"' "$WORK/out" &&
      [ "$(sim_counter .org_ListTagsForResource)" = 3 ] # 3 tags: pages of 2, 0, 1
  }
  check "aws organizations list-tags-for-resource pages through the account's tags" t_org_tags
  sim_stop
else
  check "simulator starts with --org-page-size 2 --org-empty-pages" false
fi

if sim_start --accounts 1 --org-caller member; then
  t_org_denied() {
    ! aws_org list-accounts &&
      grep -qF "An error occurred (AccessDeniedException) when calling the ListAccounts operation: You don't have permissions to access this resource." "$WORK/err"
  }
  check "aws organizations list-accounts as a member account is AccessDeniedException in AWS's words" t_org_denied
  sim_stop
else
  check "simulator starts with --org-caller member" false
fi

# Half of the requests throttled, five pages of one account: the CLI (10 attempts) retries each
# TooManyRequestsException, an HTTP 400, through to the whole list.
if sim_start --accounts 2 --org-throttle-rate 0.5 --org-page-size 1; then
  t_org_retried() {
    AWS_MAX_ATTEMPTS=10 aws_org list-accounts && has '.Accounts | length == 5' "$WORK/out" &&
      [ "$(sim_counter .throttled.organizations)" -gt 0 ]
  }
  check "aws organizations list-accounts retries TooManyRequestsException (HTTP 400) to success" t_org_retried
  sim_stop
else
  check "simulator starts with --org-throttle-rate 0.5" false
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]

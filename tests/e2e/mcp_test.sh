#!/usr/bin/env bash
# mcp_test.sh: mcp.call, mcp.tools, `opsrun tools` and `opsrun call` against the simulated AWS
# MCP Server: tools across pages, answers as the assumed role's account, JSON and event-stream
# replies, sessions that expire, closed at exit, and credential errors in AWS's words (SPEC 1, 4).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# opsrun against the running simulator as its base user, in a clean environment
opsrun_sim() {
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" "$@"
}
counter() {
  curl -s "$SIM_COUNTERS" | jq -r "$1"
}
# The playbook the checks share: the account whose credentials the simulator saw, via boto3.
caller_account='local r = mcp.call("aws___run_script", {code = "result = await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\")\nreturn result"})
return r.structured.return_value.Account'

for mode in json sse; do
  flags=()
  [ $mode = sse ] && flags=(--sse)
  sim_start --accounts 3 "${flags[@]}" || exit 1
  first=$(sim_get '.accounts[0]')

  opsrun_sim "$OPSRUN" -e 'local t = mcp.tools() local names = {} for i, x in ipairs(t) do names[i] = x.name end
table.sort(names) print(#t, table.concat(names, " "), type(t[1].input_schema))'
  expect "[$mode] mcp.tools lists all 8 tools across the pages" \
    '[ "$out" = "8	aws___get_presigned_url aws___get_regional_availability aws___get_tasks aws___list_regions aws___read_documentation aws___retrieve_skill aws___run_script aws___search_documentation	table" ]'

  opsrun_sim "$OPSRUN" -e "assume('$first') print((function() $caller_account end)())"
  expect "[$mode] aws___run_script as an assumed role answers for that role's account" \
    '[ $status -eq 0 ] && [ "$out" = "$first" ]'

  opsrun_sim "$OPSRUN" -e "print((function() $caller_account end)())"
  expect "[$mode] without assume, calls run as the base identity" '[ "$out" = 111111111111 ]'

  opsrun_sim "$OPSRUN" -e 'local r = mcp.call("aws___list_regions", {}, {region = "eu-west-1"})
print(type(r.content), r.content[1].type, r.structured == nil, #r.text > 0)'
  expect "[$mode] results are {content, structured, text}" '[ "$out" = "table	text	true	true" ]'

  opsrun_sim "$OPSRUN" -e 'mcp.call("aws___run_script", {code = "this is not python"})'
  expect "[$mode] a script the server cannot run raises a tool error" \
    '[ $status -eq 1 ] && [[ "$err" == "opsrun: aws___run_script (mcp): "* ]]'

  opsrun_sim "$OPSRUN" -e 'local ok, e = pcall(mcp.call, "no_such_tool", {}) print(e.kind, e.code, e.phase)'
  expect "[$mode] an unknown tool is a JSON-RPC error object" '[ "$out" = "rpc	-32602	mcp" ]'

  opened=$(counter .sessions_opened) closed=$(counter .sessions_closed)
  expect "[$mode] every session opened is closed with DELETE when opsrun exits" \
    '[ "$opened" -gt 0 ] && [ "$opened" = "$closed" ]'
  sim_stop
done

sim_start --accounts 2 --session-expiry 2 || exit 1
opsrun_sim "$OPSRUN" -e "local n = 0 for i = 1, 6 do n = n + #mcp.call('aws___list_regions', {}).content end print(n)"
expect "a session the server expired is opened again without the playbook noticing" \
  '[ $status -eq 0 ] && [ "$out" = 6 ] && [ "$(counter .sessions_expired)" -ge 2 ]'
sim_stop

sim_start --accounts 2 || exit 1
opsrun_sim "$OPSRUN" tools
expect "opsrun tools prints each tool's name and first line" \
  '[ $status -eq 0 ] && [ $(lines "$out") -eq 8 ] && [[ "$out" == *"aws___run_script "* ]]'

opsrun_sim "$OPSRUN" call aws___get_regional_availability region=eu-west-1 resource_type=api
expect "opsrun call TOOL key=value prints the result" '[ $status -eq 0 ] && [ -n "$out" ]'

opsrun_sim "$OPSRUN" --account "$(sim_get '.accounts[1]')" call aws___run_script \
  '{"code": "return await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\")"}'
expect "opsrun --account ID call acts as the role in that account" \
  '[ $status -eq 0 ] && [ "$(jq -r .return_value.Account <<<"$out")" = "$(sim_get ".accounts[1]")" ]'

opsrun_sim env OPSRUN_MCP_SIGNING_REGION=eu-west-1 "$OPSRUN" -e 'mcp.tools()'
expect "a wrong signing region is a clear credential error" \
  '[ $status -eq 1 ] && [[ "$err" == *"InvalidSignatureException (mcp): "*"refused the request (HTTP 403): Credential should be scoped to a valid region"* ]]'

opsrun_sim env AWS_SECRET_ACCESS_KEY=wrong "$OPSRUN" -e 'mcp.tools()'
expect "a bad signature is a clear credential error" \
  '[ $status -eq 1 ] && [[ "$err" == *"(HTTP 403): The request signature we calculated does not match"* ]]'

finish

#!/usr/bin/env bash
# mcp_test.sh: mcp.call, mcp.tools, `opsrun tools` and `opsrun call` against the simulated AWS
# MCP Server: tools across pages, answers as the assumed role's account, JSON and event-stream
# replies, sessions that expire, closed at exit, and credential errors in AWS's words (SPEC 1, 4).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# The playbook the checks share: the account whose credentials the simulator saw, via boto3.
caller_account='local r = mcp.call("aws___run_script", {code = "result = await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\")\nresult"})
return r.structured.return_value.Account'

for mode in json sse; do
  flags=()
  [ $mode = sse ] && flags=(--sse)
  sim_start --accounts 3 "${flags[@]}" || exit 1
  first=$(sim_get '.accounts[0]')

  sim_run opsrun -e 'local t = mcp.tools() local names = {} for i, x in ipairs(t) do names[i] = x.name end
table.sort(names) print(#t, table.concat(names, " "), type(t[1].input_schema))'
  expect "[$mode] mcp.tools lists all 8 tools across the pages" \
    '[ "$out" = "8	aws___get_presigned_url aws___get_regional_availability aws___get_tasks aws___list_regions aws___read_documentation aws___retrieve_skill aws___run_script aws___search_documentation	table" ]'

  sim_run opsrun -e "assume('$first') print((function() $caller_account end)())"
  expect "[$mode] aws___run_script as an assumed role answers for that role's account" \
    '[ $status -eq 0 ] && [ "$out" = "$first" ]'

  sim_run opsrun -e "print((function() $caller_account end)())"
  expect "[$mode] without assume, calls run as the base identity" '[ "$out" = 111111111111 ]'

  sim_run opsrun -e 'local r = mcp.call("aws___list_regions", {}, {region = "eu-west-1"})
print(type(r.content), r.content[1].type, r.structured == nil, #r.text > 0)'
  expect "[$mode] results are {content, structured, text}" '[ "$out" = "table	text	true	true" ]'

  sim_run opsrun -e 'mcp.call("aws___run_script", {code = "this is not python"})'
  expect "[$mode] a script the server cannot run raises a tool error" \
    '[ $status -eq 1 ] && [[ "$err" == "opsrun: aws___run_script (mcp): "* ]]'

  sim_run opsrun -e 'mcp.call("aws___run_script", {code = "result = 1\nreturn result"})'
  expect "[$mode] a script ending in a module-level return fails as CPython fails it" \
    '[ $status -eq 1 ] && [[ "$err" == *"SyntaxError: '"'"'return'"'"' outside function (<script>, line 2)"* ]]'

  sim_run opsrun -e 'print(mcp.boto3("sts", "GetCallerIdentity").Account)'
  expect "[$mode] mcp.boto3 ends its script in the bare expression the sandbox returns" \
    '[ $status -eq 0 ] && [ "$out" = 111111111111 ]'

  sim_run opsrun -e 'local ok, e = pcall(mcp.call, "no_such_tool", {}) print(e.kind, e.code, e.phase)'
  expect "[$mode] an unknown tool is a JSON-RPC error object" '[ "$out" = "rpc	-32602	mcp" ]'

  opened=$(sim_counter .sessions_opened) closed=$(sim_counter .sessions_closed)
  expect "[$mode] every session opened is closed with DELETE when opsrun exits" \
    '[ "$opened" -gt 0 ] && [ "$opened" = "$closed" ]'
  sim_stop
done

sim_start --accounts 2 --session-expiry 2 || exit 1
sim_run opsrun -e "local n = 0 for i = 1, 6 do n = n + #mcp.call('aws___list_regions', {}).content end print(n)"
expect "a session the server expired is opened again without the playbook noticing" \
  '[ $status -eq 0 ] && [ "$out" = 6 ] && [ "$(sim_counter .sessions_expired)" -ge 2 ]'
sim_stop

# A call whose handshake outlives its credentials: the server refuses them as expired before it
# runs anything, and the call is sent once more with renewed ones (timings: 10 s credentials,
# fresh for 5 s; 2.1 s per MCP answer, given after the server's checks).
sim_start --accounts 1 --credential-lifetime 10 --mcp-latency-ms 2100 || exit 1
first=$(sim_get '.accounts[0]')
sim_run opsrun -e "assume('$first') sleep(4.2) print(#mcp.call('aws___list_regions', {}).content)"
expect "a call refused for expired credentials is sent again with renewed ones" \
  '[ $status -eq 0 ] && [ "$out" = 1 ] && [ "$(sim_counter .assume_role[\"$first\"])" = 2 ] && [ "$(sim_counter .signature_failures.by_reason.expired_token)" -ge 1 ]'
sim_stop

sim_start --accounts 2 || exit 1
sim_run opsrun tools
expect "opsrun tools prints each tool's name and first line" \
  '[ $status -eq 0 ] && [ $(lines "$out") -eq 8 ] && [[ "$out" == *"aws___run_script "* ]]'

sim_run opsrun call aws___get_regional_availability region=eu-west-1 resource_type=api
expect "opsrun call TOOL key=value prints the result" '[ $status -eq 0 ] && [ -n "$out" ]'

sim_run opsrun --account "$(sim_get '.accounts[1]')" call aws___run_script \
  '{"code": "await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\")"}'
expect "opsrun --account ID call acts as the role in that account" \
  '[ $status -eq 0 ] && [ "$(jq -r .return_value.Account <<<"$out")" = "$(sim_get ".accounts[1]")" ]'

sim_run env OPSRUN_MCP_SIGNING_REGION=eu-west-1 "$OPSRUN" -e 'mcp.tools()'
expect "a wrong signing region is a clear credential error" \
  '[ $status -eq 1 ] && [[ "$err" == *"InvalidSignatureException (mcp): "*"refused the request (HTTP 403): Credential should be scoped to a valid region"* ]]'

sim_run env AWS_SECRET_ACCESS_KEY=wrong "$OPSRUN" -e 'mcp.tools()'
expect "a bad signature is a clear credential error" \
  '[ $status -eq 1 ] && [[ "$err" == *"(HTTP 403): The request signature we calculated does not match"* ]]'

finish

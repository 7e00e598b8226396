#!/usr/bin/env bash
# contract_test.sh: small breaks of the command-line contract a new user met (issue 15 item 8),
# and the signing-region trap (item 10), each against the real binary and the simulator: `call`
# and a script envelope with status "error", `-o json call`, commands that need no registry,
# `doctor role`, the exit statuses in --help, -vvv's wire lines with no secret in them, and a
# custom MCP URL signed for the operating region.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

sim_start --accounts 3 || exit 1
account=$(sim_get '.accounts[0]')

# --- call ------------------------------------------------------------------------------------

sim_run opsrun call aws___run_script 'code=raise ValueError("no such thing")'
expect "call: a script whose envelope says status \"error\" exits 1, its error on stderr in its words" \
  '[ $status -eq 1 ] && [ -z "$out" ] && [[ "$err" == *"aws___run_script (mcp): ValueError: no such thing"* ]] &&
   [[ "$err" != *"\"status\""* ]]'

sim_run opsrun call aws___run_script 'code=6 * 7'
expect "call: a script that succeeds exits 0 and prints its envelope" \
  '[ $status -eq 0 ] && [ "$(jq -r ".status, .return_value" <<<"$out" | tr "\n" " ")" = "success 42 " ]'

sim_run opsrun -o json call aws___list_regions
expect "-o json call prints the structured result as JSON, not the content array" \
  '[ $status -eq 0 ] && [ "$(jq -r "type" <<<"$out")" = object ] &&
   [ "$(jq -r "[.regions[].region_id] | index(\"eu-west-1\") != null" <<<"$out")" = true ]'

sim_run opsrun -o jsonl call aws___run_script '{"code": "[1, \"a/b\"]"}'
expect "-o jsonl call prints the envelope as one JSON line" \
  '[ $status -eq 0 ] && [ $(lines "$out") -eq 1 ] && [ "$(jq -c .return_value <<<"$out")" = "[1,\"a/b\"]" ]'

# --- the registry: validated up front for scripts, loaded when used by commands ----------------

sim_run env OPSRUN_REGISTRY=/nope.json "$OPSRUN" tools
expect "tools needs no registry: a missing OPSRUN_REGISTRY does not stop it" \
  '[ $status -eq 0 ] && [[ "$out" == *"aws___run_script "* ]] && [ -z "$err" ]'
sim_run env OPSRUN_REGISTRY=/nope.json "$OPSRUN" call aws___run_script '{"code": "1"}'
expect "... nor call" '[ $status -eq 0 ] && [ "$(jq -r .return_value <<<"$out")" = 1 ]'
sim_run env OPSRUN_REGISTRY=/nope.json "$OPSRUN" -e 'print("ran")'
expect "a script with a missing registry still exits 2 before it runs" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [[ "$err" == *"/nope.json: cannot read"* ]]'
sim_run env OPSRUN_REGISTRY=/nope.json "$OPSRUN" --account "$account" tools
expect "tools --account ID, which reads the account's registry entry, exits 2 on it" \
  '[ $status -eq 2 ] && [[ "$err" == *"/nope.json: cannot read"* ]]'

# --- doctor role -------------------------------------------------------------------------------

sim_run opsrun --account "$account" doctor role
expect "doctor role runs only the role check its line is named after" \
  '[ $status -eq 0 ] && [ $(lines "$out") -eq 1 ] && [[ "$out" == "✓ role "*"assumed-role/"* ]]'
sim_run opsrun --account "$account" doctor credentials
expect "doctor credentials with --account runs only the credentials check" \
  '[ $status -eq 0 ] && [ $(lines "$out") -eq 1 ] && [[ "$out" == "✓ credentials "* ]]'
sim_run opsrun doctor role
expect "doctor role without --account is a usage error saying what it needs" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [[ "$err" == *"doctor role checks the role in the account given with --account ID"* ]]'
sim_run opsrun --account 20000000000 tools
expect "--account that is not 12 digits is a usage error naming it, before anything is sent" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [[ "$err" == "opsrun: --account must be an account id of 12 digits, got '"'"'20000000000'"'"'"* ]]'

# --- --help --------------------------------------------------------------------------------------

run opsrun --help
expect "--help's exit statuses include the signals, as 128+signal" \
  '[ $status -eq 0 ] && [[ "$out" == *"128+signal"* ]] && [[ "$out" == *"130"* ]] &&
   [[ "$out" == *"143"* ]] && [[ "$out" == *"129"* ]]'
expect "--help says --shard numbers the workload accounts" '[[ "$out" == *"central not counted"* ]]'

# --- -vvv: the wire level ---------------------------------------------------------------------
# secrets_test.sh scans -vvv's output, wire lines included, for every secret that crossed the wire

sim_run opsrun -vvv --account "$account" call aws___run_script '{"code": "1"}'
expect "-vvv logs each request: method, URL, its headers with the signature and token redacted" \
  '[ $status -eq 0 ] && grep -qE "TRACE http > POST $SIM_MCP \([0-9]+ bytes\), headers: .*X-Amz-Security-Token: <redacted>; Authorization: AWS4-HMAC-SHA256 Credential=ASIA…/[0-9]{8}/us-east-1/aws-mcp/aws4_request, SignedHeaders=[a-z;-]+, Signature=<redacted>" <<<"$err"'
expect "... and each answer: status, method, URL, time, size and headers" \
  'grep -qE "TRACE http < 200 POST $SIM_MCP in [0-9]+ ms \([0-9]+ bytes\), headers: .*mcp-session-id: " <<<"$err" &&
   grep -qE "TRACE http < 200 POST $SIM_STS/? in [0-9]+ ms" <<<"$err" && grep -qE "TRACE http < 200 DELETE $SIM_MCP in " <<<"$err"'
expect "... and no signature, secret key or session token in the clear" \
  '! grep -qE "Signature=[0-9a-f]{64}|X-Amz-Security-Token: [^<]" <<<"$err" && ! grep -qF "$SIM_SECRET_ACCESS_KEY" <<<"$err"'
sim_run opsrun -vv --account "$account" call aws___run_script '{"code": "1"}'
expect "-vv has no wire lines" '[ $status -eq 0 ] && [[ "$err" == *DEBUG* ]] && ! grep -q "http [<>]" <<<"$err"'

# --- the signing-region trap (item 10) --------------------------------------------------------

sim_run opsrun --region eu-west-1 tools
expect "a custom MCP URL signed for --region: the server's refusal names OPSRUN_MCP_SIGNING_REGION" \
  '[ $status -eq 1 ] && [[ "$err" == *"(HTTP 403): Credential should be scoped to a valid region, not '"'"'eu-west-1'"'"'"* ]] &&
   [[ "$err" == *"set OPSRUN_MCP_SIGNING_REGION to the region of the MCP endpoint (it was signed for eu-west-1, the operating region"* ]]'
sim_run env OPSRUN_MCP_SIGNING_REGION=eu-west-1 "$OPSRUN" tools
expect "... and names it as the source when it set the wrong region" \
  '[ $status -eq 1 ] && [[ "$err" == *"(it was signed for eu-west-1, from OPSRUN_MCP_SIGNING_REGION)"* ]]'
sim_run env OPSRUN_MCP_SIGNING_REGION="$(sim_get .region)" "$OPSRUN" --region eu-west-1 tools
expect "... and following the advice works" '[ $status -eq 0 ] && [[ "$out" == *"aws___run_script "* ]]'
sim_run opsrun --region eu-west-1 doctor mcp
expect "doctor's mcp line carries that advice alone, not 'fix the credentials first'" \
  '[ $status -eq 1 ] && [[ "$out" == "✗ mcp "*"(it was signed for eu-west-1, the operating region: --region, AWS_REGION)" ]]'
sim_run opsrun --region eu-west-1 -e 'print(whoami().account)'
expect "STS, which takes any region's signature here, is not given the advice" \
  '[ $status -eq 0 ] && [ "$out" = 111111111111 ]'

finish

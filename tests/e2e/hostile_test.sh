#!/usr/bin/env bash
# hostile_test.sh: issue 14's mislabelled failures and server text, on the real binary against a
# loopback STS and MCP server whose answers are well formed but hostile (hostile_server.py):
# each failure is an error object of the kind it is, with a message that says what happened, and
# nothing the server sends reaches the next request or the terminal unchecked.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$E2E_TMP"' EXIT

python3 "$here/hostile_server.py" --log "$E2E_TMP/server.log" --lifetime 240 >"$E2E_TMP/port" &
server_pid=$!
for _ in $(seq 100); do
  [ -s "$E2E_TMP/port" ] && break
  sleep 0.05
done
PORT=$(head -n1 "$E2E_TMP/port")
touch "$E2E_TMP/server.log"

# hostile ARGS...: opsrun in a clean environment with made-up base credentials (and
# $HOSTILE_ENV, one more NAME=VALUE), as `run`.
hostile() {
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=AKIDHOSTILETEST AWS_SECRET_ACCESS_KEY=hostileTestSecret \
    AWS_ENDPOINT_URL_STS="http://127.0.0.1:$PORT/sts-expired" ${HOSTILE_ENV:+"$HOSTILE_ENV"} \
    "$OPSRUN" "$@"
}

# mcp_call MODE [OPTIONS...]: mcp.call against /mcp/MODE, printing ok, then the text or the
# error's kind and tostring.
mcp_call() {
  local mode=$1
  shift
  hostile --mcp-url "http://127.0.0.1:$PORT/mcp/$mode" "$@" -e '
local ok, r = pcall(mcp.call, "x", {})
if ok then print(true, r.text) else print(false, type(r) == "table" and r.kind or type(r), tostring(r)) end'
}

# --- a server request on an event stream is answered --------------------------------------
# Unpaced, the answer to the ping was started inside libcurl's write callback, which refuses it
# (CURLM_RECURSIVE_API_CALL), and the refusal was logged as "out of memory starting POST".
mcp_call ping --mcp-rate 0 -vv
expect "a ping the server sends on the reply's event stream is answered" \
  '[ "$out" = "true	ping answered" ] && grep -q "POST /mcp/ping ping answered" "$E2E_TMP/server.log"'
expect "... and nothing is called out of memory" '[[ "$err" != *"out of memory"* ]]'

# --- event ids that cannot go back to the server -----------------------------------------------
# A 1 MiB id went back as a 1 MiB Last-Event-ID header, which libcurl refused as "Out of memory".
mcp_call long-id
expect "an event id past the cap is ignored: the stream resumes from the last id that fit" \
  '[ "$out" = "true	resumed after first-1" ] && grep -q "GET /mcp/long-id Last-Event-ID '"'"'first-1'"'"' length 7" "$E2E_TMP/server.log"'

# Control bytes in an id went back to the server in Last-Event-ID.
mcp_call control-id
expect "an event id with control bytes is ignored: the stream resumes from the last visible ASCII id" \
  '[ "$out" = "true	resumed after first-1" ] && grep -q "GET /mcp/control-id Last-Event-ID '"'"'first-1'"'"' length 7" "$E2E_TMP/server.log"'

# --- replies opsrun cannot hand to Lua -------------------------------------------------------------
# jansson reads JSON 2048 levels deep, lua-cjson 1000: the decoder's error escaped as a bare string.
mcp_call deep
expect "a result nested deeper than lua-cjson decodes is an rpc error object saying so" \
  '[[ "$out" == "false	rpc	rpc (mcp): tools/call: the server'"'"'s reply cannot be decoded (Found too many nested data structures (1001) at character "*")" ]]'

# --- a reply to another request ---------------------------------------------------------------
# The server answers with the request's id plus 1000; which id tools/call gets depends on the
# requests before it (server/discover, initialize), so the check reads it from the message.
mcp_call other-id
expect "a JSON reply naming another request's id is not taken for the answer" \
  '[[ "$out" =~ ^"false	rpc	rpc (mcp): tools/call: the server'"'"'s reply answers another request (id "([0-9]+)"), not this one (id "([0-9]+)")"$ ]] &&
   (( BASH_REMATCH[1] == BASH_REMATCH[2] + 1000 ))'

# --- server text on the terminal ---------------------------------------------------------------
# Newlines, a JSON log line and escape sequences in an error message forged log lines and drove
# the terminal, even with --log-format json (the uncaught error was printed as it was); a
# message that was not UTF-8 replaced a JSON line with "log line not encodable".
log_and_raise='local ok, e = pcall(mcp.call, "x", {}) log.error("%s", tostring(e)) mcp.call("x", {})'
for mode in forge bad-utf8; do
  hostile --log-format json --mcp-url "http://127.0.0.1:$PORT/mcp/$mode" -e "$log_and_raise"
  expect "--log-format json: the logged and the uncaught error of server text ($mode) are one JSON object each" \
    '[ $status -eq 1 ] && [ "$(lines "$err")" -eq 2 ] && jq -e ".level == \"error\"" <<<"$err" >/dev/null'
  expect "... keeping the server's words, escaped" \
    '[ "$(jq -c "select(.message | test(\"forged\"))" <<<"$err" | grep -c "")" -eq 2 ] && [[ "$err" != *"not encodable"* ]]'
  hostile --mcp-url "http://127.0.0.1:$PORT/mcp/$mode" -e "$log_and_raise"
  expect "text: no line of server text ($mode) starts a log line, and no control byte reaches the terminal" \
    '[ $status -eq 1 ] && ! grep -qE "^(2099|\{|forged)" <<<"$err" && ! LC_ALL=C grep -q "[[:cntrl:]]" <(tr -d "\n\t" <<<"$err")'
done
expect "... where it shows escaped" '[[ "$err" == *"bad \xff\xfe bytes\nforged line"* ]]'

# --- credentials that expired before they arrived --------------------------------------------
# They left the source without an error: the task failed with kind "ok" and "(no message)".
hostile -e '
local accounts = { "222222222222", "333333333333", "444444444444", "555555555555" }
for _, r in ipairs(sweep(accounts, function(id) assume(id) end)) do
  print(r.error.kind, r.error.account, r.error.retryable, r.error.message)
end'
expect "STS answering with expired credentials fails each account as a credentials error" \
  '[ $status -eq 3 ] && [[ "$err" == *"0 ok, 4 failed (4 credentials)"* ]] && [ "$(grep -c "^credentials	[2-5]\{12\}	false	" <<<"$out")" -eq 4 ]'
expect "... naming the role, the account and when the credentials expired" \
  '[[ "$out" == *"	STS AssumeRole of arn:aws:iam::333333333333:role/CentralOpsTargetRole in account 333333333333 returned credentials that expired at 20"*"Z, before they arrived (this machine'"'"'s clock says 20"* ]]'

hostile -e 'print(whoami().account)'
expect "(control) base credentials without an expiry are used" '[ "$out" = 111111111111 ]'
HOSTILE_ENV=AWS_CREDENTIAL_EXPIRATION=2020-01-01T00:00:00Z hostile -e \
  'local ok, e = pcall(whoami) print(ok, e.kind, e.message)'
expect "expired base credentials are a credentials error saying where they came from and when they expired" \
  '[[ "$out" == "false	credentials	the base credentials (environment) expired at 2020-01-01T00:00:00Z (this machine"*"): renew them" ]]'

finish

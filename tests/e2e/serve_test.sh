#!/usr/bin/env bash
# serve_test.sh: `opsrun serve` against the simulator, driven as an agent would: hand-written
# JSON-RPC lines on stdin (stdio) and curl over Streamable HTTP. Version negotiation, tools/list
# from the declarations, a call's rows and each account's outcome (examples/playbooks), bad
# input answered without stopping the server, @readonly and --read-only, the HTTP transport's
# statuses (session, method, path, Origin, token, size), configuration errors (exit 2), stdin EOF
# (exit 0), SIGTERM (exit 143), and no secret in the logs (issue 19, notes/serve-contract.md).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
server_pids=()
cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  sim_stop
  rm -rf "$E2E_TMP"
}
trap cleanup EXIT

if ! command -v curl >/dev/null || ! command -v jq >/dev/null; then
  echo "skip - curl and jq are needed"
  finish
  exit
fi

sim_start --accounts 3 --deny-accounts 1 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
denied=$(sim_get '.denied[0]')
inventory="${SIM_COUNTERS%/counters}/inventory"

# The playbooks served: the examples, and some made for these checks.
books=$E2E_TMP/books
mkdir -p "$books"
cp "$root"/examples/playbooks/*.lua "$books/"
cat >"$books/echo.lua" <<'LUA'
-- @tool echo
-- @description Emits its arguments as one row,
--   and prints a line to the log.
-- @param count integer  How many.
-- @param ratio number=0.5  A ratio.
-- @param flag boolean?  A flag.
-- @param names string[]?  Some names.
-- @param mode fast|slow=fast  A mode.
local args = ...
print("echo was called")
io.write("echo wrote this\n")
emit{ count = args.count, ratio = args.ratio, flag = args.flag, mode = args.mode,
      names = table.concat(args.names or {}, ","), same = args == arg }
LUA
cat >"$books/fails.lua" <<'LUA'
-- @tool fails
-- @description Raises an error.
error("boom: the playbook gave up")
LUA
cat >"$books/terminate.lua" <<'LUA'
-- @tool terminate
-- @description Tries to terminate an instance in every workload account.
-- @readonly
sweep(accounts(), function()
  mcp.boto3("ec2", "TerminateInstances", { InstanceIds = { "i-0123456789abcdef0" } })
end)
LUA
cat >"$books/stop.lua" <<'LUA'
-- @tool stop
-- @description Tries to stop an instance in every workload account (not declared read-only).
sweep(accounts(), function()
  mcp.boto3("ec2", "StopInstances", { InstanceIds = { "i-0123456789abcdef0" } })
end)
LUA
printf -- '-- a helper, not a tool\nreturn {}\n' >"$books/helper.lua"

# opsrun as the simulator's base user, over its registry (sim_run's environment).
opsrun_sim=(env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY"
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP"
  "$OPSRUN" -r "$E2E_TMP/registry.json" --timeout 10)

# wait_replies FILE ID...: until FILE holds a JSON-RPC response for each ID (at most 20 s).
wait_replies() {
  local file=$1 deadline=$((SECONDS + 20)) id
  shift
  for id in "$@"; do
    until [ -f "$file" ] && jq -enR --argjson id "$id" \
      'any(inputs | fromjson? | select(type == "object"); .id == $id and .method == null)' \
      "$file" >/dev/null 2>&1; do
      [ $SECONDS -ge $deadline ] && return 1
      sleep 0.05
    done
  done
}

# stdio "ID..." INPUT_FILE [OPTIONS...]: `opsrun OPTIONS serve $books` with INPUT_FILE's lines on
# stdin, which stays open until the responses to the IDs (space-separated) came, then closes.
# Sets $status, $out, $err as `run` does; every stderr is kept in all_stderr.
stdio() {
  local ids=$1 input=$2
  shift 2
  rm -f "$E2E_TMP/out"
  # shellcheck disable=SC2086,SC2094 # the IDs are words; the waiter reads what opsrun writes
  { cat "$input"; wait_replies "$E2E_TMP/out" $ids; } |
    timeout 30 "${opsrun_sim[@]}" "$@" serve "$books" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
  status=$?
  out=$(cat "$E2E_TMP/out")
  err=$(cat "$E2E_TMP/err")
  cat "$E2E_TMP/err" >>"$E2E_TMP/all_stderr"
}
# reply ID: the response to request ID in $out (one line of JSON).
reply() {
  jq -cR --argjson id "$1" 'fromjson? | select(.id == $id and .method == null)' <<<"$out"
}

# A JSON-RPC request line: request ID METHOD [PARAMS]
request() {
  printf '{"jsonrpc":"2.0","id":%s,"method":"%s"%s}\n' "$1" "$2" "${3:+,\"params\":$3}"
}
call() { # call ID TOOL ARGUMENTS
  request "$1" tools/call "{\"name\":\"$2\",\"arguments\":$3}"
}
initialize() { # initialize ID VERSION
  request "$1" initialize "{\"protocolVersion\":\"$2\",\"capabilities\":{},\"clientInfo\":{\"name\":\"serve_test\",\"version\":\"1\"}}"
}

# What the simulator holds in us-east-1 and eu-west-1 for the accounts that answer:
# "account region instance state" lines, sorted.
expected_instances() {
  for account in $(sim_get '.accounts[]'); do
    [ "$account" = "$denied" ] && continue
    for region in us-east-1 eu-west-1; do
      curl -s "$inventory?account=$account&region=$region" |
        jq -r --arg a "$account" --arg r "$region" \
          '.ec2.Reservations[].Instances[] | [$a, $r, .InstanceId, .State.Name] | join(" ")'
    done
  done | sort
}
all_instances=$(expected_instances)

# --- stdio: the handshake, the listing, the examples ------------------------------------------

{
  initialize 1 2025-11-25
  printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  request 2 tools/list
  call 3 inventory '{"state":"all"}'
  call 4 inventory '{}'
  call 5 untagged_instances '{}'
  call 6 echo '{"count":3.0,"names":["a","b"]}'
  initialize 7 1999-01-01
  initialize 8 2025-06-18
} >"$E2E_TMP/session.jsonl"
stdio "1 2 3 4 5 6 7 8" "$E2E_TMP/session.jsonl" -v

expect "initialize echoes 2025-11-25 and names the server and its tools capability" \
  '[ "$(reply 1 | jq -c "[.result.protocolVersion, .result.serverInfo.name, (.result.capabilities.tools != null)]")" = "[\"2025-11-25\",\"opsrun\",true]" ]'
expect "an unknown protocolVersion is answered with 2025-11-25; a supported older one is echoed" \
  '[ "$(reply 7 | jq -r .result.protocolVersion)" = 2025-11-25 ] && [ "$(reply 8 | jq -r .result.protocolVersion)" = 2025-06-18 ]'
expect "the notification gets no reply and stdout holds only JSON-RPC messages (print goes to stderr)" \
  '[ $(lines "$out") -eq 8 ] && jq -e . <<<"$out" >/dev/null && [[ "$err" == *"echo was called"* ]] && [[ "$err" == *"echo wrote this"* ]]'

tools=$(reply 2 | jq -c .result.tools)
expect "tools/list: every file that declares a tool, in file name order; the helper is skipped with a warning" \
  '[ "$(jq -c "[.[].name]" <<<"$tools")" = "[\"echo\",\"fails\",\"inventory\",\"stop\",\"terminate\",\"untagged_instances\"]" ] && [[ "$err" == *"helper.lua declares no tool"* ]]'
expect "inventory's inputSchema: state an enum defaulting to running, regions a string array, nothing else" \
  '[ "$(jq -c ".[] | select(.name == \"inventory\") | .inputSchema | [.type, .additionalProperties, .properties.state.enum, .properties.state.default, .properties.regions.type, .properties.regions.items.type, (.required // [])]" <<<"$tools")" = "[\"object\",false,[\"running\",\"stopped\",\"all\"],\"running\",\"array\",\"string\",[]]" ]'
expect "inventory is read-only (@readonly), open-world, and has an outputSchema naming its @columns" \
  '[ "$(jq -c ".[] | select(.name == \"inventory\") | [.annotations.readOnlyHint, .annotations.openWorldHint, (.outputSchema.properties.rows.items.properties | keys)]" <<<"$tools")" = "[true,true,[\"account\",\"instance\",\"name\",\"region\",\"state\",\"type\"]]" ]'
expect "echo's schema: count required, integer/number/boolean/array types, a continued description" \
  '[ "$(jq -cS ".[] | select(.name == \"echo\") | [.description, .inputSchema.required, (.inputSchema.properties | map_values(.type)), .inputSchema.properties.ratio.default, .annotations.readOnlyHint, .outputSchema]" <<<"$tools")" = "[\"Emits its arguments as one row, and prints a line to the log.\",[\"count\"],{\"count\":\"integer\",\"flag\":\"boolean\",\"mode\":\"string\",\"names\":\"array\",\"ratio\":\"number\"},0.5,false,null]" ]'

got=$(reply 3 | jq -r '.result.structuredContent.rows[] | [.account, .region, .instance, .state] | join(" ")' | sort)
expect "inventory state=all: the rows are the simulator's instances in both regions" \
  '[ -n "$all_instances" ] && [ "$got" = "$all_instances" ]'
expect "... each account's outcome: the denied one refused in both regions, the others ok" \
  '[ "$(reply 3 | jq -c "[.result.structuredContent.accounts[] | select(.ok | not) | [.account, .kind]] | unique")" = "[[\"$denied\",\"denied\"]]" ] && [ "$(reply 3 | jq "[.result.structuredContent.accounts[] | select(.ok)] | length")" = 4 ] && [ "$(reply 3 | jq .result.isError)" != true ]'
expect "... and the text is a table of the rows and says how many tasks failed, naming the account" \
  'text=$(reply 3 | jq -r ".result.content[0].text"); [[ "$text" == account*name*region*instance*type*state* ]] && [[ "$text" == *"6 tasks: 4 ok, 2 failed"* ]] && [[ "$text" == *"$denied in us-east-1: denied: AccessDenied"* ]]'
expect "inventory's default state is running" \
  '[ "$(reply 4 | jq -r ".result.structuredContent.rows[] | [.account, .region, .instance, .state] | join(\" \")" | sort)" = "$(grep " running$" <<<"$all_instances")" ]'
want_untagged=$(for a in $(sim_get '.accounts[]'); do [ "$a" = "$denied" ] && continue
  curl -s "$inventory?account=$a&region=us-east-1" | jq -r '.ec2.Reservations[].Instances[]
    | select(.State.Name == "running" and ([.Tags[]? | select(.Key == "Owner")] | length == 0)) | .InstanceId'; done | sort)
expect "untagged_instances (tag defaults to Owner) finds the running instances without one" \
  '[ "$(reply 5 | jq -r ".result.structuredContent.rows[].instance" | sort)" = "$want_untagged" ] && [ "$(reply 5 | jq -r "[.result.structuredContent.rows[].missing_tag] | unique | join(\" \")")" = Owner ]'
expect "the playbook gets its arguments as ... and arg, defaults filled, 3.0 made an integer" \
  '[ "$(reply 6 | jq -c ".result.structuredContent.rows")" = "[{\"count\":3,\"mode\":\"fast\",\"names\":\"a,b\",\"ratio\":0.5,\"same\":true}]" ]'
expect "-v logs each call's start and end; stdin EOF then exits 0 though accounts failed" \
  '[[ "$err" == *"serve: inventory called"* ]] && [[ "$err" == *"serve: inventory ended in"* ]] && [ $status -eq 0 ]'

# --- stdio: bad input, and the server goes on -------------------------------------------------

python3 - "$E2E_TMP/bad.jsonl" <<'PY'
import json, sys
def req(i, method, params=None):
    m = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m)
def call(i, name, arguments):
    return req(i, "tools/call", {"name": name, "arguments": arguments})
lines = [
    req(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "t", "version": "1"}}),
    call(2, "no_such_tool", {}),
    call(3, "echo", {}),                           # count missing
    call(4, "echo", {"count": 1, "colour": "red"}),  # unknown argument
    call(5, "echo", {"count": "three"}),           # wrong type
    call(6, "inventory", {"state": "paused"}),     # not in the enum
    call(7, "echo", {"count": 1, "names": ["a", 2]}),
    '{"jsonrpc":"2.0","id":8,"method":',          # malformed JSON
    req(9, "ping"),
    '[' + req(10, "ping") + ']',                   # a batch
    req(11, "ping"),
    req(12, "ping", {"pad": "x" * (5 * 1024 * 1024)}),  # over 4 MiB
    req(13, "ping"),
    call(14, "fails", {}),
    call(15, "echo", {"count": 2}),
    req(16, "no/such/method"),
]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
stdio "1 2 3 4 5 6 7 9 11 13 14 15 16" "$E2E_TMP/bad.jsonl"
expect "an unknown tool is JSON-RPC error -32602 naming it" \
  '[ "$(reply 2 | jq -c "[.error.code, .error.message]")" = "[-32602,\"Unknown tool: no_such_tool\"]" ]'
expect "a missing required argument is a tool error naming it" \
  '[ "$(reply 3 | jq .result.isError)" = true ] && [[ "$(reply 3 | jq -r ".result.content[0].text")" == "Invalid arguments for tool echo: count"* ]]'
expect "an unknown argument is a tool error naming it" \
  '[ "$(reply 4 | jq .result.isError)" = true ] && [[ "$(reply 4 | jq -r ".result.content[0].text")" == "Invalid arguments for tool echo: "*colour* ]]'
expect "a wrong-typed argument is a tool error naming it" \
  '[ "$(reply 5 | jq .result.isError)" = true ] && [[ "$(reply 5 | jq -r ".result.content[0].text")" == "Invalid arguments for tool echo: count"* ]]'
expect "a value not in the enum is a tool error naming the parameter and the choices" \
  '[ "$(reply 6 | jq .result.isError)" = true ] && [[ "$(reply 6 | jq -r ".result.content[0].text")" == "Invalid arguments for tool inventory: state"*running*paused* ]]'
expect "a wrong-typed array item is a tool error naming the parameter" \
  '[ "$(reply 7 | jq .result.isError)" = true ] && [[ "$(reply 7 | jq -r ".result.content[0].text")" == "Invalid arguments for tool echo: names"* ]]'
expect "malformed JSON is -32700 with a null id, and the next request is answered" \
  '[ "$(jq -cR "fromjson? | select(.error.code == -32700) | .id" <<<"$out")" = null ] && [ "$(reply 9 | jq -c .result)" = "{}" ]'
expect "a batch (a JSON array) is refused with -32600, and the next request is answered" \
  '[ "$(jq -cR "fromjson? | select(.error.code == -32600 and (.error.message | test(\"batch\"))) | .id" <<<"$out")" = null ] && [ "$(reply 11 | jq -c .result)" = "{}" ] && [ -z "$(reply 10)" ]'
expect "a line over 4 MiB gets an error reply, and the next request is answered" \
  '[ "$(jq -cR "fromjson? | select(.error.message // \"\" | test(\"limit\")) | [.id, .error.code]" <<<"$out")" = "[null,-32600]" ] && [ -z "$(reply 12)" ] && [ "$(reply 13 | jq -c .result)" = "{}" ]'
expect "a playbook that raises is a tool error naming its file and the message" \
  '[ "$(reply 14 | jq .result.isError)" = true ] && [[ "$(reply 14 | jq -r ".result.content[0].text")" == "the playbook $books/fails.lua failed: "*"boom: the playbook gave up"* ]]'
expect "... and the server goes on: a later call runs" \
  '[ "$(reply 15 | jq -c ".result.structuredContent.rows[0].count")" = 2 ]'
expect "an unknown method is -32601; stdin EOF exits 0" \
  '[ "$(reply 16 | jq .error.code)" = -32601 ] && [ $status -eq 0 ]'

# --- stdio: what one call does stays in that call ---------------------------------------------

cat >"$books/exits.lua" <<'LUA'
-- @tool exits
-- @description Calls os.exit.
os.exit(0)
LUA
cat >"$books/grows.lua" <<'LUA'
-- @tool grows
-- @description Adds to its array argument and emits its length.
-- @param names string[]=["a"]  Names.
local args = ...
table.insert(args.names, "x")
print("grows printed this")
emit{ n = #args.names }
LUA
{ initialize 1 2025-11-25; call 2 exits '{}'; request 3 ping; call 4 grows '{}'; call 5 grows '{}'; } \
  >"$E2E_TMP/own.jsonl"
stdio "1 2 3 4 5" "$E2E_TMP/own.jsonl"
rm "$books/exits.lua" "$books/grows.lua"
expect "a playbook's os.exit is a tool error, and the server goes on" \
  '[ "$(reply 2 | jq .result.isError)" = true ] && [[ "$(reply 2 | jq -r ".result.content[0].text")" == *"os.exit would stop the server"* ]] && [ "$(reply 3 | jq -c .result)" = "{}" ]'
expect "each call gets its own copy of an array default" \
  '[ "$(reply 4 | jq -c ".result.structuredContent.rows[0].n")" = 2 ] && [ "$(reply 5 | jq -c ".result.structuredContent.rows[0].n")" = 2 ]'
expect "a playbook's print goes to stderr at the default log level, not to stdout" \
  '[[ "$err" == *"grows printed this"* ]] && [[ "$out" != *"grows printed this"* ]]'

# --- stdio: @readonly and --read-only -------------------------------------------------------

{ initialize 1 2025-11-25; call 2 terminate '{}'; request 3 tools/list; } >"$E2E_TMP/ro.jsonl"
stdio "1 2 3" "$E2E_TMP/ro.jsonl"
expect "a @readonly tool's TerminateInstances is refused before it is sent: each account denied (ReadOnly)" \
  '[ "$(reply 2 | jq -c "[.result.structuredContent.accounts[] | [.ok, .kind, (.message | test(\"ReadOnly\") and test(\"TerminateInstances\"))]] | unique")" = "[[false,\"denied\",true]]" ] && [ "$(reply 2 | jq ".result.structuredContent.accounts | length")" = 3 ]'
{ initialize 1 2025-11-25; call 2 stop '{}'; request 3 tools/list; } >"$E2E_TMP/ro.jsonl"
stdio "1 2 3" "$E2E_TMP/ro.jsonl" --read-only
expect "--read-only refuses a tool's StopInstances: each account denied (ReadOnly, --read-only)" \
  '[ "$(reply 2 | jq -c "[.result.structuredContent.accounts[] | [.ok, .kind, (.message | test(\"ReadOnly\") and test(\"--read-only\"))]] | unique")" = "[[false,\"denied\",true]]" ]'
expect "--read-only marks every tool readOnlyHint" \
  '[ "$(reply 3 | jq -c "[.result.tools[].annotations.readOnlyHint] | unique")" = "[true]" ]'

# --- stdio: configuration errors -----------------------------------------------------------

mkdir -p "$E2E_TMP/badbooks"
printf -- '-- @tool bad\n-- @description A bad declaration.\n-- @param x strin  A typo.\nreturn 1\n' \
  >"$E2E_TMP/badbooks/bad.lua"
run timeout 10 "$OPSRUN" serve "$E2E_TMP/badbooks"
expect "a declaration with an unknown type: exit 2, one message naming file:line and the type" \
  '[ $status -eq 2 ] && [[ "$err" == *"$E2E_TMP/badbooks/bad.lua:3: "*"strin"* ]] && [ -z "$out" ]'
printf -- '-- @tool syntax\n-- @description A syntax error.\nlocal = 1\n' >"$E2E_TMP/badbooks/bad.lua"
run timeout 10 "$OPSRUN" serve "$E2E_TMP/badbooks"
expect "a playbook with a Lua syntax error: exit 2, naming the file" \
  '[ $status -eq 2 ] && [[ "$err" == *"bad.lua:3:"* ]]'
run timeout 10 "$OPSRUN" serve "$E2E_TMP/no-such-dir"
expect "a playbook directory that does not exist: exit 2, naming it" \
  '[ $status -eq 2 ] && [[ "$err" == *"$E2E_TMP/no-such-dir"* ]]'
run timeout 10 "$OPSRUN" serve --listen 0.0.0.0:0 "$books"
expect "a non-loopback --listen without --token-file: exit 2, saying to give one" \
  '[ $status -eq 2 ] && [[ "$err" == *"--token-file"* ]]'
printf 'short\n' >"$E2E_TMP/short-token"
run timeout 10 "$OPSRUN" serve --listen 127.0.0.1:0 --token-file "$E2E_TMP/short-token" "$books"
expect "a token under 16 characters: exit 2" '[ $status -eq 2 ] && [[ "$err" == *"16 characters"* ]]'

# --- Streamable HTTP ------------------------------------------------------------------------

# start_http [OPTIONS...]: `opsrun serve --listen 127.0.0.1:0 OPTIONS $books` in the background;
# sets $http_pid and $url from its first line on stderr.
start_http() {
  local log=$E2E_TMP/http_stderr_${#server_pids[@]}
  "${opsrun_sim[@]}" serve --listen 127.0.0.1:0 "$@" "$books" 2>"$log" </dev/null >/dev/null &
  http_pid=$!
  server_pids+=("$http_pid")
  http_log=$log
  local deadline=$((SECONDS + 10))
  url=
  until [ -n "$url" ] || [ $SECONDS -ge $deadline ]; do
    url=$(grep -om1 'http://127\.0\.0\.1:[0-9]*/mcp' "$log")
    [ -n "$url" ] || sleep 0.05
  done
}

# http METHOD [CURL ARGS...]: one request to $url; sets $code, $headers, $body (and $out, $err
# for expect's report).
http() {
  local method=$1
  shift
  code=$(curl -s -m 20 -X "$method" -D "$E2E_TMP/headers" -o "$E2E_TMP/body" -w '%{http_code}' "$@")
  headers=$(tr -d '\r' <"$E2E_TMP/headers")
  body=$(cat "$E2E_TMP/body")
  status=$code out=$body err=$headers
}
# post JSON [CURL ARGS...]: POSTs a JSON-RPC message as an MCP client does, in session $sid.
post() {
  local json=$1
  shift
  http POST "$url" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' ${sid:+-H "Mcp-Session-Id: $sid"} \
    --data-binary "$json" "$@"
}
header() { # header NAME: its value in $headers
  grep -i "^$1:" <<<"$headers" | head -1 | sed 's/^[^:]*: *//'
}

start_http
expect "--listen 127.0.0.1:0 picks a free port and names the endpoint on stderr" '[ -n "$url" ]'
sid=
post "$(initialize 1 2099-01-01)"
sid=$(header Mcp-Session-Id)
expect "HTTP initialize: 200 JSON, 2025-11-25 for an unknown version, an Mcp-Session-Id of visible ASCII" \
  '[ "$code" = 200 ] && [ "$(jq -r .result.protocolVersion <<<"$body")" = 2025-11-25 ] && [[ "$sid" =~ ^[!-~]{16,}$ ]]'
post '{"jsonrpc":"2.0","method":"notifications/initialized"}'
expect "a notification: 202 with no body" '[ "$code" = 202 ] && [ -z "$body" ]'
post "$(request 2 tools/list)" -H 'MCP-Protocol-Version: 2025-11-25'
expect "tools/list in the session lists the six tools" '[ "$code" = 200 ] && [ "$(jq ".result.tools | length" <<<"$body")" = 6 ]'
post "$(call 3 inventory '{"state":"all"}')" -H 'MCP-Protocol-Version: 2025-11-25'
expect "tools/call without a progress token: one JSON reply with the rows and outcomes" \
  '[ "$code" = 200 ] && [[ "$(header Content-Type)" == application/json* ]] && [ "$(jq -r ".result.structuredContent.rows[] | [.account, .region, .instance, .state] | join(\" \")" <<<"$body" | sort)" = "$all_instances" ] && [ "$(jq ".result.structuredContent.accounts | length" <<<"$body")" = 6 ]'
post "$(request 4 tools/call '{"name":"untagged_instances","arguments":{},"_meta":{"progressToken":"p1"}}')"
events=$(sed -n 's/^data: //p' <<<"$body")
expect "tools/call with a progress token: an event stream of growing progress, then the result" \
  '[ "$code" = 200 ] && [[ "$(header Content-Type)" == text/event-stream* ]] && [ "$(jq -c "select(.method == \"notifications/progress\") | .params.progressToken" <<<"$events" | sort -u)" = "\"p1\"" ] && [ "$(jq -s "[.[] | select(.method) | .params.progress] | . == (sort | unique) and length > 0" <<<"$events")" = true ] && [ "$(jq -s "last | [.id, (.result.structuredContent.accounts | length)] | tostring" <<<"$events")" = "\"[4,3]\"" ]'
post "$(request 5 ping)" -H 'MCP-Protocol-Version: 1999-01-01'
expect "an unsupported MCP-Protocol-Version header: 400" '[ "$code" = 400 ]'
post '{"jsonrpc":"2.0","id":6,'
expect "malformed JSON: 400 with JSON-RPC -32700" '[ "$code" = 400 ] && [ "$(jq .error.code <<<"$body")" = -32700 ]'
post "[$(request 7 ping)]"
expect "a batch is refused with JSON-RPC -32600" '[ "$(jq .error.code <<<"$body")" = -32600 ]'
head -c $((4 * 1024 * 1024 + 100)) /dev/zero | tr '\0' ' ' >"$E2E_TMP/huge.json"
post "@$E2E_TMP/huge.json"
expect "a body over 4 MiB: 413" '[ "$code" = 413 ]'
post "$(request 8 ping)"
expect "... and the server goes on" '[ "$code" = 200 ] && [ "$(jq -c .result <<<"$body")" = "{}" ]'
post "$(request 9 ping)" -H 'Origin: http://evil.example'
expect "an Origin from another site: 403" '[ "$code" = 403 ]'
post "$(request 10 ping)" -H 'Origin: http://localhost:6274'
expect "an Origin on loopback (a local inspector) is served" '[ "$code" = 200 ]'
saved=$sid sid=
post "$(request 11 ping)"
expect "a request without Mcp-Session-Id: 400" '[ "$code" = 400 ]'
sid=0123456789abcdef0123456789abcdef
post "$(request 12 ping)"
expect "an unknown session: 404" '[ "$code" = 404 ]'
sid=$saved
http GET "$url" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $sid"
expect "GET: 405 with Allow: POST, DELETE" '[ "$code" = 405 ] && [ "$(header Allow)" = "POST, DELETE" ]'
http POST "${url%/mcp}/other" -H 'Content-Type: application/json' -d "$(request 13 ping)"
expect "another path: 404" '[ "$code" = 404 ]'
http DELETE "$url" -H "Mcp-Session-Id: $sid"
expect "DELETE ends the session: 204" '[ "$code" = 204 ]'
post "$(request 14 ping)"
expect "... and the session is gone: 404" '[ "$code" = 404 ]'

kill -TERM "$http_pid"
wait "$http_pid"
status=$?
expect "SIGTERM stops the HTTP server with exit 143" '[ $status -eq 143 ]'
cat "$http_log" >>"$E2E_TMP/all_stderr"

# --- HTTP with a token ---------------------------------------------------------------------

openssl rand -hex 24 >"$E2E_TMP/token" 2>/dev/null || echo 0123456789abcdef0123456789abcdef >"$E2E_TMP/token"
token=$(cat "$E2E_TMP/token")
start_http --token-file "$E2E_TMP/token"
sid=
post "$(initialize 1 2025-11-25)"
expect "with --token-file, no Authorization: 401 with WWW-Authenticate: Bearer" \
  '[ "$code" = 401 ] && [[ "$(header WWW-Authenticate)" == Bearer* ]]'
post "$(initialize 1 2025-11-25)" -H "Authorization: Bearer wrong-${token}"
expect "... a wrong token: 401" '[ "$code" = 401 ]'
post "$(initialize 1 2025-11-25)" -H "Authorization: Bearer $token"
expect "... the right token: 200" '[ "$code" = 200 ] && [ "$(jq -r .result.protocolVersion <<<"$body")" = 2025-11-25 ]'
kill -TERM "$http_pid"
wait "$http_pid"
cat "$http_log" >>"$E2E_TMP/all_stderr"
expect "... and the token is not in its log" '! grep -qF "$token" "$http_log"'

# --- secrets ------------------------------------------------------------------------------

{ initialize 1 2025-11-25; call 2 inventory '{}'; } >"$E2E_TMP/secret.jsonl"
stdio "1 2" "$E2E_TMP/secret.jsonl" -vvv
expect "-vvv logs the HTTP exchanges of a call" '[ "$(reply 2 | jq ".result.structuredContent.accounts | length")" = 6 ] && [ $(lines "$err") -gt 20 ]'
expect "the secret access key appears in no log of any run" \
  '[ -n "$SIM_SECRET_ACCESS_KEY" ] && ! grep -qF "$SIM_SECRET_ACCESS_KEY" "$E2E_TMP/all_stderr"'

finish

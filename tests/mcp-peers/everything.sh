#!/usr/bin/env bash
# everything.sh: opsrun against the reference MCP server @modelcontextprotocol/server-everything
# (pinned in package.json) in streamableHttp mode, started here on a free port and stopped on exit.
# `opsrun tools`, `opsrun call` and the playbook everything_client.lua list its tools and call
# echo, get-sum and get-structured-content, and simulate-research-query, which must run as an MCP
# task (polled with tasks/get, its result from tasks/result); the server's own log shows one
# session per opsrun run, closed with DELETE. One line per check, then "N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
. tests/mcp-peers/peer_env.sh
mcp_peers_require

EVERYTHING=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js
SERVER_PID=
SERVER_LOG=$E2E_TMP/server.log

# server_stop: the server has no SIGTERM handler, so node ends at once.
server_stop() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}
trap 'server_stop; rm -rf "$E2E_TMP"' EXIT
trap 'exit 143' INT TERM

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
             console.log(s.address().port); s.close(); })'
}

# server_start: the server on a free port of 127.0.0.1 (a few tries, as another process may take
# the port between choosing and binding); sets SERVER_PID and PORT.
server_start() {
  local try deadline
  for try in 1 2 3; do
    PORT=$(free_port) || return 1
    PORT=$PORT node --import "$MCP_PEERS_DIR/loopback_only.mjs" "$EVERYTHING" streamableHttp \
      >"$SERVER_LOG" 2>&1 </dev/null &
    SERVER_PID=$!
    deadline=$((SECONDS + 20))
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
      grep -q "listening on port $PORT" "$SERVER_LOG" && return 0
      sleep 0.1
    done
    server_stop
    grep -q 'already in use' "$SERVER_LOG" || break
  done
  echo "everything server did not start:" >&2
  cat "$SERVER_LOG" >&2
  return 1
}

# How many times the server logged a line containing $1 so far.
server_count() {
  grep -c -- "$1" "$SERVER_LOG"
}

if ! server_start; then
  status=1 out= err=$(cat "$SERVER_LOG")
  expect "the everything server starts on 127.0.0.1" false
  finish
  exit
fi
export OPSRUN_MCP_URL=http://127.0.0.1:$PORT/mcp

# --- opsrun tools, opsrun call
run opsrun tools
expect "opsrun tools lists echo, get-sum and get-structured-content" \
  '[ $status -eq 0 ] && grep -Eq "^echo +Echoes back the input string$" <<<"$out" &&
   grep -Eq "^get-sum +Returns the sum of two numbers$" <<<"$out" &&
   grep -Eq "^get-structured-content +Returns structured content" <<<"$out"'

run opsrun -o table call echo "message=hello from the command line"
expect "opsrun -o table call echo message=... prints the echoed text" \
  '[ $status -eq 0 ] && [ "$out" = "Echo: hello from the command line" ]'

run opsrun call get-sum '{"a": 17, "b": 25}'
expect "opsrun call get-sum JSON prints the tool's text (the default, whatever stdout is)" \
  '[ $status -eq 0 ] && [ "$out" = "The sum of 17 and 25 is 42." ]'

# -o jsonl asked for JSON: a result without structuredContent prints as its content array
run opsrun -o jsonl call get-sum '{"a": 17, "b": 25}'
expect "opsrun -o jsonl call get-sum prints the content as JSON" \
  '[ $status -eq 0 ] && jq -e ". == [{type: \"text\", text: \"The sum of 17 and 25 is 42.\"}]" <<<"$out" >/dev/null'

run opsrun -o json call get-structured-content "location=New York"
expect "opsrun -o json call get-structured-content prints structuredContent" \
  '[ $status -eq 0 ] && jq -e ". == {temperature: 33, conditions: \"Cloudy\", humidity: 82}" <<<"$out" >/dev/null'

# a tool whose execution.taskSupport is "required" (MCP tasks, 2025-11-25), called by a process
# that has not listed the tools: refused as a plain call, then called as a task and polled
run opsrun call simulate-research-query topic=opsrun
expect "opsrun call of a tool that requires a task prints the task's result" \
  '[ $status -eq 0 ] && grep -q "^# Research Report: opsrun" <<<"$out" &&
   grep -q "Status progressed" <<<"$out"'

run opsrun -e 'sweep({ "r" }, function() mcp.call("simulate-research-query", { topic = "r" }) end,
  { timeout = 1 })'
expect "an MCP task past its sweep task's deadline ends as a timeout (exit 3)" \
  '[ $status -eq 3 ] && grep -q "1 failed (1 timeout)" <<<"$err"'

# --- the playbook: every call in one session
sessions_before=$(server_count 'Session initialized with ID')
deletes_before=$(server_count 'Received session termination request')
run opsrun tests/mcp-peers/everything_client.lua
seen=$out
# check NAME JQ_FILTER: one check on what the playbook saw.
check() {
  filter=$2
  expect "$1" '[ $status -eq 0 ] && jq -e "$filter" <<<"$seen" >/dev/null'
}
check "mcp.tools() lists echo, get-sum and get-structured-content with their input schemas" \
  '.tool_count >= 3 and (.tools | keys == ["echo", "get-structured-content", "get-sum"])
   and .tools.echo.input_schema.properties.message.type == "string"
   and (.tools["get-sum"].input_schema.required | sort == ["a", "b"])
   and (.tools["get-structured-content"].input_schema.properties.location.enum
        == ["New York", "Chicago", "Los Angeles"])'
check "mcp.call echo returns the text, non-ASCII kept" \
  '.echo == {ok: true, text: "Echo: héllo from opsrun ✓", structured: null, content_types: ["text"]}'
check "mcp.call get-sum {a = 2, b = 40} returns 42" \
  '.sum.ok and .sum.text == "The sum of 2 and 40 is 42."'
check "mcp.call get-sum with fractions sends numbers as numbers" \
  '.sum_fractions.ok and .sum_fractions.text == "The sum of 0.5 and -0.25 is 0.25."'
check "mcp.call get-structured-content returns structuredContent as .structured and its JSON as .text" \
  '.structured.ok
   and .structured.structured == {temperature: 36, conditions: "Light rain / drizzle", humidity: 82}
   and (.structured.text | fromjson) == .structured.structured'
check "a call with invalid arguments (isError) raises a tool error with the server's words" \
  '.bad_arguments.ok == false and .bad_arguments.kind == "tool" and .bad_arguments.code == "get-sum"
   and (.bad_arguments.message | test("Input validation error"))'
check "a call of an unknown tool (isError) raises a tool error naming it" \
  '.unknown_tool.ok == false and .unknown_tool.kind == "tool"
   and (.unknown_tool.message | test("Tool no-such-tool not found"))'
check "progress notifications before the reply (matched by id) are skipped" \
  '.progress.ok and .progress.text == "Long running operation completed. Duration: 0.3 seconds, Steps: 3."'
check "a call past its timeout raises a timeout error, and the next call is answered" \
  '.timed_out.ok == false and .timed_out.kind == "timeout" and .after_timeout.text == "Echo: after a timeout"'
check "eight concurrent mcp.call tasks each get their own reply" \
  '.concurrent == [range(1; 9) | "Echo: task \(.)"]'
check "a tool that requires an MCP task is polled to its result while quick calls finish" \
  '.task_sweep.finished == ["echo 1", "echo 2", "research"]
   and (.task_sweep.research | test("^# Research Report: research"))'
expect "the playbook's requests, concurrent ones and task polls included, used one session" \
  '[ $(( $(server_count "Session initialized with ID") - sessions_before )) -eq 1 ]'
expect "opsrun closed that session with DELETE when it exited" \
  '[ $(( $(server_count "Received session termination request") - deletes_before )) -eq 1 ]'
finish

#!/usr/bin/env bash
# deadline_test.sh: deadlines nothing escapes (issue 14 items 5 and 6), on the real binary. A sweep
# task's --timeout holds whatever its Lua does (coroutines it makes or resumes, a spin on
# coroutine.yield()); timeouts beyond 1e9 s, inf and NaN are refused; credential_process runs
# on the loop, ends when the command exits even if a background child holds its stdout, is
# killed when given up on, and inherits none of opsrun's descriptors. Outside sweeps --timeout
# bounds each wait: a hung initialize in `tools`, `call`, `doctor`, the REPL and a script's main
# chunk, a hung STS, a hung credential_process, and a stream whose server asks for a retry: of
# 999999999 ms all end near the deadline with a clear error and the right exit status.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; kill_pids "$E2E_TMP"/*.pid; rm -rf "$E2E_TMP"' EXIT

# kill_pids FILE...: stops the processes whose ids the test's helpers wrote down.
kill_pids() {
  local file
  for file in "$@"; do
    [ -s "$file" ] && kill -9 "$(cat "$file")" 2>/dev/null
  done
}

/usr/bin/python3 "$here/deadline_server.py" --log "$E2E_TMP/server.log" --lifetime 120 \
  >"$E2E_TMP/server.port" 2>"$E2E_TMP/server.err" &
server_pid=$!
for _ in $(seq 100); do
  [ -s "$E2E_TMP/server.port" ] && break
  sleep 0.05
done
base="http://127.0.0.1:$(head -n1 "$E2E_TMP/server.port")"

home="$E2E_TMP/home"
mkdir -p "$home/.aws"
creds='{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "deadlineSecret"}'
cat >"$home/.aws/config" <<EOF
[profile hung]
credential_process = echo \$\$ > $E2E_TMP/hung.pid; exec sleep 60
[profile background]
credential_process = printf '%s' '$creds'; sleep 60 & echo \$! > $E2E_TMP/background.pid
[profile slow]
credential_process = sleep 1; printf '%s' '$creds'
EOF

# opsrun_at PATH ARGS...: opsrun against the server's PATH as its MCP endpoint and STS, with
# made-up keys (no real credentials), like `run` (status, out, err), and elapsed: seconds taken.
opsrun_at() {
  local path=$1
  shift
  local started=$(date +%s%N)
  run env -i PATH="$PATH" HOME="$home" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=AKIDDEADLINE AWS_SECRET_ACCESS_KEY=deadlineSecret \
    OPSRUN_MCP_URL="$base$path" AWS_ENDPOINT_URL_STS="$base$path" "$OPSRUN" --no-progress "$@"
  elapsed=$((($(date +%s%N) - started) / 1000000))
}

# near DEADLINE_SECONDS: the last run ended at its deadline, not long after it
near() {
  [ "$elapsed" -ge $(($1 * 1000 - 100)) ] && [ "$elapsed" -lt $(($1 * 1000 + 1500)) ]
}

gone() {
  [ -s "$1" ] && ! kill -0 "$(cat "$1")" 2>/dev/null
}

# --- item 5: a sweep task's deadline holds whatever its Lua does ----------------------------

escape() {
  opsrun_at /mcp --timeout 1 -e "
    MAIN_COROUTINE = coroutine.wrap(function() while true do end end)
    local r = sweep({ 'escape', 'quick' }, function(name)
      if name == 'quick' then return 'done' end
      $1
    end)
    print(r[1].ok, r[1].error and r[1].error.code, r[2].value)"
}

escape 'coroutine.wrap(function() while true do end end)()'
expect "a busy loop in a coroutine.wrap of the task's own ends at the deadline" \
  '[ $status -eq 3 ] && [ "$out" = "false	TaskTimeout	done" ] && near 1'
escape 'MAIN_COROUTINE()'
expect "a busy coroutine made by the main chunk, resumed in a task, ends at the deadline" \
  '[ $status -eq 3 ] && [ "$out" = "false	TaskTimeout	done" ] && near 1'
escape 'while true do pcall(coroutine.wrap(function() while true do end end)) end'
expect "a busy loop that catches the timeout error with pcall ends at the deadline" \
  '[ $status -eq 3 ] && [ "$out" = "false	TaskTimeout	done" ] && near 1'

opsrun_at /mcp --timeout 1 -e "
  local r = sweep({ 'spin', 'sleeper' }, function(name)
    if name == 'spin' then while true do coroutine.yield() end end
    sleep(0.1)
    return 'slept'
  end)
  print(r[1].error.code, r[2].value, r[2].seconds < 0.5)"
expect "a task spinning on coroutine.yield() ends at the deadline and starves no timer" \
  '[ $status -eq 3 ] && [ "$out" = "TaskTimeout	slept	true" ] && near 1'

for value in 1e300 inf nan -1 0; do
  opsrun_at /mcp --timeout "$value" -e 'print("ran")'
  expect "--timeout $value is refused, saying what is accepted" \
    '[ $status -eq 2 ] && [ -z "$out" ] && grep -q "^opsrun: --timeout must be a positive number of seconds up to 1e9, got '"'$value'"'" <<<"$err"'
done
for value in math.huge 0/0 1e300; do
  opsrun_at /mcp -e "sweep({ 'a' }, print, { timeout = $value })"
  expect "sweep's timeout = $value is refused" \
    '[ $status -eq 1 ] && grep -q "timeout must be a positive number of seconds up to 1e9" <<<"$err"'
done
opsrun_at /mcp -e 'sleep(math.huge)'
expect "sleep(math.huge) is refused" \
  '[ $status -eq 1 ] && grep -q "seconds must be between 0 and 1e9" <<<"$err"'

# --- item 5: credential_process on the loop ---------------------------------------------------

opsrun_at /mcp --profile background tools
expect "a credential_process leaving a background child on its stdout is done when it exits" \
  '[ $status -eq 0 ] && [ "$out" = "echo  Echoes." ] && [ "$elapsed" -lt 5000 ]'
kill_pids "$E2E_TMP/background.pid"

opsrun_at /mcp --profile hung --timeout 2 tools
expect "a hung credential_process fails tools at the deadline" \
  '[ $status -eq 1 ] && grep -q "^opsrun: Timeout: gave up waiting after 2 s (--timeout)" <<<"$err" && near 2'
expect "... and is killed, not left behind" 'gone "$E2E_TMP/hung.pid"'

rm -f "$E2E_TMP/hung.pid"
opsrun_at /mcp --profile hung --timeout 2 -e "
  local r = sweep({ 'creds', 'other' }, function(name)
    if name == 'creds' then return whoami() end
    sleep(0.2)
    return 'ran'
  end)
  print(r[1].error.code, r[2].value, r[2].seconds < 1)"
expect "a hung credential_process holds up only the tasks that need credentials" \
  '[ $status -eq 3 ] && [ "$out" = "TaskTimeout	ran	true" ] && near 2'
expect "... and is killed when opsrun ends" 'gone "$E2E_TMP/hung.pid"'

# What a program opsrun starts inherits: only what the test gave opsrun, both while a
# credential_process runs (its pipes, its pidfd) and with an MCP connection open (libcurl's
# sockets and its multi handle's wake-up pair). The shell that lists its own descriptors runs no
# pipeline, whose ends it would hold while ls reads them.
list_descriptors='ls /proc/$$/fd; :'
run sh -c "$list_descriptors"
inherited=$out
opsrun_at /mcp --profile slow -e "
  local function list() os.execute([[$list_descriptors]]) end
  sweep({ 'creds', 'child' }, function(name)
    if name == 'creds' then return mcp.tools() end
    sleep(0.3)
    list()
  end)
  list()"
expect "programs opsrun starts inherit none of its descriptors" \
  '[ $status -eq 0 ] && [ "$out" = "$inherited"$'"'"'\n'"'"'"$inherited" ]'

# --- item 6: --timeout bounds each wait outside sweeps -----------------------------------------

opsrun_at /hang --timeout 2 tools
expect "tools against a server that never answers initialize ends at --timeout" \
  '[ $status -eq 1 ] && [ "$err" = "opsrun: Timeout: gave up waiting after 2 s (--timeout)" ] && near 2'
opsrun_at /hang --timeout 2 call echo text=hi
expect "call ends at --timeout" \
  '[ $status -eq 1 ] && [ "$err" = "opsrun: Timeout: gave up waiting after 2 s (--timeout)" ] && near 2'
opsrun_at /hang --timeout 2 doctor mcp
expect "doctor's mcp check fails at --timeout, saying what to check" \
  '[ $status -eq 1 ] && grep -q "^✗ mcp .*Timeout: gave up waiting after 2 s (--timeout) — to fix: check the endpoint" <<<"$out" && near 2'
opsrun_at /hang --timeout 2 doctor credentials
expect "doctor's credentials check fails at --timeout when STS never answers" \
  '[ $status -eq 1 ] && grep -q "^✗ credentials .*Timeout: gave up waiting after 2 s" <<<"$out" && near 2'

started=$(date +%s%N)
run_stdin $'mcp.tools()\nprint("next entry")\n' env -i PATH="$PATH" HOME="$home" \
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDDEADLINE \
  AWS_SECRET_ACCESS_KEY=deadlineSecret OPSRUN_MCP_URL="$base/hang" "$OPSRUN" --timeout 2 -i
elapsed=$((($(date +%s%N) - started) / 1000000))
expect "a REPL entry waiting on a hung server ends at --timeout and the REPL goes on" \
  '[ $status -eq 0 ] && grep -q "Timeout: gave up waiting after 2 s" <<<"$err" && [ "$out" = "next entry" ] && near 2'

opsrun_at /hang --timeout 2 -e '
  local ok, err = pcall(mcp.tools)
  print(ok, err.kind, err.code)
  ok, err = pcall(whoami)
  print(ok, err.kind, err.code)'
expect "a script's main chunk gets a timeout error it can catch, for MCP and for STS" \
  '[ $status -eq 0 ] && [ "$out" = "false	timeout	Timeout
false	timeout	Timeout" ] && near 4'

: >"$E2E_TMP/server.log"
opsrun_at /sse-retry --timeout 2 tools
expect "a stream whose server asks for retry: 999999999 ends at --timeout" \
  '[ $status -eq 1 ] && [ "$err" = "opsrun: Timeout: gave up waiting after 2 s (--timeout)" ] && near 2'
expect "... without resuming it early" \
  'grep -q "POST /sse-retry tools/list" "$E2E_TMP/server.log" && ! grep -q "^GET" "$E2E_TMP/server.log"'

finish

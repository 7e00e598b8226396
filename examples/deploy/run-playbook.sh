#!/usr/bin/env bash
# run-playbook.sh: runs one opsrun playbook unattended (cron, a systemd timer), its rows as JSON
# lines in a dated file, and alerts when the run did not succeed.
#
#   run-playbook.sh PLAYBOOK [OPSRUN OPTIONS...]     e.g.  run-playbook.sh ec2_inventory.lua -j 32
#
# Writes OUT_DIR/YYYY-MM-DD.jsonl (the rows, `opsrun -o jsonl`) and OUT_DIR/YYYY-MM-DD.log (its
# stderr: the sweep's summary and every failed account), replacing that day's files when run
# again. The .jsonl appears under its final name only once opsrun has finished. Exits with
# opsrun's status: 0 success, 1 Lua error, 2 usage or configuration error, 3 the playbook ran but
# at least one account failed. On any status but 0 it runs ALERT_COMMAND.
#
# Environment:
#   OPSRUN         the opsrun binary (default: opsrun on PATH)
#   OUT_DIR        where the dated files go (default: $STATE_DIRECTORY/NAME under systemd's
#                  StateDirectory=, else $HOME/opsrun-out/NAME; NAME is the playbook's file name
#                  without .lua)
#   ALERT_COMMAND  a shell command run (sh -c) when the status is not 0, with OPSRUN_STATUS,
#                  OPSRUN_PLAYBOOK, OPSRUN_OUTPUT (the .jsonl) and OPSRUN_LOG (the .log) in its
#                  environment and a one-line reason on its stdin; without it the reason goes to
#                  stderr (cron mails it; journald keeps it)
#   KEEP_DAYS      delete dated files older than this many days (default: keep them all)
# and opsrun's own: OPSRUN_REGISTRY or ACCOUNT_REGISTRY, AWS_PROFILE, AWS_REGION, ... (opsrun(1)).
set -uo pipefail

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
playbook=$1
shift
name=$(basename "$playbook" .lua)
opsrun=${OPSRUN:-opsrun}
out_dir=${OUT_DIR:-${STATE_DIRECTORY:-$HOME/opsrun-out}/$name}
day=$(date +%F)
output=$out_dir/$day.jsonl
log=$out_dir/$day.log

mkdir -p "$out_dir" || exit 2
"$opsrun" --no-progress "$@" -o jsonl "$playbook" >"$output.partial" 2>"$log" </dev/null
status=$?
mv -f "$output.partial" "$output"

if [ -n "${KEEP_DAYS:-}" ]; then
  find "$out_dir" -maxdepth 1 -type f \( -name '????-??-??.jsonl' -o -name '????-??-??.log' \) \
    -mtime +"$KEEP_DAYS" -delete
fi

case $status in
0) exit 0 ;;
3) reason="opsrun $name: some accounts failed (status 3); $(grep -c '' <"$output") rows in $output; see $log" ;;
2) reason="opsrun $name: usage or configuration error (status 2): $(head -n1 "$log")" ;;
*) reason="opsrun $name: the run failed (status $status): $(head -n1 "$log")" ;;
esac
if [ -n "${ALERT_COMMAND:-}" ]; then
  OPSRUN_STATUS=$status OPSRUN_PLAYBOOK=$playbook OPSRUN_OUTPUT=$output OPSRUN_LOG=$log \
    sh -c "$ALERT_COMMAND" <<<"$reason" ||
    echo "run-playbook.sh: ALERT_COMMAND failed; the alert was: $reason" >&2
else
  echo "$reason" >&2
fi
exit "$status"

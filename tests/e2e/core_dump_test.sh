#!/usr/bin/env bash
# core_dump_test.sh: opsrun keeps the secrets in its memory out of core files and away from other
# processes of its user (issue 14): it makes itself non-dumpable before it reads any credential.
# Two observables, since prctl's dumpable flag shows in no /proc file:
#  1. killed with SIGSEGV or SIGABRT under `ulimit -c unlimited`, opsrun leaves no core file
#     where a control process (sleep) leaves one. This needs a kernel core_pattern that writes
#     files into the working directory ("core", the default); where it pipes cores elsewhere
#     (systemd-coredump, apport) the control leaves none and this part is reported as skipped.
#  2. proc(5): the files in /proc/PID of a process that is not dumpable belong to root, whoever
#     runs it. opsrun run as another user (nobody when the test runs as root, else the test's
#     own user) has a root-owned /proc/PID/environ; the control's belongs to that user.
source "$(dirname "$0")/lib.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$E2E_TMP"' EXIT

# started NAME DIR COMMAND...: COMMAND in the background in DIR, with cores allowed, stdout in
# DIR/NAME.out; sets PID.
started() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  (cd "$dir" && ulimit -c unlimited && exec "$@" >"$dir/$name.out" 2>"$dir/$name.err") &
  PID=$!
  pids+=("$PID")
}

# The command line of an opsrun with base credentials in its environment (its memory) that
# prints "ready" and sleeps.
waiting_opsrun=(env -i PATH="$PATH" HOME=/nonexistent AWS_EC2_METADATA_DISABLED=true
  AWS_ACCESS_KEY_ID=AKIDCOREDUMPTEST AWS_SECRET_ACCESS_KEY=coreDumpTestSecretKey
  "$OPSRUN" -e 'print("ready") io.stdout:flush() sleep(30)')

# ready FILE: waits (5 s at most) until FILE says "ready".
ready() {
  for _ in $(seq 100); do
    grep -q ready "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# killed_with SIGNAL PID: sends SIGNAL and reaps PID; sets status.
killed_with() {
  kill -"$1" "$2"
  wait "$2"
  status=$?
}

cores_in() {
  find "$1" -maxdepth 1 -name 'core*' | grep -c ''
}

# --- 1. no core file ------------------------------------------------------------------------------
started control "$E2E_TMP/control" sleep 30
sleep 0.2
killed_with SEGV "$PID"
control_cores=$(cores_in "$E2E_TMP/control")
if [ "$control_cores" -eq 0 ]; then
  echo "skip - no core file from the control either (core_pattern: $(cat /proc/sys/kernel/core_pattern)): part 1 cannot tell"
else
  for signal in SEGV ABRT; do
    dir="$E2E_TMP/opsrun-$signal"
    started opsrun "$dir" "${waiting_opsrun[@]}"
    ready "$dir/opsrun.out"
    killed_with "$signal" "$PID"
    out=$(cat "$dir/opsrun.out") err=$(cat "$dir/opsrun.err")
    expect "opsrun killed with SIG$signal under ulimit -c unlimited leaves no core file (the control left $control_cores)" \
      '[ "$out" = ready ] && [ $status -ne 0 ] && [ "$(cores_in "$dir")" -eq 0 ]'
  done
fi

# --- 2. /proc/PID belongs to root ----------------------------------------------------------------
as_user=()
user=$(id -u)
if [ "$user" -eq 0 ]; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  user=65534
fi
started control "$E2E_TMP/proc" "${as_user[@]}" sleep 30
sleep 0.2
control_owner=$(stat -c %u "/proc/$PID/environ")
kill -KILL "$PID"
started opsrun "$E2E_TMP/proc" "${as_user[@]}" "${waiting_opsrun[@]}"
ready "$E2E_TMP/proc/opsrun.out"
owner=$(stat -c %u "/proc/$PID/environ")
status=0 out=$(cat "$E2E_TMP/proc/opsrun.out") err=$(cat "$E2E_TMP/proc/opsrun.err")
expect "(control) a process run as user $user owns its /proc/PID/environ" '[ "$control_owner" = "$user" ]'
expect "opsrun run as user $user does not: it is not dumpable, so its /proc/PID files are root's" \
  '[ "$out" = ready ] && [ "$owner" = 0 ]'
kill -KILL "$PID"

finish

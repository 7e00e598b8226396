# tests/sim/lib.sh: shell helpers for tests that need the loopback AWS simulator. Source it:
#   . tests/sim/lib.sh
#   sim_start --accounts 10 --deny-accounts 2   # background start; exports SIM_* below
#   ...; sim_stop
# Needs node and jq, and tests/sim/node_modules (scripts/setup.sh runs `npm ci` there).

SIM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# sim_start [flags...]: starts `node tests/sim/server.mjs flags...` in the background and waits
# (up to $SIM_START_TIMEOUT seconds, default 20) for its JSON line. Sets SIM_JSON (the line; a
# shell variable, not exported: with --accounts 10000 it is larger than one environment string
# may be, and every command started would fail with E2BIG) and exports SIM_PID, SIM_STS,
# SIM_MCP, SIM_ORGANIZATIONS, SIM_SSO, SIM_SSO_OIDC, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY,
# SIM_COUNTERS (counters URL), SIM_CA_BUNDLE (the test CA's PEM file with --tls, else empty)
# and SIM_LOG (the file holding its stderr). Returns non-zero on failure.
sim_start() {
  if [ -n "${SIM_PID:-}" ] && kill -0 "$SIM_PID" 2>/dev/null; then
    echo "sim_start: a simulator is already running (pid $SIM_PID); call sim_stop first" >&2
    return 1
  fi
  if [ ! -d "$SIM_DIR/node_modules/@modelcontextprotocol/sdk" ]; then
    echo "sim_start: $SIM_DIR/node_modules is missing; run scripts/setup.sh (npm ci in tests/sim)" >&2
    return 1
  fi
  SIM_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/opsrun-sim.XXXXXX") || return 1
  local run_dir=$SIM_RUN_DIR
  SIM_LOG="$run_dir/stderr"
  node "$SIM_DIR/server.mjs" "$@" >"$run_dir/stdout" 2>"$SIM_LOG" </dev/null &
  SIM_PID=$!
  local deadline=$((SECONDS + ${SIM_START_TIMEOUT:-20}))
  until [ -s "$run_dir/stdout" ] && [ "$(tail -c1 "$run_dir/stdout" | od -An -c | tr -d ' ')" = '\n' ]; do
    if ! kill -0 "$SIM_PID" 2>/dev/null; then
      echo "sim_start: simulator exited early:" >&2
      cat "$SIM_LOG" >&2
      wait "$SIM_PID" 2>/dev/null || true
      SIM_PID=
      rm -rf "$run_dir"
      SIM_RUN_DIR=
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "sim_start: no ready line after ${SIM_START_TIMEOUT:-20}s" >&2
      sim_stop
      return 1
    fi
    sleep 0.05
  done
  SIM_JSON=$(head -n1 "$run_dir/stdout")
  SIM_STS=$(jq -r .sts <<<"$SIM_JSON")
  SIM_MCP=$(jq -r .mcp <<<"$SIM_JSON")
  SIM_ORGANIZATIONS=$(jq -r .organizations <<<"$SIM_JSON")
  SIM_SSO=$(jq -r .sso <<<"$SIM_JSON")
  SIM_SSO_OIDC=$(jq -r .sso_oidc <<<"$SIM_JSON")
  SIM_ACCESS_KEY_ID=$(jq -r .access_key_id <<<"$SIM_JSON")
  SIM_SECRET_ACCESS_KEY=$(jq -r .secret_access_key <<<"$SIM_JSON")
  SIM_COUNTERS=$(jq -r .counters <<<"$SIM_JSON")
  SIM_CA_BUNDLE=$(jq -r '.ca_bundle // empty' <<<"$SIM_JSON")
  export SIM_PID SIM_STS SIM_MCP SIM_ORGANIZATIONS SIM_SSO SIM_SSO_OIDC SIM_ACCESS_KEY_ID SIM_SECRET_ACCESS_KEY SIM_COUNTERS SIM_CA_BUNDLE SIM_LOG
}

# sim_stop: sends SIGTERM and waits for the simulator (SIGKILL after 5 s), then removes its
# run directory, SIM_LOG included (read it before stopping). Safe to call twice.
sim_stop() {
  if [ -z "${SIM_PID:-}" ]; then
    [ -n "${SIM_RUN_DIR:-}" ] && rm -rf "$SIM_RUN_DIR"
    SIM_RUN_DIR=
    return 0
  fi
  kill -TERM "$SIM_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$SIM_PID" 2>/dev/null || true # already gone, usually
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=
  [ -n "${SIM_RUN_DIR:-}" ] && rm -rf "$SIM_RUN_DIR"
  SIM_RUN_DIR=
  return 0
}

# sim_cpu_seconds: CPU seconds (user + system) the simulator has used so far: its process, the
# worker processes of --workers and their Python sandbox helpers (every descendant still running).
sim_cpu_seconds() {
  local pids=$SIM_PID frontier=$SIM_PID children
  while children=$(ps -o pid= --ppid "${frontier// /,}" | xargs) && [ -n "$children" ]; do
    pids="$pids $children"
    frontier=$children
  done
  local pid
  for pid in $pids; do cat "/proc/$pid/stat" 2>/dev/null; done |
    awk -v hz="$(getconf CLK_TCK)" '{ cpu += $14 + $15 } END { printf "%.2f", cpu / hz }'
}

# sim_get FIELD: a field of the ready line, e.g. `sim_get '.accounts[0]'`.
sim_get() {
  jq -r "$1" <<<"$SIM_JSON"
}

# sim_counter FILTER: a jq filter over the simulator's counters, one line (strings raw), e.g.
# `sim_counter .sessions_closed`.
sim_counter() {
  sim_curl "$SIM_COUNTERS" | jq -cr "$1"
}

# sim_reset_counters: sets every counter back to zero.
sim_reset_counters() {
  sim_curl -X POST "${SIM_COUNTERS%/counters}/reset" >/dev/null
}

# sim_curl ARGS...: `curl -s ARGS...`, trusting the simulator's test CA when it serves TLS.
sim_curl() {
  curl -s ${SIM_CA_BUNDLE:+--cacert "$SIM_CA_BUNDLE"} "$@"
}

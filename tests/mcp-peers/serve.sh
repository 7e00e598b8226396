#!/usr/bin/env bash
# serve.sh: `opsrun serve` against the official MCP TypeScript SDK's Client
# (@modelcontextprotocol/sdk, pinned in package.json), over stdio and over Streamable HTTP
# (--listen 127.0.0.1:0), serving serve_playbooks/ (inventory, slow, broken) with the loopback
# simulator (tests/sim) for AWS: serve_sdk.mjs lists the tools and checks their schemas, calls them
# with good and bad arguments, an unknown tool and a Lua error, asks for progress, cancels a call
# mid-sweep (AbortController), makes concurrent calls, deletes the session, and reaches a server
# with --token-file with the right and a wrong token. One line per check, then "N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
set -u
. tests/e2e/lib.sh
. tests/mcp-peers/peer_env.sh
mcp_peers_require
. tests/mcp-peers/serve_env.sh
serve_require @modelcontextprotocol/sdk/package.json
serve_sim_start

status=0 out= err=
sdk_out=$(cd "$MCP_PEERS_DIR" && node serve_sdk.mjs 2>"$E2E_TMP/sdk.err")
sdk_status=$?
fold_checks "$sdk_out"
if [ "$sdk_status" -ne 0 ] && ! grep -q '^FAIL - ' <<<"$sdk_out"; then
  failed=$((failed + 1))
  echo "FAIL - serve_sdk.mjs exited $sdk_status without a failed check"
  sed 's/^/    stderr: /' "$E2E_TMP/sdk.err" | head -20
fi
finish

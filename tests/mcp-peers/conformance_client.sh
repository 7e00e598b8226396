#!/usr/bin/env bash
# conformance_client.sh SERVER_URL: the client command given to the conformance suite, which
# appends the scenario server's URL and sets $MCP_CONFORMANCE_SCENARIO. Runs opsrun with that URL
# as its MCP endpoint and conformance_client.lua as the playbook.
set -euo pipefail
. "$(dirname "$0")/peer_env.sh"
[ $# -eq 1 ] || { echo "usage: conformance_client.sh SERVER_URL" >&2; exit 2; }
exec "$OPSRUN" --mcp-url "$1" "$MCP_PEERS_DIR/conformance_client.lua" "$1"

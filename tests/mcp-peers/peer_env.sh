# peer_env.sh: what opsrun needs to talk to a local, unauthenticated MCP peer. Source it.
# opsrun signs every request, so it gets dummy static credentials (a non-AWS server ignores the
# SigV4 headers) and never the caller's own: no profile, file, SSO or instance metadata is read.
# Sets $OPSRUN (the binary under test; ctest sets it, default build/opsrun) and
# $MCP_PEERS_DIR (this directory).
MCP_PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OPSRUN=${OPSRUN:-$(cd "$MCP_PEERS_DIR/../.." && pwd)/build/opsrun}
export OPSRUN MCP_PEERS_DIR

export AWS_ACCESS_KEY_ID=AKIDMCPPEERTEST00000
export AWS_SECRET_ACCESS_KEY=mcp-peer-test-secret-not-a-real-key
export AWS_REGION=us-east-1 OPSRUN_MCP_SIGNING_REGION=us-east-1 OPSRUN_MCP_SIGNING_NAME=aws-mcp
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
unset OPSRUN_REGISTRY ACCOUNT_REGISTRY

# mcp_peers_fail_setup MESSAGE: one failed check and the summary, then exit 1.
mcp_peers_fail_setup() {
  echo "FAIL - $1"
  echo "0 passed, 1 failed"
  exit 1
}

# mcp_peers_require: fails with the fix when node, jq, npm ci here or opsrun is missing.
mcp_peers_require() {
  local tool
  for tool in node jq; do
    command -v "$tool" >/dev/null || mcp_peers_fail_setup "$tool not found: run scripts/setup.sh"
  done
  if [ ! -d "$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/conformance" ] ||
     [ ! -d "$MCP_PEERS_DIR/node_modules/@modelcontextprotocol/server-everything" ]; then
    mcp_peers_fail_setup "$MCP_PEERS_DIR/node_modules is missing: run scripts/setup.sh (npm ci in tests/mcp-peers)"
  fi
  if [ ! -x "$OPSRUN" ]; then
    mcp_peers_fail_setup "no opsrun binary at $OPSRUN (build it, or set OPSRUN)"
  fi
}

#!/usr/bin/env bash
# demo.sh: the README's demo. Sets up (scripts/setup.sh), then runs examples/ec2_inventory.lua
# and prints its table: against AWS when AWS credentials and an account registry are
# configured, else against the loopback simulator of STS and the AWS MCP Server with 20
# accounts, started here and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2 # its progress is not the demo's output: stdout carries only the table

aws_credentials_configured() {
  [ -n "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] ||
    [ -n "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ] ||
    [ -f "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ] ||
    [ -f "${AWS_CONFIG_FILE:-$HOME/.aws/config}" ]
}
registry_configured() {
  [ -n "${OPSRUN_REGISTRY:-}${ACCOUNT_REGISTRY:-}" ]
}

if aws_credentials_configured && registry_configured; then
  echo "demo: AWS credentials and a registry are configured: running against AWS" >&2
  exec build/opsrun -o table examples/ec2_inventory.lua
fi
if aws_credentials_configured; then
  echo "demo: AWS credentials found, but no registry (OPSRUN_REGISTRY or ACCOUNT_REGISTRY):" \
    "using the loopback simulator instead" >&2
fi

source tests/sim/lib.sh
work=$(mktemp -d)
trap 'sim_stop; rm -rf "$work"' EXIT
sim_start --accounts 20
sim_get '{accounts: ([{id: .central_account, name: "Central", role: "central"}]
  + [.accounts | to_entries[] | {id: .value, name: ("workload-" + (.key + 1 | tostring))}])}' \
  >"$work/registry.json"
echo "demo: simulator of STS and the AWS MCP Server on 127.0.0.1 with 20 accounts" >&2
env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$SIM_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SIM_SECRET_ACCESS_KEY" \
  AWS_ENDPOINT_URL_STS="$SIM_STS" OPSRUN_MCP_URL="$SIM_MCP" \
  build/opsrun -r "$work/registry.json" -o table examples/ec2_inventory.lua

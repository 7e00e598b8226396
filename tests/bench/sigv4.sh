#!/usr/bin/env bash
# sigv4.sh: the SigV4 benchmark table. Runs bench_sigv4 (opsrun) and bench_smithy.mjs
# (@smithy/signature-v4) on the same request file in one run, each pinned to one core, checks that
# both produce the same signature, and prints one table. Usage: tests/bench/sigv4.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

build=${1:-build}
request=tests/bench/sigv4-request.json
if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "sigv4.sh: no CMake build in $build; run scripts/setup.sh or pass a build directory" >&2
  exit 1
fi
if grep -qE '^(OPS_SANITIZE:BOOL=ON|CMAKE_BUILD_TYPE:STRING=(Debug|)$)' "$build/CMakeCache.txt"; then
  echo "sigv4.sh: warning: $build is unoptimised or sanitized; its figures mean little" >&2
fi
cmake --build "$build" --target bench_sigv4 >/dev/null

pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
ours=$("${pin[@]}" "$build/tests/bench/bench_sigv4" "$request")
theirs=$("${pin[@]}" node tests/sigv4-diff/bench_smithy.mjs "$request")

signature() { awk -F'\t' '$1 == "signature" { print $2 }'; }
sig=$(signature <<<"$ours")
if [ "$sig" != "$(signature <<<"$theirs")" ]; then
  echo "sigv4.sh: opsrun and smithy signed the benchmark request differently" >&2
  exit 1
fi

openssl_version=$(openssl version 2>/dev/null | awk '{ print $2 }')
smithy_version=$(node -p 'require("./tests/sigv4-diff/node_modules/@smithy/signature-v4/package.json").version')
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "SigV4, one core (${cpu:-unknown CPU}): POST /mcp, 1 KiB JSON body, 8 headers, session token"
echo "Both sign it as $sig."
echo
printf '| %-44s | %-8s | %12s | %9s |\n' signer key "signatures/s" "usec each"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "----------" "--------------" "-----------"
{
  sed "s/^opsrun\t/opsrun (OpenSSL ${openssl_version:-3})\t/" <<<"$ours"
  sed "s/^smithy\t/@smithy\/signature-v4 ${smithy_version} (node $(node --version))\t/" <<<"$theirs"
} | awk -F'\t' '$1 != "signature" {
  printf "| %-44s | %-8s | %12d | %9.2f |\n", $1, $2, $3, 1e6 / $3
}'

#!/usr/bin/env bash
# Installs what opsrun needs to build, test and run its demo on Debian 12, then builds into build/.
# Idempotent: packages already present are skipped; run as root (or with sudo available).
# --no-build: install only (scripts/test.sh builds its own configurations).
set -euo pipefail
cd "$(dirname "$0")/.."
build=yes
[ "${1:-}" = --no-build ] && build=no

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev      # compilers, sanitizers, libFuzzer
  clang-format                                                   # the C formatting check (scripts/test.sh)
  lua5.4 liblua5.4-dev lua-cjson lua-cjson-dev lua-busted        # the embedded Lua and its test runner
  libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev   # HTTP, crypto, XML, JSON
  libedit-dev libcmocka-dev                                       # REPL line editing, C unit tests
  jq tmux valgrind strace awscli python3 curl ca-certificates     # end-to-end test tools
  man-db systemd                                                  # man page and unit file checks
  python3-botocore                                                # paginator rules (scripts/gen_paginators.py)
  python3-boto3 python3-requests gnuplot-nox                      # tests/bench/sweep.sh's Python peer and chart
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

for lock in $(find tests -name package-lock.json -not -path '*/node_modules/*' 2>/dev/null); do
  dir=$(dirname "$lock")
  if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

[ $build = yes ] || exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "setup: built build/opsrun"

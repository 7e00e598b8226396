#!/usr/bin/env bash
# test.sh: everything, from a fresh clone: installs what is missing (scripts/setup.sh), builds
# the test configuration (-Werror) and the sanitizer configuration (ASan + UBSan + LSan), and
# runs ctest in each: cmocka, busted, end-to-end and Node-peer tests; first it checks that every
# C file is as clang-format (the version setup installs) writes it. Ends with one line,
# "N passed, M failed", and a non-zero status on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --no-build || { echo "test: setup failed"; echo "0 passed, 1 failed"; exit 1; }

# Tests talk to loopback servers only: a test that reaches the credential chain without
# credentials must not probe the real instance metadata address (169.254.169.254).
export AWS_EC2_METADATA_DISABLED=true

total_passed=0
total_failed=0

# run_config DIR LABEL CMAKE_ARGS...: configure, build and ctest one configuration.
run_config() {
  local dir=$1 label=$2
  shift 2
  echo "== $label: building in $dir"
  if ! cmake -S . -B "$dir" -DOPS_WERROR=ON "$@" >"$dir/configure.log" 2>&1 ||
     ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
    tail -40 "$dir/configure.log" "$dir/build.log" 2>/dev/null
    echo "== $label: build FAILED"
    total_failed=$((total_failed + 1))
    return
  fi
  echo "== $label: testing"
  (cd "$dir" && ctest -j2 --output-on-failure "${CTEST_ARGS[@]}") >"$dir/ctest.log" 2>&1
  cat "$dir/ctest.log"
  local summary
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$dir/ctest.log")
  local failed_count total_count
  failed_count=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  total_count=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
  if [ -z "$summary" ]; then
    echo "== $label: ctest gave no summary"
    total_failed=$((total_failed + 1))
    return
  fi
  total_passed=$((total_passed + total_count - failed_count))
  total_failed=$((total_failed + failed_count))
}

# check_format: `clang-format --dry-run --Werror` with the committed .clang-format on every
# tracked C file; on failure, the files it would change and the command that fixes them.
check_format() {
  local files report
  mapfile -t files < <(git ls-files '*.c' '*.h')
  if ! command -v clang-format >/dev/null; then
    echo "== format: FAILED; clang-format is missing (scripts/setup.sh installs it)"
    total_failed=$((total_failed + 1))
  elif report=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
    echo "== format: ${#files[@]} C files as clang-format writes them"
    total_passed=$((total_passed + 1))
  else
    echo "== format: FAILED; run: clang-format -i" \
      $(grep -o '^[^: ]*\.[ch]:[0-9]' <<<"$report" | cut -d: -f1 | sort -u)
    total_failed=$((total_failed + 1))
  fi
}

check_format
mkdir -p build-test build-asan
CTEST_ARGS=()
run_config build-test "test build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
CTEST_ARGS=(-LE nosan)
run_config build-asan "sanitizer build" -DCMAKE_BUILD_TYPE=Debug -DOPS_SANITIZE=ON

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]

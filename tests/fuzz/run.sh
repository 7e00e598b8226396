#!/usr/bin/env bash
# run.sh [BUILD_DIR]: builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, leaks
# checked) in BUILD_DIR (default build-fuzz) and runs each for FUZZ_SECONDS (default 7) on a
# scratch copy of its seed corpus (tests/fuzz/corpus/NAME) with its dictionary, if any. One line
# per target with libFuzzer's figures (runs, cov, ft, corpus), then "N passed, M failed". A crash,
# leak or undefined behaviour fails the target; the input is kept in BUILD_DIR/artifacts/.
# FUZZ_TARGETS="sse sts" runs some only; FUZZ_JOBS=2 runs two targets at a time.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-7}
targets=${FUZZ_TARGETS:-sse sts ini registry mcp sigv4 boto3}
jobs=${FUZZ_JOBS:-1}
cc=${FUZZ_CC:-clang}
mkdir -p "$build"
build=$(cd "$build" && pwd)

if ! command -v "$cc" >/dev/null; then
  echo "fuzz: $cc not found (scripts/setup.sh installs clang and libclang-rt-14-dev)"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" >"$build/configure.log" 2>&1 ||
   ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
  tail -n 30 "$build/configure.log" "$build/build.log"
  echo "fuzz: building the targets FAILED"
  echo "0 passed, 1 failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_target NAME: fuzzes one target; its figures or its failure go to $build/NAME.result.
run_target() {
  local name=$1 work="$build/corpus/$1" log="$build/$1.log"
  rm -rf "$work"
  mkdir -p "$work" "$build/artifacts"
  local args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=8192
              -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-")
  [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
  local seeds=()
  [ -d "$here/corpus/$name" ] && seeds=("$here/corpus/$name")
  "$build/fuzz_$name" "${args[@]}" "$work" "${seeds[@]}" >"$log" 2>&1
  local rc=$?
  local done_line
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  local runs cov ft corp
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "ok - fuzz_$name: $runs runs in ${seconds}s, cov $cov, ft $ft, corpus $corp" >"$build/$name.result"
  else
    {
      echo "FAIL - fuzz_$name (exit $rc); the end of $log:"
      grep -vE '^#[0-9]+' "$log" | tail -40 | sed 's/^/    /'
    } >"$build/$name.result"
  fi
}

running=0
for name in $targets; do
  run_target "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

passed=0
failed=0
for name in $targets; do
  cat "$build/$name.result"
  if grep -q '^ok' "$build/$name.result"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

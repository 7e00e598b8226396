#!/usr/bin/env bash
# host_test.sh: the opsrun host as a user meets it: scripts, chunks, arguments, errors and exit
# statuses, logging, the REPL, and sweeps of sleeping tasks (SPEC sections 1 and 4).
source "$(dirname "$0")/lib.sh"

# --- running Lua -----------------------------------------------------------------------------

run opsrun -e 'print(json.encode{a=1})'
expect "-e runs a chunk with lua-cjson as json" '[ "$out" = "{\"a\":1}" ] && [ $status -eq 0 ] && [ -z "$err" ]'

run opsrun -e 'print(require("cjson") == json, require("opsrun").sweep == sweep)'
expect "require returns the same tables as the globals" '[ "$out" = "true	true" ]'

args=$(write_script args.lua <<'LUA'
print(arg[0] == ..., select("#", ...), ...)
print(arg[-1], arg[1], arg[2], #arg)
LUA
)
run opsrun -v "$args" one two
expect "a script gets arg and ... as lua sets them" \
  '[ "$out" = "false	2	one	two
-v	one	two	2" ]'

run opsrun -e 'print(arg[0], select("#", ...), ...)' x y
expect "-e passes the arguments after the chunk" '[ "$out" = "print(arg[0], select(\"#\", ...), ...)	2	x	y" ]'

# shellcheck disable=SC2046
run opsrun "$(dirname "$0")/count_args.lua" $(seq 1 1000)
expect "1,000 arguments reach arg and ... intact" '[ "$out" = "1000	1000	0" ] && [ $status -eq 0 ]'

run_stdin 'print(6 * 7)' opsrun -
expect "- reads the script from stdin" '[ "$out" = 42 ]'

# --- errors and exit statuses ----------------------------------------------------------------

run opsrun nosuch.lua
expect "a missing script exits 1 with one clear line" \
  '[ $status -eq 1 ] && [ "$err" = "opsrun: cannot open nosuch.lua: No such file or directory" ] && [ -z "$out" ]'

run opsrun --bogus
expect "an unknown option exits 2 with a usage hint" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: unknown option '"'"'--bogus'"'"'
Try '"'"'opsrun --help'"'"' for more information." ]'

for bad in "-j 0" "-j 1025" "--concurrency=x" "--timeout -1" "-o xml" "--shard 4/3" \
  "--shard 1" "--log-format yaml" "--no-progress=1"; do
  # shellcheck disable=SC2086
  run opsrun $bad -e 'print(1)'
  expect "bad option '$bad' exits 2 and says why" \
    '[ $status -eq 2 ] && [ $(lines "$err") -eq 2 ] && [ -z "$out" ]'
done

run opsrun --region
expect "an option without its value exits 2" '[ $status -eq 2 ] && [[ "$err" == "opsrun: option '"'"'--region'"'"' needs a value"* ]]'

run opsrun
expect "no script exits 2" '[ $status -eq 2 ] && [[ "$err" == "opsrun: no script given"* ]]'

boom=$(write_script boom.lua <<'LUA'
local function inner() error("boom") end
inner()
LUA
)
run opsrun "$boom"
expect "a script error exits 1 with its message and a traceback" \
  '[ $status -eq 1 ] && [[ "$err" == "opsrun: $boom:1: boom"$'"'"'\n'"'"'"stack traceback:"* ]] && [[ "$err" == *"in local '"'"'inner'"'"'"* ]]'

run opsrun -e 'error(setmetatable({}, {__tostring = function() return "AccessDenied (assume 1): no" end}))'
expect "an error object is shown by its tostring" '[ $status -eq 1 ] && [[ "$err" == "opsrun: AccessDenied (assume 1): no"* ]]'
# Start-up: libcurl and libcrypto are loaded at their first use (runtime/lazy_library.h), so a
# chunk that sends and signs nothing never maps them (liblua, linked, shows the maps were read).
run opsrun -e 'local f = io.open("/proc/self/maps") local maps = f:read("a") f:close()
  for _, lib in ipairs({ "liblua5.4.so", "libcurl.so", "libcrypto.so" }) do
    io.write(maps:find(lib, 1, true) and lib or "-", " ") end'
expect "a chunk that sends nothing maps neither libcurl nor libcrypto" \
  '[ $status -eq 0 ] && [ "$out" = "liblua5.4.so - - " ]'

run opsrun -e 'error({kind = "x"})'
expect "a table without __tostring is worded as lua5.4 words it, not by its address" \
  '[ $status -eq 1 ] && [[ "$err" == "opsrun: (error object is a table value)"$'"'"'\n'"'"'"stack traceback:"* ]]'

run opsrun -e 'error(setmetatable({kind = "registry", message = "r.json: /accounts/0/id: expected 12 digits"},
  {__tostring = function(e) return e.message end}))'
expect "an uncaught configuration error exits 2 with one line, no traceback" \
  '[ $status -eq 2 ] && [ "$err" = "opsrun: r.json: /accounts/0/id: expected 12 digits" ]'

run opsrun -e 'x = = 1'
expect "a syntax error exits 1 with one line" '[ $status -eq 1 ] && [ $(lines "$err") -eq 1 ] && [[ "$err" == *"unexpected symbol"* ]]'

# --- sweeps ----------------------------------------------------------------------------------

start=$(date +%s%N)
run opsrun -e 'local r = sweep({1,2,3,4,5,6,7,8}, function(i) sleep(1) return i end, {concurrency=8}) print(#r, r[8].value)'
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "8 tasks sleeping 1 s at concurrency 8 take about one second, not eight (${elapsed_ms} ms)" \
  '[ $status -eq 0 ] && [ "$out" = "8	8" ] && [ $elapsed_ms -ge 1000 ] && [ $elapsed_ms -lt 3000 ]'
expect "a sweep prints its one-line summary on stderr" '[[ "$err" == "sweep: 8 tasks in 1.0 s: 8 ok, 0 failed" ]]'

run opsrun -e 'local r = sweep({"a","b","c"}, function(i) if i == "b" then sleep(10) end return i end, {timeout=0.3})
for _, x in ipairs(r) do print(x.item, x.ok, x.error and x.error.kind) end'
expect "a task past its timeout is a timeout error, the others succeed, exit 3" \
  '[ $status -eq 3 ] && [ "$out" = "a	true	nil
b	false	timeout
c	true	nil" ] && [[ "$err" == *"sweep: 3 tasks in 0.3 s: 2 ok, 1 failed (1 timeout)"* ]]'

run opsrun --timeout 0.2 -e 'print(sweep({1}, function() sleep(5) end)[1].error.kind)'
expect "--timeout sets the default task deadline" '[ $status -eq 3 ] && [ "$out" = timeout ]'

run opsrun -j 2 -e 'local n, peak = 0, 0
sweep({1,2,3,4,5,6}, function() n = n + 1 peak = math.max(peak, n) sleep(0.05) n = n - 1 end)
print(peak)'
expect "-j sets the default concurrency" '[ "$out" = 2 ]'

run opsrun -e 'sweep({1}, function() error("bad") end) error("and then the script fails")'
expect "a script error after a failed task still exits 1" '[ $status -eq 1 ]'

# os.exit(0) after a failed task exited 0: a playbook could hide a failed account from cron
run opsrun -o table -e 'sweep({1}, function() error("bad") end) emit{a = 1} os.exit(0)'
expect "os.exit(0) after a failed sweep task exits 3, as the script's end would, rows printed first" \
  '[ $status -eq 3 ] && [ "$out" = "a
1" ]'
run opsrun -e 'sweep({1}, function() error("bad") end) os.exit(true)'
expect "... os.exit(true) too" '[ $status -eq 3 ]'
run opsrun -e 'sweep({1}, function() error("bad") end) os.exit(7)'
expect "... while another status it asks for stands" '[ $status -eq 7 ]'
run opsrun -e 'sweep({1}, function() end) os.exit(0)'
expect "... and os.exit(0) with no failure exits 0" '[ $status -eq 0 ]'

run opsrun -q -e 'sweep({1}, function() end)'
expect "-q hides the summary" '[ -z "$err" ]'

# --- logging ---------------------------------------------------------------------------------

logs='sweep({"222222222222"}, function() log.info("hello %d", 5) log.warn("careful") log.debug("detail") end)'
run opsrun -e "$logs"
expect "warnings show by default, info does not" \
  '[[ "$err" =~ ^[0-9T:.-]+Z\ WARN\ \ \[222222222222\]\ careful ]] && [[ "$err" != *hello* ]]'

run opsrun -v -e "$logs"
expect "-v shows info with the task's account" '[[ "$err" == *"INFO  [222222222222] hello 5"* ]] && [[ "$err" != *detail* ]]'

run opsrun -vv -e "$logs"
expect "-vv shows debug" '[[ "$err" == *"DEBUG [222222222222] detail"* ]]'

run opsrun -qq -e "$logs"
expect "-qq hides warnings" '[ -z "$err" ]'

run opsrun -v --log-format json -e "$logs"
expect "--log-format json writes one object a line" \
  '[ "$(printf "%s\n" "$err" | jq -c "select(.level == \"info\") | [.account, .message]")" = "[\"222222222222\",\"hello 5\"]" ] && [ "$(printf "%s\n" "$err" | jq -s length)" -eq 3 ]'

# --- the REPL --------------------------------------------------------------------------------

run_stdin $'1 + 1\n=2 * 3\nlocal x = 5\nfor i = 1, 2 do\nprint(i)\nend\nerror("oops")\n#sweep({1}, function() sleep(0.01) end)\nprint("after")\n' opsrun -i
expect "the REPL prints values, continues statements, runs tasks and survives errors" \
  '[ $status -eq 0 ] && [ "$out" = "2
6
1
2
1
after" ]'
expect "the REPL reports an error and goes on" '[[ "$err" == *"oops"* ]]'

run_stdin $'sweep({1}, function() error("task fails") end)\n' opsrun -i
expect "leaving the REPL after a failed sweep exits 0: status 3 is for unattended runs" \
  '[ $status -eq 0 ] && [[ "$err" == *"1 failed"* ]]'

# --- progress on a terminal ------------------------------------------------------------------

progress='sweep({1,2,3}, function() sleep(0.3) end, {concurrency=1})'
run script -qec "$OPSRUN -e '$progress'" /dev/null
expect "a progress line is drawn when stderr is a terminal" '[[ "$out" == *"sweep 0/3 · 1 running"* ]]'
run script -qec "$OPSRUN --no-progress -e '$progress'" /dev/null
expect "--no-progress turns it off" '[[ "$out" != *"running"* ]] && [[ "$out" == *"sweep: 3 tasks"* ]]'
run opsrun -e "$progress"
expect "no progress line when stderr is not a terminal" '[[ "$err" != *"running"* ]]'

# --- help and version ------------------------------------------------------------------------

run opsrun --version
expect "--version names opsrun, Lua, libcurl and OpenSSL" \
  '[ $status -eq 0 ] && [[ "$out" =~ ^opsrun\ [0-9.]+\ \(Lua\ 5\.4\.[0-9]+,\ libcurl\ [0-9.]+,\ OpenSSL\ 3 ]]'

run opsrun --help
expect "--help lists every option" '[ $status -eq 0 ] && for o in --registry --profile --region --role --mcp-url --account --concurrency --timeout --output --shard --log-format --no-progress --version; do [[ "$out" == *"$o"* ]] || exit 1; done'

finish

#!/usr/bin/env bash
# emit_test.sh: emit(row) of the real binary in each --output format (SPEC sections 1 and 4),
# parsed back by real parsers: jq for json and jsonl, Python's csv module for csv, and the
# table's columns sliced at the header's offsets. Rows from 200 concurrent sweep tasks are all
# there, each whole. table, json and csv are printed when the script ends (the host calls
# private.emit_finish), in input order; jsonl is written as each row comes. -o json prints [] when
# nothing was emitted; --columns and emit.columns order the columns; JSON leaves / unescaped. The
# simulator gives a sweep over accounts with real role ARNs (issue 15 items 3, 4, 5).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

# Rows with awkward values: separators, quotes, line breaks, UTF-8, numbers, booleans, missing
# keys (nil) and json.null; the wide one is shortened in a table.
rows=$(write_script rows.lua <<'LUA'
emit({ account = "200000000001", name = "Production", region = "us-east-1", count = 3 },
  { "account", "name", "region" })
emit { account = "200000000002", name = 'comma, "quote"', region = "eu-west-1", count = 0, ok = true }
emit { account = "200000000003", name = "line\nbreak\r\nend", owner = "é 😀", count = 2 ^ 53 // 1 + 0.5 }
emit { account = "200000000004", name = string.rep("w", 100), region = json.null, count = (1 << 53) + 1 }
LUA
)

# --- jsonl -------------------------------------------------------------------------------------

run opsrun -o jsonl "$rows"
expect "jsonl: one JSON object a line, in emit order, keys in column order, numbers exact" \
  '[ $status -eq 0 ] && [ "$out" = "$(printf "%s\n" \
    "{\"account\":\"200000000001\",\"name\":\"Production\",\"region\":\"us-east-1\",\"count\":3}" \
    "{\"account\":\"200000000002\",\"name\":\"comma, \\\"quote\\\"\",\"region\":\"eu-west-1\",\"count\":0,\"ok\":true}" \
    "{\"account\":\"200000000003\",\"name\":\"line\\nbreak\\r\\nend\",\"count\":9007199254740992.0,\"owner\":\"é 😀\"}" \
    "{\"account\":\"200000000004\",\"name\":\"$(printf "w%.0s" {1..100})\",\"region\":null,\"count\":9007199254740993}")" ]'
expect "jsonl: jq reads every line back" \
  '[ "$(jq -r .account <<<"$out" | tr "\n" " ")" = "200000000001 200000000002 200000000003 200000000004 " ] &&
   [ "$(jq -r "select(.account == \"200000000003\") | .name" <<<"$out")" = "$(printf "line\nbreak\r\nend")" ]'

run opsrun "$rows"
expect "stdout not a terminal: jsonl by default" '[ $status -eq 0 ] && [ $(lines "$out") -eq 4 ] && jq -e . <<<"$out" >/dev/null'

"$OPSRUN" -o jsonl -e 'emit{ row = 1 } sleep(5) emit{ row = 2 }' >"$E2E_TMP/stream" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [ -s "$E2E_TMP/stream" ] && break; sleep 0.1; done
streamed=$(cat "$E2E_TMP/stream")
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect "jsonl: a row is on stdout while the script still runs" '[ "$streamed" = "{\"row\":1}" ]'

# --- json --------------------------------------------------------------------------------------

run opsrun -o json "$rows"
expect "json: one array, parsed by jq, rows in emit order" \
  '[ $status -eq 0 ] && [ "$(jq length <<<"$out")" = 4 ] &&
   [ "$(jq -r "map(.account) | join(\" \")" <<<"$out")" = "200000000001 200000000002 200000000003 200000000004" ] &&
   [ "$(jq -r ".[2].name" <<<"$out")" = "$(printf "line\nbreak\r\nend")" ] && [ "$(jq ".[3].region" <<<"$out")" = null ]'

run opsrun -o json -e 'print("before") emit{ a = 1 } print("after")'
expect "json: the array comes when the script ends, after its own output" \
  '[ "$out" = "before
after
[
{\"a\":1}
]" ]'

run opsrun -o json -e 'print("no rows")'
expect "json: nothing emitted, an empty array after the script's own output" \
  '[ $status -eq 0 ] && [ "$out" = "no rows
[]" ] && [ "$(tail -c3 "$E2E_TMP/out")" = "$(printf "[]\n")" ]'
run opsrun -o json -e 'os.exit(0)'
expect "json: ... and so when the script calls os.exit" '[ $status -eq 0 ] && [ "$out" = "[]" ]'
run opsrun -o json -e 'error("boom")'
expect "json: ... and after an error" '[ $status -eq 1 ] && [ "$out" = "[]" ]'
for format in table csv jsonl; do
  run opsrun -o "$format" -e 'print("no rows")'
  expect "$format: nothing emitted, nothing added to stdout" '[ $status -eq 0 ] && [ "$out" = "no rows" ]'
done
"$OPSRUN" -o json -e 'io.stdout:write("started\n") io.stdout:flush() sleep(30)' >"$E2E_TMP/stopped" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [ -s "$E2E_TMP/stopped" ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
status=$?
out=$(cat "$E2E_TMP/stopped")
expect "json: an interrupted script that emitted nothing prints [] too, and exits 130" \
  '[ $status -eq 130 ] && [ "$out" = "started
[]" ]'

run opsrun -o json -e 'emit{ a = 1 } error("boom")'
expect "json: rows emitted before an error are still printed" \
  '[ $status -eq 1 ] && [ "$(jq -c . <<<"$out")" = "[{\"a\":1}]" ]'

# --- csv ---------------------------------------------------------------------------------------

run opsrun -o csv "$rows"
csv_json=$(python3 -c '
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    print(json.dumps(list(csv.reader(f)), ensure_ascii=False))' "$E2E_TMP/out")
expect "csv: Python's csv module reads the header (union of keys) and every field back" \
  '[ $status -eq 0 ] && [ "$csv_json" = "$(printf "%s" "[[\"account\", \"name\", \"region\", \"count\", \"ok\", \"owner\"], " \
    "[\"200000000001\", \"Production\", \"us-east-1\", \"3\", \"\", \"\"], " \
    "[\"200000000002\", \"comma, \\\"quote\\\"\", \"eu-west-1\", \"0\", \"true\", \"\"], " \
    "[\"200000000003\", \"line\\nbreak\\r\\nend\", \"\", \"9007199254740992.0\", \"\", \"é 😀\"], " \
    "[\"200000000004\", \"$(printf "w%.0s" {1..100})\", \"\", \"9007199254740993\", \"\", \"\"]]")" ]'
expect "csv: every record ends with CRLF" \
  '[ "$(grep -c $'"'"'\r$'"'"' "$E2E_TMP/out")" -eq 6 ] && [ "$(tail -c2 "$E2E_TMP/out" | od -An -c | tr -d " ")" = "\r\n" ]'

# Text a spreadsheet takes for a formula: exactly as it is by default (RFC 4180), behind a quote
# with --csv-safe or OPSRUN_CSV_SAFE (OWASP's mitigation of CSV injection).
formula='emit { cell = "=HYPERLINK(\"http://x\")", n = -5 }'
run opsrun -o csv -e "$formula"
expect "csv: a cell that starts a formula is kept as it is by default" \
  '[ "$out" = "$(printf "cell,n\r\n\"=HYPERLINK(\"\"http://x\"\")\",-5\r")" ]'
run opsrun -o csv --csv-safe -e "$formula"
expect "csv --csv-safe: it gets a leading quote, the number does not" \
  '[ "$out" = "$(printf "cell,n\r\n\"'"'"'=HYPERLINK(\"\"http://x\"\")\",-5\r")" ]'
run env OPSRUN_CSV_SAFE=1 "$OPSRUN" -o csv -e "$formula"
expect "... and so with OPSRUN_CSV_SAFE=1" '[[ "$out" == *"\"'"'"'=HYPERLINK("* ]]'
run env OPSRUN_CSV_SAFE=maybe "$OPSRUN" -o csv -e "$formula"
expect "OPSRUN_CSV_SAFE that is not a yes or no is a usage error" \
  '[ $status -eq 2 ] && [[ "$err" == *"OPSRUN_CSV_SAFE must be 1 or 0 (true or false), got '"'"'maybe'"'"'"* ]]'

# --- table -------------------------------------------------------------------------------------

# Slices each line at the header's column offsets (in characters) and compares the cells with
# the rows read back from jsonl: values as they are, wide ones cut to 59 and an ellipsis,
# line breaks shown as \n and \r, every column starting at the same offset on every line, two
# spaces between columns, no trailing spaces. ORDER is "same" (rows in the same order) or "any"
# (the same rows in any order: tasks finish in a different order in each run).
check_table() { # TABLE_FILE JSONL_FILE ORDER
  python3 - "$@" <<'PY'
import json, re, sys
table_file, jsonl_file, order = sys.argv[1:]
table = open(table_file, encoding="utf-8").read().split("\n")
assert table[-1] == "", "the table ends with a newline"
table = table[:-1]
rows = [json.loads(line) for line in open(jsonl_file, encoding="utf-8")]
header = table[0]
starts = [m.start() for m in re.finditer(r"\S+", header)]
names = header.split()
assert len(table) == len(rows) + 1, f"{len(table) - 1} table rows for {len(rows)} emitted"

def shown(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text if len(text) <= 60 else text[:59] + "…"

def cells(line):
    assert line == line.rstrip(), f"trailing spaces: {line!r}"
    for start in starts[1:]:
        assert len(line) <= start - 2 or line[start - 2:start] == "  ", f"no gap at {start}: {line!r}"
    return tuple(line[a:b].rstrip() for a, b in zip(starts, starts[1:] + [None]))

got = [cells(line) for line in table[1:]]
want = [tuple(shown(row.get(name)) for name in names) for row in rows]
if order == "any":
    got, want = sorted(got), sorted(want)
for g, w in zip(got, want):
    assert g == w, f"{g!r} != {w!r}"
print("ok")
PY
}

run opsrun -o table "$rows"
cp "$E2E_TMP/out" "$E2E_TMP/table"
run opsrun -o jsonl "$rows"
cp "$E2E_TMP/out" "$E2E_TMP/jsonl"
aligned=$(check_table "$E2E_TMP/table" "$E2E_TMP/jsonl" same 2>&1)
table=$(cat "$E2E_TMP/table")
expect "table: columns aligned under the header, cells equal the rows ($aligned)" '[ "$aligned" = ok ]'
expect "table: a 100-character value is cut to 59 and an ellipsis" \
  '[[ "$table" == *"$(printf "w%.0s" {1..59})…"* ]] && [[ "$table" != *"$(printf "w%.0s" {1..60})"* ]]'
expect "table: the header is the union of keys in first-seen order" \
  '[ "$(head -1 <<<"$table" | tr -s " ")" = "account name region count ok owner" ]'

# --- many tasks at once ------------------------------------------------------------------------

many=$(write_script many.lua <<'LUA'
sweep((function() local t = {} for i = 1, 200 do t[i] = i end return t end)(), function(i)
  sleep(math.random() * 0.3)
  emit { task = i, account = string.format("%012d", i), text = string.rep("x", i) .. "\n," .. '"' }
end, { concurrency = 200 })
LUA
)
for format in jsonl json csv table; do
  run opsrun -o "$format" --no-progress "$many"
  cp "$E2E_TMP/out" "$E2E_TMP/many.$format"
done
intact_jsonl=$(jq -r 'select(.text == ("x" * .task) + "\n,\"" and .account == ("000000000000" + (.task | tostring))[-12:]) | .task' \
  "$E2E_TMP/many.jsonl" | sort -n | uniq | wc -l)
expect "jsonl: rows from 200 concurrent tasks are all there, each whole ($intact_jsonl)" \
  '[ "$intact_jsonl" = 200 ] && [ "$(wc -l <"$E2E_TMP/many.jsonl")" = 200 ]'
intact_json=$(jq '[.[] | select(.text == ("x" * .task) + "\n,\"")] | map(.task) | unique | length' "$E2E_TMP/many.json")
expect "json: 200 tasks' rows in one array ($intact_json)" '[ "$intact_json" = 200 ]'
intact_csv=$(python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
print(len({r["task"] for r in rows if r["text"] == "x" * int(r["task"]) + "\n,\"" and int(r["account"]) == int(r["task"])}), len(rows))' \
  "$E2E_TMP/many.csv")
expect "csv: 200 tasks' rows, each whole ($intact_csv)" '[ "$intact_csv" = "200 200" ]'
many_table=$(check_table "$E2E_TMP/many.table" "$E2E_TMP/many.jsonl" any 2>&1)
expect "table: 200 tasks' rows, aligned ($many_table)" '[ "$many_table" = ok ]'
seq 200 >"$E2E_TMP/input_order"
expect "json, csv and table: the 200 tasks' rows in input order, whatever order they finished in" \
  'jq -r ".[].task" "$E2E_TMP/many.json" | cmp -s - "$E2E_TMP/input_order" &&
   python3 -c "import csv, sys; [print(r[\"task\"]) for r in csv.DictReader(open(sys.argv[1], newline=\"\"))]" \
     "$E2E_TMP/many.csv" | cmp -s - "$E2E_TMP/input_order" &&
   tail -n +2 "$E2E_TMP/many.table" | awk "{print \$2}" | cmp -s - "$E2E_TMP/input_order"'
expect "jsonl: the same rows in completion order, not sorted" \
  '! jq -r .task "$E2E_TMP/many.jsonl" | cmp -s - "$E2E_TMP/input_order"'

run opsrun -o table -e 'emit{ a = 1 } emit{ b = "x" }'
expect "table: rows print in the order emitted, missing cells blank" \
  '[ "$out" = "a  b
1
   x" ]'

run opsrun -e 'print(emit == require("opsrun").emit, type(emit), type(emit.columns))'
expect "emit is a global and require(\"opsrun\").emit, a callable table with columns" \
  '[ "$out" = "true	table	function" ]'

run opsrun -o jsonl -e 'emit{ nested = {} }'
expect "a nested value is a bad argument that says what to do" \
  '[ $status -eq 1 ] && [[ "$err" == *"bad argument #1 to '"'"'emit'"'"' (row.nested is a table; a row is flat"*"json.encode a nested value"* ]]'

# --- against the simulator: accounts in input order, real role ARNs ------------------------------

sim_start --accounts 4 || exit 1
sim_get '{accounts: [.accounts[] | {id: ., name: ("acct-" + .)}]}' >"$E2E_TMP/registry.json"
mapfile -t accounts < <(sim_get '.accounts[]')
# Each task asks STS through the MCP server for its caller's ARN, waits for the others to have
# theirs, then sleeps less the later its account and region come, so the tasks finish in the
# reverse of input order; each emits two rows.
reversed=$(write_script reversed.lua <<'LUA'
local list = accounts()
local position, ready = {}, 0
for i, acct in ipairs(list) do position[acct.id] = i end
emit { account = "before" }
sweep(list, function(acct, region)
  local n = (position[acct.id] - 1) * 2 + (region == "us-east-1" and 1 or 2)
  assume(acct)
  local arn = mcp.boto3("sts", "GetCallerIdentity").Arn
  ready = ready + 1
  while ready < #list * 2 do sleep(0.02) end
  sleep((#list * 2 - n) * 0.1)
  emit({ account = acct.id, region = region, arn = arn }, { "account", "region" })
  emit { account = acct.id, region = region, arn = "second" }
end, { regions = { "us-east-1", "eu-west-1" }, concurrency = 8 })
emit { account = "after" }
LUA
)
opsrun_sim() {
  sim_run opsrun --no-progress -r "$E2E_TMP/registry.json" "$@"
}
input_order=$(echo before
  for id in "${accounts[@]}"; do
    for region in us-east-1 eu-west-1; do printf '%s %s\n%s %s\n' "$id" "$region" "$id" "$region"; done
  done
  echo after)
for format in jsonl json csv table; do
  opsrun_sim -o "$format" "$reversed"
  cp "$E2E_TMP/out" "$E2E_TMP/reversed.$format"
  expect "sweep over the simulator's accounts with -o $format: exit 0" '[ $status -eq 0 ]'
done
pairs() { sed -E 's/ +$//'; }
got_json=$(jq -r '.[] | [.account, .region // empty] | join(" ")' "$E2E_TMP/reversed.json")
expect "json: rows in input order (account x region, then emit order), though tasks finished in reverse" \
  '[ "$got_json" = "$input_order" ]'
got_csv=$(tail -n +2 "$E2E_TMP/reversed.csv" | tr -d "\r" | awk -F, "{print \$1, \$2}" | pairs)
expect "csv: rows in input order, header as emit's columns said" \
  '[ "$got_csv" = "$input_order" ] && [ "$(head -1 "$E2E_TMP/reversed.csv")" = "$(printf "account,region,arn\r")" ]'
got_table=$(tail -n +2 "$E2E_TMP/reversed.table" | awk "{print \$1, \$2}" | pairs)
expect "table: rows in input order" '[ "$got_table" = "$input_order" ]'
got_jsonl=$(jq -r 'select(.arn != "second") | [.account, .region // empty] | join(" ")' "$E2E_TMP/reversed.jsonl")
completion_order=$(echo before
  for ((i = ${#accounts[@]} - 1; i >= 0; i--)); do
    printf '%s eu-west-1\n%s us-east-1\n' "${accounts[i]}" "${accounts[i]}"
  done
  echo after)
expect "jsonl: rows stream in completion order (the reverse)" '[ "$got_jsonl" = "$completion_order" ]'

expect "json and jsonl: role ARNs with plain slashes, found by grep assumed-role/" \
  '[ "$(grep -c "\"arn:aws:sts::[0-9]\{12\}:assumed-role/" "$E2E_TMP/reversed.json")" -eq 8 ] &&
   [ "$(grep -c "\"arn:aws:sts::[0-9]\{12\}:assumed-role/" "$E2E_TMP/reversed.jsonl")" -eq 8 ] &&
   ! grep -q "\\\\/" "$E2E_TMP/reversed.json" "$E2E_TMP/reversed.jsonl" &&
   [ "$(jq -r ".[1].arn" "$E2E_TMP/reversed.json")" = "$(jq -r "select(.account == \"${accounts[0]}\" and .region == \"us-east-1\" and .arn != \"second\") | .arn" "$E2E_TMP/reversed.jsonl")" ]'

opsrun_sim -e "assume('${accounts[0]}') print(json.encode({ arn = whoami().arn or mcp.boto3('sts', 'GetCallerIdentity').Arn, path = 'a\\\\/b' }))"
expect "json.encode in a playbook leaves / as it is, a backslash before one escaped" \
  '[ $status -eq 0 ] && [[ "$out" == *":assumed-role/"* ]] && [[ "$out" == *"\"a\\\\/b\""* ]] &&
   [ "$(jq -r .path <<<"$out")" = "a\\/b" ]'

opsrun_sim -o json --account "${accounts[1]}" call aws___run_script \
  '{"code": "await call_boto3(service_name=\"sts\", operation_name=\"GetCallerIdentity\")"}'
expect "opsrun -o json call: the ARN with plain slashes, one JSON document (no [] after it)" \
  '[ $status -eq 0 ] && grep -q ":assumed-role/" <<<"$out" && ! grep -qF "\\/" <<<"$out" &&
   [ "$(jq -s length <<<"$out")" = 1 ] && [ "$(jq -r .return_value.Arn <<<"$out")" = "$(jq -r \
     "select(.account == \"${accounts[1]}\" and .region == \"us-east-1\" and .arn != \"second\") | .arn" \
     "$E2E_TMP/reversed.jsonl")" ]'

# --- column order ------------------------------------------------------------------------------

columns='emit{ region = "us-east-1", id = "i-1", account = "1" } emit{ account = "2", extra = true }'
run opsrun -o csv --columns owner,id -e "$columns"
expect "--columns: named columns first in that order, a column no row has still in the header" \
  '[ "$out" = "$(printf "owner,id,account,region,extra\r\n,i-1,1,us-east-1,\r\n,,2,,true\r")" ]'
run opsrun -o jsonl --columns region,account -e "$columns"
expect "--columns: the key order of JSON objects, which hold only a row's own keys" \
  '[ "$out" = "{\"region\":\"us-east-1\",\"account\":\"1\",\"id\":\"i-1\"}
{\"account\":\"2\",\"extra\":true}" ]'
run opsrun -o table -e "emit.columns{ \"extra\", \"id\" } $columns"
expect "emit.columns: the playbook states the order" \
  '[ "$out" = "extra  id   account  region
       i-1  1        us-east-1
true        2" ]'
run opsrun -o csv --columns region -e "emit.columns{ \"extra\", \"region\" } $columns"
expect "--columns first, then emit.columns, then the rest" \
  '[ "$(head -1 <<<"$out")" = "$(printf "region,extra,account,id\r")" ]'
for bad in "" "a,,b" ",a" "a,"; do
  run opsrun --columns "$bad" -e 'emit{ a = 1 }'
  expect "--columns '$bad' is a usage error" \
    '[ $status -eq 2 ] && [[ "$err" == "opsrun: --columns must be column names separated by commas (such as account,region), got '"'"'$bad'"'"'"* ]]'
done

finish

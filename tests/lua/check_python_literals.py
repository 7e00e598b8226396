#!/usr/bin/env python3
"""check_python_literals.py: reads what tests/lua/boto3_spec.lua's fuzz wrote (JSON lines) and
checks it with CPython's own parser, so that the encoder in bindings/lua/boto3.lua is judged by
Python rather than by itself. Each line is one of:

  {"kind": "value", "literal": L, "script": S, "service": ..., "operation": ..., "region": ...,
   "expected": TAGGED}
      L must be pure printable ASCII, ast.literal_eval(L) must equal the decoded TAGGED value
      exactly (types too: True is not 1, 1 is not 1.0, -0.0 is not 0.0), and S must parse to
      exactly two statements: `result = await call_boto3(...)` with the four keywords
      service_name, operation_name, region_name, params (no positional arguments, the first
      three equal to the given strings, params equal to TAGGED), then the bare expression
      `result`; and S must compile as the hosted sandbox compiles it (a module with top-level
      await: compile(S, "<script>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)).
  {"kind": "utf8", "hex": H, "lua_valid": B}
      B (whether Lua's encoder accepted the bytes) must equal whether Python decodes them as
      strict UTF-8.

TAGGED is an unambiguous encoding of the Lua value: ["n"] None, ["b", true], ["i", "123"],
["f", "0x1.8p+1"] (C's %a, read with float.fromhex), ["s", "text"], ["l", [items]],
["d", [[key, value], ...]] (keys are TAGGED too).

Usage: check_python_literals.py FILE. Prints "N values and M byte strings checked" or the first
failures, and exits 0 or 1.
"""
import ast
import json
import math
import sys

KEYWORDS = ["service_name", "operation_name", "region_name", "params"]


def decode(tagged):
    tag = tagged[0]
    if tag == "n":
        return None
    if tag == "b":
        return bool(tagged[1])
    if tag == "i":
        return int(tagged[1])
    if tag == "f":
        return float.fromhex(tagged[1])
    if tag == "s":
        return tagged[1]
    if tag == "l":
        return [decode(item) for item in tagged[1]]
    if tag == "d":
        pairs = tagged[1] or []  # lua-cjson writes an empty Lua table as {}
        return {decode(key): decode(value) for key, value in pairs}
    raise ValueError(f"unknown tag {tag!r}")


def same(a, b):
    """Equality that also insists on the same types and on the sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def check_script(record, expected):
    """None, or what is wrong with the generated script's shape."""
    # ast.parse accepts what the compiler refuses (a module-level return): compile, as the
    # sandbox does, before looking at the shape.
    compile(record["script"], "<script>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    tree = ast.parse(record["script"], mode="exec")
    body = tree.body
    if len(body) != 2:
        return f"{len(body)} statements, expected 2"
    assign, final = body
    if not (isinstance(assign, ast.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0], ast.Name) and assign.targets[0].id == "result"):
        return "the first statement is not `result = ...`"
    awaited = assign.value
    if not (isinstance(awaited, ast.Await) and isinstance(awaited.value, ast.Call)):
        return "the assigned value is not an awaited call"
    call = awaited.value
    if not (isinstance(call.func, ast.Name) and call.func.id == "call_boto3"):
        return "the call is not to call_boto3"
    if call.args:
        return "call_boto3 has positional arguments"
    if [k.arg for k in call.keywords] != KEYWORDS:
        return f"keywords {[k.arg for k in call.keywords]}, expected {KEYWORDS}"
    values = [ast.literal_eval(k.value) for k in call.keywords]
    for name, value in zip(KEYWORDS[:3], values[:3]):
        if not same(value, record[name.split("_")[0]]):
            return f"{name} is {value!r}, expected {record[name.split('_')[0]]!r}"
    if not same(values[3], expected):
        return "params in the script differ from the value"
    if not (isinstance(final, ast.Expr) and isinstance(final.value, ast.Name)
            and final.value.id == "result"):
        return "the second statement is not the bare expression `result`"
    return None


def check_value(record):
    literal = record["literal"]
    if not all(0x20 <= ord(c) < 0x7F for c in literal):
        return "the literal is not printable ASCII"
    expected = decode(record["expected"])
    try:
        got = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        return f"literal_eval failed: {exc!r}"
    if not same(got, expected):
        return f"literal_eval gives {got!r:.300}, expected {expected!r:.300}"
    try:
        return check_script(record, expected)
    except (ValueError, SyntaxError) as exc:
        return f"the script does not parse: {exc!r}"


def check_utf8(record):
    raw = bytes.fromhex(record["hex"])
    try:
        raw.decode("utf-8", errors="strict")
        python_valid = True
    except UnicodeDecodeError:
        python_valid = False
    if python_valid != record["lua_valid"]:
        return f"Lua says valid={record['lua_valid']}, Python says valid={python_valid}"
    return None


def main(path):
    counts = {"value": 0, "utf8": 0}
    failures = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            kind = record["kind"]
            counts[kind] += 1
            problem = check_value(record) if kind == "value" else check_utf8(record)
            if problem:
                failures.append(f"line {number}: {problem}\n    {line.strip()[:400]}")
    for failure in failures[:10]:
        print(failure)
    print(f"{counts['value']} values and {counts['utf8']} byte strings checked, "
          f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

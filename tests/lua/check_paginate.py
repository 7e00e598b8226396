#!/usr/bin/python3
"""check_paginate.py: judges the scripts mcp.paginate (bindings/lua/paginate.lua) generates by
running each with CPython against a fake call_boto3 that serves canned pages, and botocore's own
paginator (Debian's python3-botocore, driven by a stub method: no network) over the same pages.
Reads what tests/lua/paginate_spec.lua wrote, one JSON object a line:

  {"name": ..., "service": ..., "operation": ..., "region": ..., "params": {...},
   "max_items": N or null, "page_size": N or null, "script": CODE,
   "pages": "[PAGE, ...]" or null, "seed": N}

"pages" is JSON text, so that an empty list stays a list on its way from Lua. With it null, the
pages are drawn at random (seeded) from botocore's paginator definition for the operation:
tokens present, empty or missing, empty pages, more_results flags true or false, result keys
missing, tokens repeated. Each script must compile as the hosted sandbox
compiles it (a module with top-level await), import nothing, end in a bare expression, carry
botocore's rule for the operation, and then make the same requests (the same params, in the
same order) and end with the same value as PageIterator.build_full_result(), type for type; or
fail where botocore fails. botocore's resume token (the NextToken it adds under MaxItems) is
left out: opsrun has no starting token to resume from. A request beyond the canned pages is
answered {} (a last page) by both.

Usage: check_paginate.py FILE. Prints "N scripts checked (M with canned pages), F failed" after
the first failures, and exits 0 or 1.
"""
import ast
import asyncio
import copy
import json
import os
import random
import sys

import botocore.session
from botocore.paginate import Paginator
from botocore.utils import set_value_from_jmespath

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_python_literals import same  # noqa: E402  (type-strict equality)

SESSION = botocore.session.get_session()


def as_list(value):
    return value if isinstance(value, list) else [value]


def botocore_rule(config):
    """The rule as paginate.lua writes it into the script, from botocore's definition."""
    return {
        "input_token": as_list(config["input_token"]),
        "output_token": [e.replace(" ", "") for e in as_list(config["output_token"])],
        "result_key": as_list(config["result_key"]),
        "more_results": config.get("more_results"),
        "non_aggregate_keys": config.get("non_aggregate_keys", []),
    }


class Pages:
    """Serves deep copies of the pages in order ({} once they run out), recording each request."""

    def __init__(self, pages):
        self.pages, self.requests = pages, []

    def next(self, params):
        self.requests.append(copy.deepcopy(params))
        index = len(self.requests) - 1
        return copy.deepcopy(self.pages[index]) if index < len(self.pages) else {}


def statements(body):
    """Every statement in a body, nested ones too (imports are statements)."""
    for statement in body:
        yield statement
        for field in ("body", "orelse", "finalbody"):
            yield from statements(getattr(statement, field, []))
        for handler in getattr(statement, "handlers", []):
            yield from statements(handler.body)


def prepare(code):
    """The script compiled to leave its final expression's value in __value__, and its rule.
    Raises SyntaxError or ValueError for a script the sandbox would refuse or we do not expect."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    compile(code, "<script>", "exec", flags=flags)  # exactly as the sandbox compiles it
    tree = ast.parse(code)
    for statement in statements(tree.body):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            raise ValueError(f"the script imports (line {statement.lineno})")
    if not isinstance(tree.body[-1], ast.Expr):
        raise ValueError("the script does not end in a bare expression")
    rules = [statement.value for statement in tree.body if isinstance(statement, ast.Assign)
             and [t.id for t in statement.targets if isinstance(t, ast.Name)] == ["rule"]]
    if len(rules) != 1:
        raise ValueError("the script has no single `rule = ...`")
    final = tree.body[-1]
    target = ast.copy_location(ast.Name("__value__", ast.Store()), final)
    tree.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=final.value), final)
    return compile(tree, "<script>", "exec", flags=flags), ast.literal_eval(rules[0])


async def run_script(case, compiled, pages):
    async def call_boto3(*, service_name, operation_name, region_name=None, params=None):
        called = (service_name, operation_name, region_name)
        expected = (case["service"], case["operation"], case["region"])
        if called != expected:
            raise AssertionError(f"call_boto3{called}, expected {expected}")
        return pages.next(params)

    scope = {"call_boto3": call_boto3}
    running = eval(compiled, scope)
    if asyncio.iscoroutine(running):
        await running
    return scope["__value__"]


def run_botocore(case, config, pages):
    paging = {}
    if case["max_items"] is not None:
        paging["MaxItems"] = case["max_items"]
    model = None
    if case["page_size"] is not None:
        paging["PageSize"] = case["page_size"]
        model = SESSION.get_service_model(case["service"]).operation_model(case["operation"])
    iterator = Paginator(lambda **params: pages.next(params), config, model).paginate(
        **copy.deepcopy(case["params"]), PaginationConfig=paging)
    full = iterator.build_full_result()
    if iterator.resume_token is not None:
        del full["NextToken"]
    return full


def outcome(run):
    """('value', v) or ('error', text) of run()."""
    try:
        return "value", run()
    except Exception as exc:  # the script's and botocore's failures are compared, not raised
        return "error", f"{type(exc).__name__}: {exc}"


def random_pages(config, rng):
    """Pages shaped by the operation's definition, with the irregularities real services show."""
    results = as_list(config["result_key"])
    outputs = [alternative.strip() for expression in as_list(config["output_token"])
               for alternative in expression.split("||")]
    item_fields = [a.split("].")[1] for a in outputs if "]." in a]  # Contents[-1].Key: Key
    count, serial, pages = rng.randint(1, 6), 0, []
    for number in range(count):
        last = number == count - 1
        page = {"Other": f"page {number}"}
        for key in results:
            if rng.random() < 0.85:
                items = []
                for _ in range(rng.choice([0, 0, 1, 2, 3])):
                    serial += 1
                    items.append({"Serial": serial, **{f: f"{f}-{serial}" for f in item_fields}})
                set_value_from_jmespath(page, key, items)
        for key in config.get("non_aggregate_keys", []):
            if rng.random() < 0.8:
                set_value_from_jmespath(page, key, rng.choice([f"kept {number}", number, None]))
        for alternative in outputs:
            if "[" not in alternative and (not last or rng.random() < 0.3):
                token = rng.choice([f"token {number}"] * 2 + ["", None, "None", "token 0"])
                if token is not None:
                    set_value_from_jmespath(page, alternative, token)
        if "more_results" in config and rng.random() < 0.9:
            flag = (not last) if rng.random() < 0.85 else rng.random() < 0.5
            set_value_from_jmespath(page, config["more_results"], flag)
        pages.append(page)
    return pages


def check(case, loop):
    config = SESSION.get_paginator_model(case["service"]).get_paginator(case["operation"])
    compiled, rule = prepare(case["script"])
    if rule != botocore_rule(config):
        return f"the script's rule {rule} is not botocore's {botocore_rule(config)}"
    pages = case["pages"] and json.loads(case["pages"])
    if pages is None:
        pages = random_pages(config, random.Random(case["seed"]))
    ours, theirs = Pages(pages), Pages(pages)
    got = outcome(lambda: loop.run_until_complete(run_script(case, compiled, ours)))
    want = outcome(lambda: run_botocore(case, config, theirs))
    if not same(ours.requests, theirs.requests):
        return f"requests {ours.requests}, botocore's {theirs.requests} (pages {pages})"
    if got[0] != want[0] or (got[0] == "value" and not same(got[1], want[1])):
        return f"{got[0]} {got[1]!r:.600}, botocore's {want[0]} {want[1]!r:.600} (pages {pages})"
    return None


def main(path):
    loop = asyncio.new_event_loop()
    checked, canned, failures = 0, 0, []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            case = json.loads(line)
            checked += 1
            canned += case["pages"] is not None
            try:
                problem = check(case, loop)
            except (ValueError, SyntaxError) as exc:
                problem = f"the script is refused: {exc!r}"
            if problem:
                failures.append(f"{case['name']}: {problem}")
    for failure in failures[:10]:
        print(failure)
    print(f"{checked} scripts checked ({canned} with canned pages), {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

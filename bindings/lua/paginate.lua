-- paginate.lua: mcp.paginate(service, operation [, params [, opts]]) of SPEC section 4: one
-- aws___run_script whose code follows every page of the operation inside the sandbox and whose
-- value is the full result, as botocore's paginate(...).build_full_result() builds it. The rules
-- are botocore's (private.PAGINATORS, paginators.lua); the argument checks, Python literals and
-- the result envelope are mcp.boto3's (boto3.lua). Tests: tests/lua/paginate_spec.lua, whose
-- CPython judge (tests/lua/check_paginate.py) runs the scripts beside botocore's own paginator.
local opsrun, private = ...
local mcp = opsrun.mcp

-- The loop the sandbox runs after the literals of the call, the rule and max_items. It imports
-- nothing (what the sandbox lets a script import is not documented) and mirrors botocore's
-- PageIterator (paginate.py): tokens follow pages until every output token is absent or empty
-- (or the more_results flag is false), a token received twice in a row is an error, result
-- keys are concatenated (lists extended, numbers and strings added), the non-aggregate keys
-- come from the first page, and max_items cuts the primary result key as MaxItems does.
local LOOP = [[
def search(data, expression):
    # the JMESPath of botocore's paginators: names, '.', [index], and a||b (the first truthy)
    for alternative in expression.split('||'):
        value = data
        for step in alternative.replace('[', '.[').split('.'):
            if step.startswith('['):
                index = int(step[1:-1])
                inside = isinstance(value, list) and -len(value) <= index < len(value)
                value = value[index] if inside else None
            else:
                value = value.get(step) if isinstance(value, dict) else None
        if value is not False and value not in (None, '', [], {}):
            return value
    return value

def put(data, expression, value):
    *parents, last = expression.split('.')
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value

def merge(into, other):
    for key, value in other.items():
        if isinstance(value, dict) and key in into:
            merge(into[key], value)
        else:
            into[key] = value

result, kept, previous, total = {}, None, None, 0
while True:
    page = await call_boto3(service_name=service, operation_name=operation, region_name=region,
                            params=dict(params))
    if kept is None:
        kept = {}
        for key in rule['non_aggregate_keys']:
            put(kept, key, search(page, key))
    cut = False
    if max_items is not None:
        items = search(page, rule['result_key'][0])
        count = len([] if items is None else items)
        if total + count > max_items:
            put(page, rule['result_key'][0], items[:max_items - total])
            cut = True
        total += count
    for key in rule['result_key']:
        value, existing = search(page, key), search(result, key)
        if value is None:
            continue
        if existing is None:
            put(result, key, value)
        elif isinstance(value, list):
            existing.extend(value)
        elif isinstance(value, (int, float, str)):
            put(result, key, existing + value)
    tokens = {}
    if rule['more_results'] is None or search(page, rule['more_results']):
        pairs = zip(rule['input_token'], rule['output_token'])
        tokens = {name: search(page, expression) or None for name, expression in pairs}
    if cut or total == max_items or all(token is None for token in tokens.values()):
        break
    if tokens == previous:
        raise RuntimeError(f'{operation} returned the same next token twice: {tokens}')
    for name, token in tokens.items():
        if token is not None and token != 'None':
            params[name] = token
        else:
            params.pop(name, None)
    previous = tokens
merge(result, kept)
result]]

local function split(text, separator)
  local parts = {}
  for part in (text .. separator):gmatch("(.-)" .. separator) do parts[#parts + 1] = part end
  return parts
end

-- One operation of a paginators.lua line: "Operation TOKENS LIMIT RESULTS [?MORE] [+KEEP]".
local function parse_rule(entry)
  local fields = split(entry, " ")
  local operation, tokens, limit, results = fields[1], fields[2], fields[3], fields[4]
  local inputs, outputs = tokens:match("^(.-)>(.*)$")
  local rule = {
    input_token = split(inputs or tokens, ","),
    output_token = split(outputs or tokens, ","),
    result_key = split(results, ","),
    non_aggregate_keys = {},
  }
  if limit ~= "-" then
    rule.limit_key = limit:match("^[^:]+")
    rule.limit_is_string = limit:find(":string", 1, true) ~= nil
  end
  for i = 5, #fields do
    local mark, value = fields[i]:sub(1, 1), fields[i]:sub(2)
    if mark == "?" then rule.more_results = value end
    if mark == "+" then rule.non_aggregate_keys = split(value, ",") end
  end
  return operation, rule
end

local parsed = {} -- service -> operation -> rule, each service parsed when first paginated

-- botocore's paginators: paginators.lua runs at the first paginated call, not at start-up.
local function paginators()
  private.require_file("paginators")
  return private.PAGINATORS, private.PAGINATORS_SOURCE
end

local function rules_of(service)
  if parsed[service] == nil then
    local rules = {}
    for _, entry in ipairs(split(paginators()[service] or "", ";")) do
      if entry ~= "" then
        local operation, rule = parse_rule(entry)
        rules[operation] = rule
      end
    end
    parsed[service] = rules
  end
  return parsed[service]
end

-- The rule for service.operation, or nil and why there is none.
local function rule_of(service, operation)
  local rule = rules_of(service)[operation]
  if rule then return rule end
  return nil, service .. " " .. operation .. " has no paginator in " .. select(2, paginators())
    .. "; mcp.boto3 makes one call"
end

-- A count as an integer (5.0, as json.decode gives numbers, is 5), or nil if it is not one.
local function count_of(value)
  local count = math.type(value) and math.tointeger(value)
  if count and count > 0 then return count end
end

-- max_items and page_size, or nil and the problem of paginate's own options under the rule.
local function paging_of(opts, rule)
  local max_items, page_size = count_of(opts.max_items), count_of(opts.page_size)
  if opts.max_items ~= nil and not max_items then
    return nil, "max_items must be a positive integer"
  end
  if opts.page_size ~= nil and not page_size then
    return nil, "page_size must be a positive integer"
  end
  if page_size and not rule.limit_key then
    return nil, "page_size: the operation has no limit key to set"
  end
  return { max_items = max_items, page_size = page_size }
end

-- params with the page size under the limit key (botocore's PageSize), as a Python literal.
local function params_literal(params, rule, page_size)
  local request = {}
  for key, value in pairs(params or {}) do request[key] = value end
  if page_size then
    request[rule.limit_key] = rule.limit_is_string and string.format("%d", page_size) or page_size
  end
  return private.python_literal(request, "params")
end

local function list_literal(strings)
  local parts = {}
  for i, text in ipairs(strings) do parts[i] = private.python_literal(text) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

local function rule_literal(rule)
  return string.format("{'input_token': %s, 'output_token': %s, 'result_key': %s, "
    .. "'more_results': %s, 'non_aggregate_keys': %s}", list_literal(rule.input_token),
    list_literal(rule.output_token), list_literal(rule.result_key),
    private.python_literal(rule.more_results), list_literal(rule.non_aggregate_keys))
end

-- The aws___run_script code: the literals of the call, then LOOP, whose last line is the bare
-- expression `result` (the sandbox's return_value).
local function script(call, params_text, rule, max_items)
  return string.format("service, operation, region = %s, %s, %s\nparams = %s\nrule = %s\n"
    .. "max_items = %s\n\n%s", private.python_literal(call.service),
    private.python_literal(call.operation), private.python_literal(call.region), params_text,
    rule_literal(rule), private.python_literal(max_items), LOOP)
end

function mcp.paginate(service, operation, params, opts)
  local position, problem = private.boto3_argument_problem(service, operation, params, opts)
  if position then error(private.bad_argument("paginate", position, problem), 2) end
  opts = opts or {}
  local rule
  rule, problem = rule_of(service, operation)
  if not rule then error(private.bad_argument("paginate", 2, problem), 2) end
  local paging
  paging, problem = paging_of(opts, rule)
  if not paging then error(private.bad_argument("paginate", 4, problem), 2) end
  local params_text
  params_text, problem = params_literal(params, rule, paging.page_size)
  if not params_text then error(private.bad_argument("paginate", 3, problem), 2) end

  local region = opts.region or private.region()
  local call = { service = service, operation = operation, region = region }
  return private.run_boto3_script(call, script(call, params_text, rule, paging.max_items), opts)
end

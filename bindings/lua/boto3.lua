-- boto3.lua: mcp.boto3(service, operation [, params [, opts]]) of SPEC section 4: Lua values as
-- Python literals, the aws___run_script code that awaits call_boto3, and its result envelope
-- decoded (return_value) or raised (status "error"). The argument checks, the literals and the
-- envelope are shared with mcp.paginate (paginate.lua). Uses mcp.call (mcp.lua), private.error.
--
-- The encoder writes pure printable ASCII: strings are single-quoted str literals in which
-- every byte other than printable ASCII (minus ' and \) is an escape (\\ \' \n \r \t \xNN,
-- and \u plus 4 or \U plus 8 hex digits for the code point of each UTF-8 sequence); invalid
-- UTF-8 is refused, so a literal means exactly the Lua string's text and nothing in a value can
-- end the literal.
-- nil and json.null are None; booleans True/False; integers decimal; floats the shortest %.Ng
-- that reads back exactly, always with a '.' or an exponent (NaN and inf are refused). A table
-- with keys exactly 1..n (n >= 1) is a list; any other table is a dict whose keys must be
-- strings (the empty table is {}: boto3 params are dicts). Other integer keys (a hole, 0, list
-- items beside string keys) are refused rather than guessed at: boto3 has no parameter keyed by
-- numbers, and a hole is most likely an item that was nil. Cycles, nesting deeper than 64
-- tables and more than a million values are refused. Tests: tests/lua/boto3_spec.lua, whose
-- fuzz CPython checks (tests/lua/check_python_literals.py).
local opsrun, private = ...
local json = opsrun.json
local mcp = opsrun.mcp

local MAX_DEPTH = 64
local MAX_VALUES = 1000000

-- Identifier-like names only: they go into the code inside literals anyway, but a strict shape
-- gives a clear message for a typo and a second wall against injection.
local SERVICE_PATTERN = "^[a-z][a-z0-9%-]*$"   -- ec2, s3, resourcegroupstaggingapi, sso-admin
-- The hosted call_boto3 takes the API's PascalCase name only: "operation_name MUST be the
-- PascalCase AWS API operation name (e.g. ListBuckets, GetTable). Do not use the snake_case boto3
-- method name" (the tool's published description).
local OPERATION_PATTERN = "^[A-Z][A-Za-z0-9]*$" -- DescribeInstances
local REGION_PATTERN = private.identity.is_region -- us-east-1, us-gov-west-1 (runtime/region.h)
local MAX_NAME_LENGTH = 64

local ASCII_ESCAPES = { ["\\"] = "\\\\", ["'"] = "\\'", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for byte = 0, 0x1f do
  local char = string.char(byte)
  ASCII_ESCAPES[char] = ASCII_ESCAPES[char] or string.format("\\x%02x", byte)
end
ASCII_ESCAPES["\127"] = "\\x7f"

local function code_point_escape(sequence)
  local code = utf8.codepoint(sequence)
  if code <= 0xffff then return string.format("\\u%04x", code) end
  return string.format("\\U%08x", code)
end

-- A Python str literal of a Lua string, or nil and why not.
local function python_string(text)
  local valid, bad_at = utf8.len(text)
  if not valid then return nil, "string is not valid UTF-8 (byte " .. bad_at .. ")" end
  -- escape ASCII first: its escapes are ASCII, so the second pass sees only the UTF-8 sequences
  local escaped = text:gsub("[\0-\31'\\\127]", ASCII_ESCAPES):gsub("[\194-\244][\128-\191]*",
    code_point_escape)
  return "'" .. escaped .. "'"
end

-- The shortest decimal text that reads back as exactly this finite float, always showing it is
-- a float (1.0, 1e+16, -0.0): Python's repr and valid JSON both. Shared with emit.lua.
function private.float_text(number)
  local text
  for digits = 1, 17 do -- 17 always reads back
    text = string.format("%." .. digits .. "g", number):gsub(",", ".") -- a decimal-comma locale
    if tonumber(text) == number then break end
  end
  if not text:find("[.eE]") then text = text .. ".0" end
  return text
end

local function is_null(value)
  return value == nil or value == json.null
end

-- Keys of a table that is an array 1..n with n >= 1: n; else nil.
local function array_length(t)
  local count, integers = 0, true
  for key in pairs(t) do
    count = count + 1
    if math.type(key) ~= "integer" or key < 1 then integers = false end
  end
  if count == 0 or not integers then return nil end
  for i = 1, count do
    if rawget(t, i) == nil then return nil end
  end
  return count
end

local function key_text(key)
  if type(key) == "string" and key:match("^[%a_][%w_]*$") then return "." .. key end
  if type(key) == "string" then return string.format("[%q]", key) end
  return "[" .. tostring(key) .. "]"
end

-- Encoding with its failure raised as a plain string prefixed by the value's path.
local Encoder = {}
Encoder.__index = Encoder

function Encoder:fail(path, message)
  error({ encoder_failure = path .. ": " .. message }, 0)
end

function Encoder:scalar(value, path)
  local kind = type(value)
  if is_null(value) then return "None" end
  if kind == "boolean" then return value and "True" or "False" end
  if math.type(value) == "integer" then return string.format("%d", value) end
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      self:fail(path, "NaN and infinity have no Python literal")
    end
    return private.float_text(value)
  end
  if kind == "string" then
    local literal, problem = python_string(value)
    if not literal then self:fail(path, problem) end
    return literal
  end
  self:fail(path, kind .. " values cannot be sent to Python")
end

function Encoder:value(value, path, depth)
  self.count = self.count + 1
  if self.count > MAX_VALUES then self:fail(path, "more than " .. MAX_VALUES .. " values") end
  if type(value) ~= "table" then
    self.parts[#self.parts + 1] = self:scalar(value, path)
    return
  end
  if depth > MAX_DEPTH then self:fail(path, "tables nested deeper than " .. MAX_DEPTH) end
  if self.open[value] then self:fail(path, "a table that contains itself") end
  self.open[value] = true
  local length = array_length(value)
  if length then
    self:list(value, length, path, depth)
  else
    self:dict(value, path, depth)
  end
  self.open[value] = nil
end

function Encoder:list(t, length, path, depth)
  local parts = self.parts
  parts[#parts + 1] = "["
  for i = 1, length do
    if i > 1 then parts[#parts + 1] = ", " end
    self:value(t[i], path .. "[" .. i .. "]", depth + 1)
  end
  parts[#parts + 1] = "]"
end

-- Why a table with integer keys is not a list: a hole, a key below 1, or other keys beside them.
local function list_problem(t)
  local others
  for key in pairs(t) do
    if math.type(key) ~= "integer" then others = key end
    if math.type(key) == "integer" and key < 1 then return "list keys start at 1, not " .. key end
  end
  if others ~= nil then return "a table mixes list items with dict keys" end
  local i = 1
  while t[i] ~= nil do i = i + 1 end
  return "the list has no item [" .. i .. "] (a nil item leaves a hole)"
end

function Encoder:dict(t, path, depth)
  local keys = {}
  for key in pairs(t) do
    if math.type(key) == "integer" then
      self:fail(path, list_problem(t))
    elseif type(key) ~= "string" then
      self:fail(path, "key " .. tostring(key) .. " is not a string: dict keys are strings")
    end
    keys[#keys + 1] = key
  end
  table.sort(keys) -- deterministic code for the same value
  local parts = self.parts
  parts[#parts + 1] = "{"
  for i, key in ipairs(keys) do
    if i > 1 then parts[#parts + 1] = ", " end
    parts[#parts + 1] = self:scalar(key, path)
    parts[#parts + 1] = ": "
    self:value(t[key], path .. key_text(key), depth + 1)
  end
  parts[#parts + 1] = "}"
end

-- The Python literal of a Lua value, or nil and what is wrong with it (naming its place under
-- `path`). Exposed for the tests as private.python_literal.
local function python_literal(value, path)
  local encoder = setmetatable({ parts = {}, open = {}, count = 0 }, Encoder)
  local ok, failure = pcall(encoder.value, encoder, value, path or "value", 1)
  if not ok then
    if type(failure) == "table" and failure.encoder_failure then return nil, failure.encoder_failure end
    error(failure, 0)
  end
  return table.concat(encoder.parts)
end
private.python_literal = python_literal

-- nil, or what is wrong with a service, operation or region name (`pattern` may be a predicate).
local function name_problem(what, name, pattern, example)
  if type(name) ~= "string" then return what .. " expected, got " .. type(name) end
  local fits
  if type(pattern) == "function" then fits = pattern(name) else fits = name:match(pattern) end
  if #name > MAX_NAME_LENGTH or not fits then
    return string.format("%s must look like '%s', got %s", what, example,
      (string.format("%q", name):gsub("\\\n", "\\n")))
  end
end

-- nil, or the position and problem of the first bad argument of mcp.boto3 or mcp.paginate.
local function argument_problem(service, operation, params, opts)
  local problem = name_problem("service name", service, SERVICE_PATTERN, "ec2")
  if problem then return 1, problem end
  problem = name_problem("operation name", operation, OPERATION_PATTERN, "DescribeInstances")
  if problem then return 2, problem end
  if params ~= nil and type(params) ~= "table" then
    return 3, "params must be a table or nil, got " .. type(params)
  end
  if opts == nil then return nil end
  if type(opts) ~= "table" then return 4, "options must be a table, got " .. type(opts) end
  if opts.region ~= nil then
    problem = name_problem("region", opts.region, REGION_PATTERN, "us-east-1")
    if problem then return 4, problem end
  end
  local t = opts.timeout
  if t ~= nil and not (type(t) == "number" and t > 0 and t <= private.MAX_SECONDS) then
    return 4, "timeout must be a positive number of seconds up to 1e9"
  end
  if opts.meta ~= nil and type(opts.meta) ~= "table" then return 4, "meta must be a table" end
end
private.boto3_argument_problem = argument_problem

-- The message of a bad argument to mcp.`name`, in luaL_argerror's words.
local function bad_argument(name, position, problem)
  return "bad argument #" .. position .. " to '" .. name .. "' (" .. problem .. ")"
end
private.bad_argument = bad_argument

-- The aws___run_script code: one assignment awaiting call_boto3 with four keywords, then the
-- bare expression `result`. The sandbox runs the code as a module with top-level await, and the
-- value of its final bare expression is the script's return_value; a module-level `return` is a
-- SyntaxError there, as in CPython.
local function script(service, operation, region, params_literal)
  return string.format("result = await call_boto3(service_name=%s, operation_name=%s, "
    .. "region_name=%s, params=%s)\nresult", python_string(service),
    python_string(operation), python_string(region), params_literal)
end
private.boto3_script = script

-- The decoded envelope {status, return_value, error, ...} of a run_script result, or nil.
local function envelope_of(structured, text)
  if type(structured) == "table" and structured.status ~= nil then return structured end
  local ok, decoded = pcall(json.decode, text or "")
  if ok and type(decoded) == "table" and decoded.status ~= nil then return decoded end
  return nil
end

-- "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling ..." gives
-- AccessDenied; "botocore.exceptions.ParamValidationError: ..." ParamValidationError.
local function error_code(message)
  return message:match("An error occurred %(([%w%.%-_:]+)%)")
    or message:match("^botocore%.exceptions%.([%w_]+)")
    or "ScriptError"
end

local function script_error(call, message, stderr)
  return private.error({ code = error_code(message), message = message, phase = "mcp",
    service = call.service, operation = call.operation, region = call.region, stderr = stderr },
    "tool")
end

-- The error of an envelope whose status is "error", in the script's own words.
local function envelope_error(call, envelope)
  local message = envelope.error
  if type(message) ~= "string" or message == "" then
    message = "aws___run_script failed without an error message"
  end
  return script_error(call, message, type(envelope.stderr) == "string" and envelope.stderr or nil)
end

-- Runs `code` (which calls call.service's call.operation in call.region) with aws___run_script
-- under the options of mcp.boto3 and returns the decoded return_value, or raises the script's
-- error in its own words; with --read-only, only an operation that reads. Shared by mcp.boto3
-- and mcp.paginate.
function private.run_boto3_script(call, code, opts)
  local refusal = private.read_only_refusal(call.service, call.operation)
  if refusal then error(refusal, 0) end
  local ok, result = pcall(mcp.call, "aws___run_script", { code = code },
    { region = call.region, timeout = opts.timeout, meta = opts.meta,
      [private.CHECKED_CODE] = true })
  if not ok then
    -- isError results are raised by mcp.call; a script's own failure is re-raised in its words
    local err = result
    local envelope = type(err) == "table" and err.kind == "tool" and err.content
      and envelope_of(nil, err.message)
    if envelope and envelope.status == "error" then error(envelope_error(call, envelope), 0) end
    error(err, 0)
  end
  local envelope = envelope_of(result.structured, result.text)
  if not envelope then
    error(script_error(call, "aws___run_script answered without a result envelope: "
      .. result.text:sub(1, 200)), 0)
  end
  if envelope.status == "error" then error(envelope_error(call, envelope), 0) end
  if envelope.return_value == json.null then return nil end
  return envelope.return_value
end

function mcp.boto3(service, operation, params, opts)
  local position, problem = argument_problem(service, operation, params, opts)
  if position then error(bad_argument("boto3", position, problem), 2) end
  opts = opts or {}
  local region = opts.region or private.region()
  local params_literal
  params_literal, problem = python_literal(params or {}, "params")
  if not params_literal then error(bad_argument("boto3", 3, problem), 2) end
  local call = { service = service, operation = operation, region = region }
  return private.run_boto3_script(call, script(service, operation, region, params_literal), opts)
end

-- boto3_spec.lua: mcp.boto3 of the opsrun module (SPEC section 4): the Lua → Python literal
-- encoder of bindings/lua/boto3.lua, fuzzed with thousands of seeded random and hostile values
-- whose encodings CPython itself checks (tests/lua/check_python_literals.py: ast.literal_eval
-- of each literal, each whole script compiled as the sandbox compiles it), and mcp.boto3 over
-- a stubbed mcp.call: the code and options it sends, envelopes decoded, script errors raised in
-- their own words.
-- FUZZ_SEED and FUZZ_COUNT change the fuzz (defaults: a fixed seed, 4000 values).
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
local python_literal = private.python_literal
local boto3 = opsrun.mcp.boto3

local SEED = tonumber(os.getenv("FUZZ_SEED")) or 20240607
local COUNT = tonumber(os.getenv("FUZZ_COUNT")) or 4000
local HERE = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local CHECKER = HERE .. "check_python_literals.py"
local PYTHON = os.getenv("PYTHON") or "python3"

local function literal(value)
  local text, problem = python_literal(value, "params")
  assert(text, problem)
  return text
end

local function rejects(value, message)
  local text, problem = python_literal(value, "params")
  assert.is_nil(text, "accepted: " .. tostring(text))
  assert.are.equal(message, problem)
end

local function nested(depth, leaf)
  local value = leaf
  for i = 1, depth do value = (i % 2 == 0) and { value } or { k = value } end
  return value
end

describe("the Python literal of a Lua value", function()
  it("writes scalars as Python reads them", function()
    assert.are.equal("None", literal(nil))
    assert.are.equal("None", literal(cjson.null))
    assert.are.equal("[True, False]", literal({ true, false }))
    assert.are.equal("[0, -7, 9007199254740993, -9223372036854775808, 9223372036854775807]",
      literal({ 0, -7, (1 << 53) + 1, math.mininteger, math.maxinteger }))
    assert.are.equal("[1.0, -0.0, 0.1, 1e+16, 5e-324, 1.7976931348623157e+308, 0.3333333333333333]",
      literal({ 1.0, -0.0, 0.1, 1e16, 5e-324, 1.7976931348623157e308, 1 / 3 }))
  end)

  it("quotes strings with every byte outside printable ASCII escaped", function()
    assert.are.equal([['it\'s \\ "q" \n\r\t\x00\x1b\x7f']], literal("it's \\ \"q\" \n\r\t\0\27\127"))
    assert.are.equal([['\u00e9\u20ac\uffff\U0001f600\U0010ffff']],
      literal("é€\u{ffff}😀\u{10ffff}"))
    assert.are.equal([['\\N{BULLET} \\x41 \\u0041 \'\'\' """']],
      literal([[\N{BULLET} \x41 \u0041 ''' """]]))
    assert.are.equal("''", literal(""))
  end)

  it("writes arrays as lists, other tables as dicts with sorted keys, {} as a dict", function()
    assert.are.equal("{}", literal({}))
    assert.are.equal("[{}, [1]]", literal({ {}, { 1 } }))
    assert.are.equal("{'Filters': [{'Name': 'tag:Owner', 'Values': ['a', 'b']}], 'MaxResults': 5}",
      literal({ MaxResults = 5, Filters = { { Values = { "a", "b" }, Name = "tag:Owner" } } }))
    assert.are.equal([[{'\'); import os #': '\n'}]], literal({ ["'); import os #"] = "\n" }))
  end)

  it("encodes a table met twice (not a cycle) twice", function()
    local shared = { "x" }
    assert.are.equal("{'a': ['x'], 'b': ['x']}", literal({ a = shared, b = shared }))
  end)

  it("accepts 64 nested tables and refuses 65", function()
    assert.is_string(literal(nested(64, 1)))
    local text, problem = python_literal(nested(65, 1), "params")
    assert.is_nil(text)
    assert.matches("tables nested deeper than 64$", problem)
  end)

  it("refuses a value that would expand past a million values (shared tables)", function()
    local bomb = {}
    for _ = 1, 40 do bomb = { bomb, bomb } end
    local text, problem = python_literal(bomb, "params")
    assert.is_nil(text)
    assert.matches(": more than 1000000 values$", problem)
  end)

  it("refuses invalid UTF-8, naming the place and the byte", function()
    rejects({ Name = "ok\xed\xa0\x80" }, "params.Name: string is not valid UTF-8 (byte 3)")
    rejects({ "\x80" }, "params[1]: string is not valid UTF-8 (byte 1)")
    rejects({ "\xc0\x80" }, "params[1]: string is not valid UTF-8 (byte 1)")
    rejects({ "\xf4\x90\x80\x80" }, "params[1]: string is not valid UTF-8 (byte 1)")
    rejects({ "a\xe2\x82" }, "params[1]: string is not valid UTF-8 (byte 2)")
    rejects({ "\xff" }, "params[1]: string is not valid UTF-8 (byte 1)")
    rejects({ ["\xfe"] = 1 }, "params: string is not valid UTF-8 (byte 1)")
  end)

  it("refuses what has no Python literal", function()
    rejects({ x = 0 / 0 }, "params.x: NaN and infinity have no Python literal")
    rejects({ 1, math.huge }, "params[2]: NaN and infinity have no Python literal")
    rejects({ f = print }, "params.f: function values cannot be sent to Python")
    rejects({ ["a b"] = { io.stdout } }, 'params["a b"][1]: userdata values cannot be sent to Python')
    local cycle = { list = {} }
    cycle.list[1] = cycle
    rejects(cycle, "params.list[1]: a table that contains itself")
  end)

  it("refuses tables that are neither lists nor string-keyed dicts", function()
    rejects({ Values = { [1] = "a", [3] = "c" } },
      "params.Values: the list has no item [2] (a nil item leaves a hole)")
    rejects({ [2] = "b" }, "params: the list has no item [1] (a nil item leaves a hole)")
    rejects({ [0] = "z", "a" }, "params: list keys start at 1, not 0")
    rejects({ [true] = 1 }, "params: key true is not a string: dict keys are strings")
    rejects({ [1.5] = 1 }, "params: key 1.5 is not a string: dict keys are strings")
    rejects({ "a", x = 1 }, "params: a table mixes list items with dict keys")
  end)
end)

-- The fuzz ------------------------------------------------------------------------------------

local HOSTILE = {
  "'", '"', "\\", "'''", '"""', "\\'", "\\\\'", "'); import os #", "\"); import os #",
  "\\N{BULLET}", "\\N{LATIN SMALL LETTER E}", "\\x41", "\\u0041", "\\U0001F600", "\\0", "\\\n",
  "\n", "\r\n", "\r", "\t", "\0", "\f", "\v", "#", "{", "}", "%s", "%(x)s", "f'{1}'", "\\",
  ")\nreturn 1\n#", "', params={})\nimport os\nx=('", "\u{2028}", "\u{2029}", "\u{85}", "\u{feff}",
  "\u{d7ff}", "\u{e000}", "\u{fffd}", "\u{ffff}", "\u{10000}", "\u{10ffff}", "\u{7f}", "\u{80}",
  "\u{7ff}", "\u{800}", "é", "😀", "日本",
}

local function random_code_point()
  local choice = math.random(4)
  if choice == 1 then return math.random(0x80, 0x7ff) end
  if choice == 2 then
    local c = math.random(0x800, 0xfffd)
    return (c >= 0xd800 and c <= 0xdfff) and 0xfffd or c
  end
  if choice == 3 then return math.random(0x10000, 0x10ffff) end
  return math.random(0, 0x7f)
end

local function random_string()
  local parts = {}
  for i = 1, math.random(0, 12) do
    local choice = math.random(4)
    if choice == 1 then
      parts[i] = HOSTILE[math.random(#HOSTILE)]
    elseif choice == 2 then
      parts[i] = string.char(math.random(0, 0x7f))
    elseif choice == 3 then
      parts[i] = utf8.char(random_code_point())
    else
      parts[i] = string.char(math.random(0x61, 0x7a))
    end
  end
  return table.concat(parts)
end

local INTEGERS = { 0, 1, -1, 1 << 31, -(1 << 31), 1 << 53, (1 << 53) + 1, -(1 << 53) - 1,
  math.maxinteger, math.mininteger, math.maxinteger - 1 }
local FLOATS = { 0.0, -0.0, 0.1, 1.0, -1.5, 1e16, 1e22, 1e-7, 2.0 ^ 53, 2.0 ^ 63, 5e-324,
  2.2250738585072014e-308, 1.7976931348623157e308, 1 / 3, 123456789.123456789 }

local function random_integer()
  local choice = math.random(3)
  if choice == 1 then return INTEGERS[math.random(#INTEGERS)] end
  if choice == 2 then return math.random(-1000, 1000) end
  return math.random(0) -- all 64 bits random
end

local function random_float()
  local choice = math.random(3)
  if choice == 1 then return FLOATS[math.random(#FLOATS)] end
  if choice == 2 then return (math.random() - 0.5) * 10.0 ^ math.random(-30, 30) end
  while true do -- any bit pattern but NaN and infinity
    local f = string.unpack("<d", string.pack("<i8", math.random(0)))
    if f == f and f ~= math.huge and f ~= -math.huge then return f end
  end
end

local random_value

local function random_table(depth)
  local t = {}
  if math.random(2) == 1 then
    for i = 1, math.random(1, 5) do t[i] = random_value(depth + 1) end
  else
    for _ = 1, math.random(0, 5) do t[random_string()] = random_value(depth + 1) end
  end
  return t
end

function random_value(depth)
  local choice = math.random(depth < 5 and 9 or 7)
  if choice == 1 then return cjson.null end
  if choice == 2 then return math.random(2) == 1 end
  if choice == 3 then return random_integer() end
  if choice == 4 then return random_float() end
  if choice <= 7 then return random_string() end
  return random_table(depth)
end

-- The unambiguous form check_python_literals.py decodes.
local function tagged(value)
  if value == nil or value == cjson.null then return { "n" } end
  if type(value) == "boolean" then return { "b", value } end
  if math.type(value) == "integer" then return { "i", string.format("%d", value) } end
  if type(value) == "number" then return { "f", string.format("%a", value) } end
  if type(value) == "string" then return { "s", value } end
  local items = {}
  if value[1] ~= nil then -- the fuzz makes lists 1..n and string-keyed dicts only
    for i, item in ipairs(value) do items[i] = tagged(item) end
    return { "l", items }
  end
  for key, item in pairs(value) do items[#items + 1] = { tagged(key), tagged(item) } end
  return { "d", items }
end

local SERVICES = { "ec2", "s3", "sso-admin", "resourcegroupstaggingapi" }
local OPERATIONS = { "DescribeInstances", "ListBuckets", "GetCallerIdentity", "GetObjectV2" }
local REGIONS = { "us-east-1", "eu-west-1", "us-gov-west-1", "ap-southeast-2" }

local function value_record(params)
  local service, operation = SERVICES[math.random(#SERVICES)], OPERATIONS[math.random(#OPERATIONS)]
  local region = REGIONS[math.random(#REGIONS)]
  local text = literal(params)
  return {
    kind = "value", literal = text, expected = tagged(params), service = service,
    operation = operation, region = region, script = private.boto3_script(service, operation, region, text),
  }
end

-- Byte strings biased towards UTF-8's edges: lead bytes, continuation bytes, the bytes that
-- are never valid, the surrogate and overlong starts.
local EDGE_BYTES = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
  0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xf8, 0xfe, 0xff }

local function random_bytes()
  local bytes = {}
  for i = 1, math.random(1, 8) do
    bytes[i] = math.random(2) == 1 and EDGE_BYTES[math.random(#EDGE_BYTES)] or math.random(0, 255)
  end
  return string.char(table.unpack(bytes))
end

local function utf8_record(text)
  return { kind = "utf8", hex = text:gsub(".", function(c) return string.format("%02x", c:byte()) end),
    lua_valid = python_literal(text) ~= nil }
end

local function run_checker(records)
  local path = os.tmpname()
  local file = assert(io.open(path, "w"))
  for _, record in ipairs(records) do file:write(cjson.encode(record), "\n") end
  file:close()
  -- without the sanitizer build's LD_PRELOAD: CPython is not ours to check
  local pipe = assert(io.popen("env -u LD_PRELOAD " .. PYTHON .. " " .. CHECKER .. " " .. path .. " 2>&1"))
  local output = pipe:read("a")
  local ok = pipe:close()
  os.remove(path)
  return ok, output
end

describe("the encoder under fuzz, judged by CPython's parser", function()
  it("round-trips every value exactly, inside an intact script (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local records = {}
    for byte = 0, 0x7f do records[#records + 1] = value_record({ string.char(byte) }) end
    for _, text in ipairs(HOSTILE) do records[#records + 1] = value_record({ [text] = text }) end
    records[#records + 1] = value_record(nested(64, "deep'\n"))
    records[#records + 1] = value_record(nested(63, { "\\'''" }))
    for _ = 1, COUNT do records[#records + 1] = value_record(random_table(1)) end
    for _ = 1, COUNT // 4 do records[#records + 1] = utf8_record(random_bytes()) end
    for _, text in ipairs({ "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\x9f\xbf", "\xc0\x80", "\xe0\x80\x80",
      "\xf0\x80\x80\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\x80", "a\xe2\x82", "\xf8\x88\x80\x80\x80" }) do
      records[#records + 1] = utf8_record(text)
    end
    local ok, output = run_checker(records)
    assert.is_true(ok, output)
    assert.matches("^" .. (#records - COUNT // 4 - 11) .. " values and " .. (COUNT // 4 + 11)
      .. " byte strings checked, 0 failed\n$", output)
  end)

  it("has a checker that catches a literal that does not mean its value", function()
    local broken = value_record({ a = "x" })
    broken.literal, broken.script = "{'a': 'x', 'b': 1}", broken.script:gsub("'x'}", "'x', 'b': 1}")
    local escaped = value_record({ a = "x" })
    escaped.script = escaped.script:gsub("'x'", "'x'); import os; x = ('")
    local ok, output = run_checker({ broken, escaped })
    assert.is_falsy(ok)
    assert.matches("2 failed", output)
  end)
end)

-- mcp.boto3 over a stubbed mcp.call ------------------------------------------------------------

describe("mcp.boto3", function()
  local real_call, calls

  local function answer(envelope)
    opsrun.mcp.call = function(tool, args, opts)
      calls[#calls + 1] = { tool = tool, args = args, opts = opts }
      return { content = { { type = "text", text = cjson.encode(envelope) } },
        structured = envelope, text = cjson.encode(envelope) }
    end
  end

  before_each(function()
    real_call, calls = opsrun.mcp.call, {}
  end)
  after_each(function()
    opsrun.mcp.call = real_call
  end)

  local function raised(...)
    local args = table.pack(...)
    local ok, err = pcall(function() boto3(table.unpack(args, 1, args.n)) end)
    assert.is_false(ok)
    return err
  end

  it("sends the run_script code and returns the decoded return_value", function()
    answer({ status = "success", return_value = { Reservations = { { Instances = {} } } } })
    local out = boto3("ec2", "DescribeInstances", { MaxResults = 5 },
      { region = "eu-west-1", timeout = 7, meta = { X = "y" } })
    assert.are.same({ Reservations = { { Instances = {} } } }, out)
    assert.are.equal(1, #calls)
    assert.are.equal("aws___run_script", calls[1].tool)
    assert.are.equal("result = await call_boto3(service_name='ec2', operation_name='DescribeInstances', "
      .. "region_name='eu-west-1', params={'MaxResults': 5})\nresult", calls[1].args.code)
    local opts = calls[1].opts
    assert.are.same({ "eu-west-1", 7, { X = "y" } }, { opts.region, opts.timeout, opts.meta })
  end)

  it("runs in the operating region by default, with params {} when none are given", function()
    answer({ status = "success", return_value = cjson.null })
    assert.is_nil(boto3("sts", "GetCallerIdentity"))
    local region = private.region()
    assert.are.equal(region, calls[1].opts.region)
    assert.are.equal("result = await call_boto3(service_name='sts', operation_name='GetCallerIdentity', "
      .. "region_name='" .. region .. "', params={})\nresult", calls[1].args.code)
  end)

  it("reads the envelope from the text when there is no structured content", function()
    opsrun.mcp.call = function()
      return { content = {}, text = '{"status":"success","return_value":[1,"a"]}' }
    end
    assert.are.same({ 1, "a" }, boto3("s3", "ListBuckets"))
  end)

  it("raises a script's ClientError as a tool error with the botocore code and text", function()
    local text = "botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when "
      .. "calling the DescribeInstances operation: Value (1) for parameter maxResults is invalid."
    answer({ status = "error", error = text, stderr = "Traceback ...", return_value = cjson.null })
    local err = raised("ec2", "DescribeInstances", { MaxResults = 1 }, { region = "eu-west-1" })
    assert.are.equal("tool", err.kind)
    assert.are.equal("InvalidParameterValue", err.code)
    assert.are.equal(text, err.message)
    assert.are.equal("mcp", err.phase)
    assert.are.same({ "ec2", "DescribeInstances", "eu-west-1" }, { err.service, err.operation, err.region })
    assert.are.equal("InvalidParameterValue (mcp): " .. text, tostring(err))
  end)

  it("raises the script's error when mcp.call already raised the isError result", function()
    local text = "botocore.exceptions.ParamValidationError: Parameter validation failed:\n"
      .. "Unknown parameter in input: \"Bogus\""
    opsrun.mcp.call = function()
      local envelope = cjson.encode({ status = "error", error = text })
      error(private.error({ code = "aws___run_script", phase = "mcp", message = envelope,
        content = { { type = "text", text = envelope } } }, "tool"))
    end
    local err = raised("ec2", "DescribeInstances", { Bogus = 1 })
    assert.are.same({ "tool", "ParamValidationError", text }, { err.kind, err.code, err.message })
  end)

  it("calls an error without a botocore code ScriptError", function()
    answer({ status = "error", error = "NameError: name 'x' is not defined" })
    local err = raised("ec2", "DescribeInstances")
    assert.are.same({ "ScriptError", "NameError: name 'x' is not defined" }, { err.code, err.message })
  end)

  it("passes other errors of mcp.call on unchanged", function()
    local failure = private.error({ code = "aws___run_script", phase = "mcp",
      message = "Input validation error: 'code' is a required property", content = {} }, "tool")
    opsrun.mcp.call = function() error(failure) end
    assert.are.equal(failure, raised("ec2", "DescribeInstances"))
    local denied = private.error({ code = "ExpiredTokenException", message = "expired" }, "credentials")
    opsrun.mcp.call = function() error(denied) end
    assert.are.equal(denied, raised("ec2", "DescribeInstances"))
  end)

  it("raises when the answer is no envelope", function()
    opsrun.mcp.call = function() return { content = {}, text = "hello" } end
    local err = raised("ec2", "DescribeInstances")
    assert.are.same({ "tool", "ScriptError" }, { err.kind, err.code })
    assert.matches("without a result envelope: hello", err.message)
  end)

  it("checks its arguments before calling anything, blaming the caller", function()
    answer({ status = "success" })
    local function bad(message, ...)
      local err = raised(...)
      assert.are.equal("boto3_spec.lua:", err:match("boto3_spec%.lua:"))
      assert.are.equal(message, err:match("bad argument.*$"))
    end
    bad("bad argument #1 to 'boto3' (service name expected, got nil)")
    bad([[bad argument #1 to 'boto3' (service name must look like 'ec2', got "ec2'); import os #")]],
      "ec2'); import os #", "DescribeInstances")
    bad([[bad argument #1 to 'boto3' (service name must look like 'ec2', got "EC2")]], "EC2", "X")
    bad([[bad argument #2 to 'boto3' (operation name must look like 'DescribeInstances', got "Describe\nInstances")]],
      "ec2", "Describe\nInstances")
    bad("bad argument #2 to 'boto3' (operation name expected, got number)", "ec2", 1)
    bad([[bad argument #2 to 'boto3' (operation name must look like 'DescribeInstances', got "describe_instances")]],
      "ec2", "describe_instances") -- the hosted call_boto3 takes PascalCase names only
    bad("bad argument #3 to 'boto3' (params must be a table or nil, got string)", "ec2", "X", "{}")
    bad("bad argument #3 to 'boto3' (params.Name: string is not valid UTF-8 (byte 1))", "ec2", "X",
      { Name = "\xff" })
    bad("bad argument #4 to 'boto3' (options must be a table, got string)", "ec2", "X", {}, "eu-west-1")
    bad([[bad argument #4 to 'boto3' (region must look like 'us-east-1', got "eu-west-1'")]], "ec2", "X",
      {}, { region = "eu-west-1'" })
    bad([[bad argument #4 to 'boto3' (region must look like 'us-east-1', got "us-east-1\13\nX: y")]],
      "ec2", "X", {}, { region = "us-east-1\r\nX: y" })
    bad([[bad argument #4 to 'boto3' (region must look like 'us-east-1', got "us-east-1-")]], "ec2", "X",
      {}, { region = "us-east-1-" }) -- the partitions' shape, not any lowercase word
    bad([[bad argument #4 to 'boto3' (region must look like 'us-east-1', got "us-east-1\0")]], "ec2", "X",
      {}, { region = "us-east-1\0" })
    bad("bad argument #4 to 'boto3' (timeout must be a positive number of seconds up to 1e9)", "ec2",
      "X", {}, { timeout = 0 })
    bad("bad argument #4 to 'boto3' (timeout must be a positive number of seconds up to 1e9)", "ec2",
      "X", {}, { timeout = math.huge })
    assert.are.equal(0, #calls)
  end)
end)

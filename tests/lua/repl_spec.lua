-- repl_spec.lua: the REPL's policy in bindings/lua/repl.lua (SPEC section 5), through the
-- private table of build/lua/opsrun.so: how values print (scalars, strings cut with a note,
-- nested literals, cycles, error objects, arrays of records as aligned tables), what Tab
-- offers (globals, fields, methods, account ids from a registry) and the :help text. The
-- terminal side (libedit, history, Ctrl-C, tool names from the simulator) is
-- tests/e2e/repl_test.sh's.
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
private.require_file("repl") -- run on demand, as `opsrun -i` runs it
local repl = private.repl
local format = repl.format

local LUA = os.getenv("LUA") or "lua5.4"

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

describe("repl.format", function()
  it("prints numbers, booleans and nil as Lua does", function()
    assert.are.equal("42", format(42))
    assert.are.equal("1.5", format(1.5))
    assert.are.equal("3.0", format(3.0))
    assert.are.equal("1e+100", format(1e100))
    assert.are.equal("-inf", format(-math.huge))
    assert.are.equal("9007199254740993", format(9007199254740993))
    assert.are.equal("true", format(true))
    assert.are.equal("nil", format(nil))
  end)

  it("quotes strings and escapes control characters, quotes and backslashes", function()
    assert.are.equal('"hello"', format("hello"))
    assert.are.equal('"a\\nb\\t\\"c\\" \\\\ \\000"', format('a\nb\t"c" \\ \0'))
    assert.are.equal('"héllo ✓"', format("héllo ✓"))
    assert.are.equal('"\\xFF\\xFE"', format("\255\254"))
  end)

  it("cuts a long string and says how much is left", function()
    local text = format(string.rep("x", 1234 + 1000))
    assert.are.equal('"' .. string.rep("x", 1000) .. '…" (1234 more bytes)', text)
  end)

  it("never cuts inside a UTF-8 character", function()
    local text = format("x" .. string.rep("é", 600)) -- byte 1000 starts a character
    assert.are.equal('"x' .. string.rep("é", 499) .. '…" (202 more bytes)', text)
  end)

  it("cuts strings inside tables shorter", function()
    local text = format({ body = string.rep("y", 250) })
    assert.truthy(text:find('"' .. string.rep("y", 200) .. '…" (50 more bytes)', 1, true))
  end)

  it("prints a short table on one line: the array part in order, then keys sorted", function()
    assert.are.equal('{ 1, "two", 3.5, [10] = 0, a = true, b = { c = 1 }, ["not ok"] = 2 }',
      format({ 1, "two", 3.5, b = { c = 1 }, a = true, ["not ok"] = 2, [10] = 0 }))
    assert.are.equal("{}", format({}))
    assert.are.equal('{ ["end"] = 1 }', format({ ["end"] = 1 }))
  end)

  it("prints a larger table one field a line, nested tables indented", function()
    local value = {
      account = "222222222222",
      instances = { { id = "i-0123456789abcdef0", state = "running", type = "t3.micro", zone = "us-east-1a" } },
      tags = { team = "payments" },
    }
    assert.are.same({
      "{",
      '  account = "222222222222",',
      "  instances = {",
      "    {",
      '      id = "i-0123456789abcdef0",',
      '      state = "running",',
      '      type = "t3.micro",',
      '      zone = "us-east-1a",',
      "    },",
      "  },",
      '  tags = { team = "payments" },',
      "}",
    }, lines_of(format(value)))
  end)

  it("prints a table inside itself as <cycle>", function()
    local t = { name = "loop" }
    t.self = t
    t.list = { t }
    assert.are.equal('{ list = { <cycle> }, name = "loop", self = <cycle> }', format(t))
  end)

  it("prints a table met again elsewhere once, then as <seen above>", function()
    local shared = { x = 1 }
    assert.are.equal("{ a = { x = 1 }, b = <seen above> }", format({ a = shared, b = shared }))
  end)

  it("prints a table shared exponentially often in linear time", function()
    local t = { 1 }
    for _ = 1, 40 do t = { t, t } end
    local started = os.clock()
    local text = format(t)
    assert.truthy(os.clock() - started < 1)
    assert.truthy(#text < 10000)
  end)

  it("stops at a deep nesting", function()
    local t = {}
    for _ = 1, 100 do t = { t } end
    assert.truthy(format(t):find("{…}", 1, true))
  end)

  it("prints error objects through tostring", function()
    local err = private.error({ code = "AccessDenied", phase = "assume", account = "222222222222",
      message = "not authorized" }, "denied")
    assert.are.equal("AccessDenied (assume 222222222222): not authorized", format(err))
    assert.truthy(format({ err }):find("{ AccessDenied (assume 222222222222): not authorized }", 1, true))
  end)

  it("prints functions and json.null recognisably", function()
    assert.truthy(format(print):match("^builtin: ") or format(print):match("^function: "))
    assert.are.equal("{ a = json.null }", format({ a = opsrun.json.null }))
  end)

  it("prints a table with many fields with a note of how many were left out", function()
    local t = {}
    for i = 1, 600 do t["k" .. i] = i end
    local lines = lines_of(format(t))
    assert.are.equal(503, #lines)
    assert.are.equal("  -- … 100 more fields", lines[502])
  end)
end)

describe("repl.format of an array of records", function()
  it("prints an aligned table under a header of every key, first-seen order", function()
    local text = format({
      { id = "200000000001", name = "Account 01", environment = "prod" },
      { id = "200000000002", name = "B", environment = "staging", owner = "team-a" },
      { id = "3", name = "C" },
    })
    assert.are.same({
      "id            name        environment  owner",
      "200000000001  Account 01  prod",
      "200000000002  B           staging      team-a",
      "3             C",
    }, lines_of(text))
  end)

  it("shows one-level tables in cells and cuts wide cells with an ellipsis", function()
    local text = format({
      { id = "1", regions = { "us-east-1", "eu-west-1" }, tags = { team = "payments" },
        note = string.rep("n", 60) },
    })
    local lines = lines_of(text)
    assert.are.equal("id  note" .. string.rep(" ", 38) .. "regions" .. string.rep(" ", 23) .. "tags", lines[1])
    assert.are.equal('1   ' .. string.rep("n", 39) .. '…  { "us-east-1", "eu-west-1" }  { team = "payments" }', lines[2])
  end)

  it("aligns by code points and escapes control characters", function()
    local lines = lines_of(format({ { a = "é\n", b = 1 }, { a = "xyz", b = 22 } }))
    assert.are.same({ "a    b", "é\\n  1", "xyz  22" }, lines)
  end)

  it("keeps nested literals for arrays of deeper or mixed tables", function()
    assert.are.equal("{ { a = { b = { c = 1 } } } }", format({ { a = { b = { c = 1 } } } }))
    assert.are.equal('{ { a = 1 }, "x" }', format({ { a = 1 }, "x" }))
    assert.are.equal("{ { 1, 2 } }", format({ { 1, 2 } }))
  end)
end)

describe("repl.print_values", function()
  it("prints every value, tab-separated, on stdout", function()
    local saved = io.stdout
    local file = assert(io.tmpfile())
    io.stdout = file
    local ok, err = pcall(repl.print_values, 1, nil, "a", { 2 })
    io.stdout = saved
    file:seek("set")
    local text = file:read("a")
    file:close()
    assert.truthy(ok, err)
    assert.are.equal('1\tnil\t"a"\t{ 2 }\n', text)
  end)
end)

describe("repl.complete", function()
  local function complete(line, word)
    return repl.complete(line, utf8.len(line), word or line:match("[%w_.:]*$"))
  end

  it("offers globals and keywords for a bare word", function()
    assert.are.same({ "pairs" }, (complete("pai")))
    assert.are.same({ "function" }, (complete("x = funct")))
    _G.repl_spec_alpha, _G.repl_spec_beta = 1, 2
    assert.are.same({ "repl_spec_alpha", "repl_spec_beta" }, (complete("repl_spec_")))
    _G.repl_spec_alpha, _G.repl_spec_beta = nil, nil
  end)

  it("offers the fields of a table after a dot", function()
    _G.mcp = opsrun.mcp
    assert.are.same({ "mcp.boto3", "mcp.call", "mcp.paginate", "mcp.tools" }, (complete("mcp.")))
    assert.are.same({ "mcp.call" }, (complete("print(mcp.c")))
    assert.are.same({ "string.format" }, (complete("string.form")))
  end)

  it("walks a dotted path and the __index tables of metatables", function()
    local base = { greet = function() end, level = 1 }
    _G.repl_spec_obj = { inner = setmetatable({ own = 1 }, { __index = base }) }
    assert.are.same({ "repl_spec_obj.inner.greet" }, (complete("repl_spec_obj.inner.gr")))
    assert.are.same({ "repl_spec_obj.inner.greet", "repl_spec_obj.inner.level",
      "repl_spec_obj.inner.own" }, (complete("repl_spec_obj.inner.")))
    _G.repl_spec_obj = nil
  end)

  it("offers only methods after a colon, strings' too", function()
    _G.repl_spec_obj = { run = function() end, count = 3 }
    assert.are.same({ "repl_spec_obj:run" }, (complete("repl_spec_obj:")))
    _G.repl_spec_text = "abc"
    assert.are.same({ "repl_spec_text:upper" }, (complete("repl_spec_text:up")))
    _G.repl_spec_obj, _G.repl_spec_text = nil, nil
  end)

  it("says what to insert: the common prefix, and the closing quote after a single match", function()
    _G.repl_spec_obj = { alpha = 1, alphabet = 2 }
    assert.are.same({ { "repl_spec_obj.alpha", "repl_spec_obj.alphabet" }, "repl_spec_obj.alpha", "" },
      { complete("repl_spec_obj.al") })
    assert.are.same({ { "repl_spec_obj.alphabet" }, "repl_spec_obj.alphabet", "" },
      { complete("repl_spec_obj.alphab") })
    _G.repl_spec_obj = nil
  end)

  it("reads the line up to the cursor, counted in characters", function()
    assert.are.same({ "pairs" }, (repl.complete('x = "é" pai(1)', 10, "pai")))
  end)

  it("offers nothing for an unknown path, inside an unrelated string, or on a bad word", function()
    assert.are.same({}, (complete("nosuchthing.")))
    assert.are.same({}, (complete('print("acc', "acc")))
    assert.are.same({}, (complete("3.", "3.")))
  end)

  it("never calls a metamethod", function()
    local called = false
    _G.repl_spec_proxy = setmetatable({}, { __index = function() called = true end })
    assert.are.same({}, (complete("repl_spec_proxy.x.")))
    assert.is_false(called)
    _G.repl_spec_proxy = nil
  end)

  it("offers no account ids without a registry", function()
    assert.are.same({}, (complete('assume("2', "2")))
  end)

  it("offers account ids by id or name inside assume(\" when a registry is configured", function()
    local registry = '{"accounts":[{"id":"111111111111","name":"Central","role":"central"},' ..
      '{"id":"222222222222","name":"Production"},{"id":"222222222233","name":"Prod EU"}]}'
    local script = [[
      require "opsrun"
      local private = debug.getregistry()["opsrun.private"]
      private.require_file("repl")
      local complete = private.repl.complete
      local json = require "cjson"
      local function show(line, word)
        print(json.encode({ complete(line, utf8.len(line), word) }))
      end
      show('assume("', '"')
      show('assume("Cen', 'Cen')
      show('assume("2', '2')
      show('assume "prod', 'prod')
      show('assume("Prod EU', 'EU')
    ]]
    local command = string.format("env ACCOUNT_REGISTRY='%s' %s -e '%s'", registry, LUA,
      script:gsub("'", "'\\''"))
    local pipe = assert(io.popen(command))
    local output = pipe:read("a")
    pipe:close()
    assert.are.same({
      '[["111111111111 (Central)","222222222222 (Production)","222222222233 (Prod EU)"],"\\"",""]',
      '[["111111111111"],"111111111111","\\""]',
      '[["222222222222 (Production)","222222222233 (Prod EU)"],"2222222222",""]',
      '[["222222222222 (Production)","222222222233 (Prod EU)"],"prod",""]',
      '[["222222222233 (Prod EU)"],"",""]',
    }, lines_of((output:gsub("\n$", ""))))
  end)
end)

describe("repl.help", function()
  it("lists every global of SPEC section 4 and the REPL's commands", function()
    for _, name in ipairs({ "accounts(", "central(", "assume(", "whoami(", "mcp.call(", "mcp.tools(",
      "mcp.boto3(", "sweep(", "emit(", "log.debug", "json.encode", "json.decode", "sleep(",
      ":help", ":quit", "Ctrl-C", "Ctrl-D", "Tab" }) do
      assert.truthy(repl.help:find(name, 1, true), name)
    end
  end)
end)

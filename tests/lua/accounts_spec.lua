-- accounts_spec.lua: accounts([filter]) and central() of the opsrun module (SPEC sections 3-4):
-- filters, the central account, fresh tables, role chains, "enabled" regions and exclusion,
-- registry errors, --shard and --role.
--
-- How: every case runs in a fresh process. The module reads its registry from the environment
-- (OPSRUN_REGISTRY, a path, else ACCOUNT_REGISTRY, JSON text) once per Lua state and keeps it,
-- busted runs every spec in one process, and stock Lua cannot set environment variables; so a
-- case is a small script run by `lua5.4` (the same build/lua/opsrun.so, found through the
-- inherited LUA_CPATH) under `env` with exactly the registry variables it wants. --shard and
-- --role exist only on the command line, so those cases run the script with the opsrun host
-- (`$OPSRUN`, else the `opsrun` beside the module's lua/ directory), where `require "opsrun"`
-- is the same module. The script returns a value; it comes back as JSON on stdout.
local cjson = require "cjson"

local LUA = os.getenv("LUA") or "lua5.4"
local OPSRUN = os.getenv("OPSRUN") or (package.cpath:match("([^;]+)/lua/%?%.so") or "build") ..
  "/opsrun"

local REGISTRY = [[
{
  "defaults": { "role_name": "CentralOpsTargetRole", "regions": ["us-east-1"], "session_duration": 3600 },
  "accounts": [
    { "id": "111111111111", "name": "Central", "environment": "ops", "role": "central" },
    { "id": "222222222222", "name": "Production", "environment": "prod", "role": "workload",
      "role_name": "OpsReadOnly", "external_id": "x-123", "regions": ["us-east-1", "eu-west-1"],
      "session_duration": 7200, "tags": { "team": "payments", "tier": "1" } },
    { "id": "333333333333", "name": "Staging", "environment": "staging",
      "tags": { "team": "payments", "tier": "2" } },
    { "id": "444444444444", "name": "Analytics", "environment": "prod",
      "tags": { "team": "data" } },
    { "id": "555555555555", "name": "Sandbox", "environment": "dev" },
    { "id": "666666666666", "name": "Shared", "environment": "prod", "regions": ["eu-west-1"] }
  ]
}
]]

local function write_temp(text)
  local path = os.tmpname()
  local file = assert(io.open(path, "w"))
  file:write(text)
  file:close()
  return path
end

local function shell_quote(text)
  return "'" .. text:gsub("'", [['\'']]) .. "'"
end

local registry_path = write_temp(REGISTRY)
teardown(function() os.remove(registry_path) end)

-- The script a case runs: BODY is a function body whose return value is sent back, or, when
-- it raises, {error = tostring(err), kind = err.kind}.
local WRAPPER = [[
local cjson = require "cjson"
local opsrun = require "opsrun"
local accounts, central = opsrun.accounts, opsrun.central
local ok, value = pcall(function() %s end)
if not ok then
  value = { error = tostring(value), kind = type(value) == "table" and value.kind or nil }
end
io.write(cjson.encode({ value = value == nil and cjson.null or value }))
]]

-- run(body [, opts]): opts.env = the registry variables (default OPSRUN_REGISTRY = the file
-- above), opts.host = arguments for the opsrun host, which then runs the script instead of
-- lua5.4. Returns the script's value.
local function run(body, opts)
  opts = opts or {}
  local script = write_temp(WRAPPER:format(body))
  local assignments = {}
  for name, value in pairs(opts.env or { OPSRUN_REGISTRY = registry_path }) do
    assignments[#assignments + 1] = name .. "=" .. shell_quote(value)
  end
  local program = opts.host and (shell_quote(OPSRUN) .. " " .. opts.host) or LUA
  local command = string.format("env -u OPSRUN_REGISTRY -u ACCOUNT_REGISTRY %s %s %s 2>&1",
    table.concat(assignments, " "), program, script)
  local pipe = assert(io.popen(command))
  local output = pipe:read("a")
  local exited = pipe:close()
  os.remove(script)
  assert(exited, "the case failed: " .. output)
  local decoded = cjson.decode(output).value
  return decoded ~= cjson.null and decoded or nil
end

local function ids(body, opts)
  return run("local ids = {} for i, a in ipairs(" .. body .. ") do ids[i] = a.id end return ids",
    opts)
end

describe("accounts()", function()
  it("lists the workload accounts in registry order, the central one left out", function()
    assert.are.same({ "222222222222", "333333333333", "444444444444", "555555555555",
      "666666666666" }, ids("accounts()"))
  end)

  it("gives each account its effective values and its registry index", function()
    local prod, staging = table.unpack(run("return accounts()"))
    assert.are.same({
      id = "222222222222", name = "Production", environment = "prod", role_name = "OpsReadOnly",
      external_id = "x-123", regions = { "us-east-1", "eu-west-1" }, session_duration = 7200,
      tags = { team = "payments", tier = "1" }, index = 1,
    }, prod)
    assert.are.same({
      id = "333333333333", name = "Staging", environment = "staging",
      role_name = "CentralOpsTargetRole", regions = { "us-east-1" }, session_duration = 3600,
      tags = { team = "payments", tier = "2" }, index = 2,
    }, staging)
    assert.is_true(run("local a = accounts()[1] return math.type(a.index) == 'integer' and " ..
      "math.type(a.session_duration) == 'integer'"))
  end)

  it("returns fresh tables on every call", function()
    assert.are.same({ true, true, true, "Production" }, run([[
      local a, b = accounts(), accounts()
      a[1].name = "changed"
      a[1].regions[1] = "changed"
      return { a ~= b, a[1] ~= b[1], a[1].tags ~= b[1].tags, accounts()[1].name }
    ]]))
  end)

  it("filters on a field", function()
    assert.are.same({ "222222222222", "444444444444", "666666666666" },
      ids('accounts{environment = "prod"}'))
  end)

  it("matches any of the values given as an array", function()
    assert.are.same({ "333333333333", "555555555555" },
      ids('accounts{environment = {"staging", "dev"}}'))
    assert.are.same({ "222222222222", "666666666666" }, ids('accounts{id = {"222222222222", ' ..
      '"666666666666", "111111111111"}}'))
  end)

  it("requires every field of the filter to match", function()
    assert.are.same({ "444444444444" }, ids('accounts{environment = "prod", name = "Analytics"}'))
    assert.are.same({}, ids('accounts{environment = "prod", name = "Staging"}'))
  end)

  it("matches tags when every listed tag matches", function()
    assert.are.same({ "222222222222", "333333333333" }, ids('accounts{tags = {team = "payments"}}'))
    assert.are.same({ "333333333333" }, ids('accounts{tags = {team = "payments", tier = "2"}}'))
    assert.are.same({ "222222222222" }, ids('accounts{tags = {tier = {"1", "3"}}}'))
    assert.are.same({ "222222222222", "444444444444" },
      ids('accounts{tags = {team = {"payments", "data"}}, environment = "prod"}'))
    assert.are.same({}, ids('accounts{tags = {owner = "nobody"}}'))
  end)

  it("matches a region when the account's regions include it", function()
    assert.are.same({ "222222222222", "666666666666" }, ids('accounts{regions = "eu-west-1"}'))
  end)

  it("takes a function acct -> boolean", function()
    assert.are.same({ "444444444444", "555555555555" },
      ids('accounts(function(a) return a.index == 3 or a.name:find("^San") ~= nil end)'))
  end)

  it("rejects a filter it cannot apply, blaming the caller", function()
    local function rejects(filter, message)
      local got = run("return accounts(" .. filter .. ")")
      assert.is_nil(got.kind)
      assert.are.equal("bad argument #1 to 'accounts' (" .. message .. ")",
        got.error:match("bad argument.*$"))
    end
    rejects("42", "table or function expected, got number")
    rejects('{tags = "payments"}', 'tags must be a table such as {team = "payments"}, got string')
    rejects('{enviroment = "prod"}', 'unknown field "enviroment" in filter; the fields are ' ..
      "environment, external_id, id, index, name, ou, ou_path, regions, role_name, " ..
      "session_duration, tags")
  end)

  it("gives an account's role_chain and regions = \"enabled\", and leaves excluded ones out",
    function()
    local chained = [[{
      "defaults": { "role_chain": ["arn:aws:iam::111111111111:role/OpsHub", "OpsReadOnly"],
                    "regions": "enabled" },
      "accounts": [
        { "id": "222222222222", "name": "P", "external_id": "x-2" },
        { "id": "333333333333", "name": "Gone", "exclude": true },
        { "id": "444444444444", "name": "D", "role_name": "Direct", "regions": ["eu-west-1"] }
      ]
    }]]
    local got = run("return accounts()", { env = { ACCOUNT_REGISTRY = chained } })
    assert.are.same({
      id = "222222222222", name = "P", role_name = "OpsReadOnly", external_id = "x-2",
      role_chain = { { role = "arn:aws:iam::111111111111:role/OpsHub" },
        { role = "OpsReadOnly", external_id = "x-2" } },
      regions = "enabled", session_duration = 3600, tags = {}, index = 0,
    }, got[1])
    assert.are.same({
      id = "444444444444", name = "D", role_name = "Direct", regions = { "eu-west-1" },
      session_duration = 3600, tags = {}, index = 2,
    }, got[2])
    assert.are.equal(2, #got)
  end)

  it("reads the JSON text of ACCOUNT_REGISTRY when no path is set", function()
    assert.are.same({ "222222222222" }, ids("accounts()", {
      env = { ACCOUNT_REGISTRY = '{"accounts": [{"id": "222222222222", "name": "P"}]}' } }))
  end)

  it("raises a registry error object for an invalid registry", function()
    assert.are.same({
      kind = "registry",
      error = 'registry: $ACCOUNT_REGISTRY: /accounts/0/id: expected a string of exactly 12 ' ..
        'digits, got "2"',
    }, run("return accounts()", { env = { ACCOUNT_REGISTRY = '{"accounts": [{"id": "2"}]}' } }))
  end)

  it("raises a registry error object when no registry is configured", function()
    assert.are.same({
      kind = "registry",
      error = "registry: no account registry: pass -r FILE or --org, or set OPSRUN_REGISTRY (a " ..
        "path), ACCOUNT_REGISTRY (JSON text) or OPSRUN_ORG=1",
    }, run("return central()", { env = {} }))
  end)
end)

describe("central()", function()
  it("returns the central account's table", function()
    assert.are.same({
      id = "111111111111", name = "Central", environment = "ops",
      role_name = "CentralOpsTargetRole", regions = { "us-east-1" }, session_duration = 3600,
      tags = {}, index = 0,
    }, run("return central()"))
  end)

  it("returns nil when the registry has no central account", function()
    assert.is_nil(run("return central()", {
      env = { ACCOUNT_REGISTRY = '{"accounts": [{"id": "222222222222", "name": "P"}]}' } }))
  end)

  it("returns a fresh table on every call", function()
    assert.is_true(run("return central() ~= central()"))
  end)
end)

describe("with the opsrun host", function()
  it("keeps the accounts of --shard K/N, numbered among the workload accounts (the central one, "
    .. "first in the registry, not counted): each in exactly one shard", function()
    local host = "-r " .. registry_path .. " --shard "
    assert.are.same({ "222222222222", "555555555555" }, ids("accounts()", { host = host .. "1/3" }))
    assert.are.same({ "333333333333", "666666666666" }, ids("accounts()", { host = host .. "2/3" }))
    assert.are.same({ "444444444444" }, ids("accounts()", { host = host .. "3/3" }))
    assert.are.same({ "666666666666" }, ids('accounts{environment = "prod"}', { host = host .. "2/3" }))
  end)

  it("gives --role precedence over every role_name in the registry", function()
    assert.are.same({ "FromCommandLine", "FromCommandLine" }, run(
      "return { accounts()[1].role_name, central().role_name }",
      { host = "--role FromCommandLine -r " .. registry_path }))
  end)
end)

-- scope_spec.lua: the scopes `opsrun serve` gives its calls (bindings/lua_engine.c): a scope is
-- inherited by the tasks a task spawns, cancelling it stops them where they wait, and emit keeps
-- the rows of a scope that captures them (emit.lua), under stock lua5.4 with build/lua/opsrun.so.
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]

-- Runs fn(...) as a task of a fresh group and returns the group.
local function spawn(fn, ...)
  local group = private.group()
  group:spawn(1, 0, nil, fn, ...)
  return group
end

describe("a scope", function()
  it("is inherited by the tasks of a sweep", function()
    local scopes
    spawn(function()
      private.scope(7)
      local results = opsrun.sweep({ 1, 2 }, function() return private.scope() end)
      scopes = { results[1].value, results[2].value }
    end):next()
    assert.are.same({ 7, 7 }, scopes)
    assert.are.equal(0, private.scope())
  end)

  it("cancelled stops its sweep's tasks where they wait, and no other task", function()
    local results, other
    local started = private.clock()
    local calls = spawn(function()
      private.scope(11)
      local ok, err = pcall(opsrun.sweep, { 1, 2, 3 }, function() opsrun.sleep(5) end)
      results = { ok = ok, err = err }
    end)
    local bystander = spawn(function()
      private.scope(12)
      opsrun.sleep(0.2)
      other = "finished"
    end)
    local canceller = spawn(function()
      opsrun.sleep(0.05)
      private.cancel_scope(11)
    end)
    canceller:next()
    calls:next()
    bystander:next()
    assert.is_true(private.clock() - started < 2)
    assert.is_false(results.ok)
    assert.are.equal("cancelled", results.err.kind)
    assert.are.equal("cancelled by the client", results.err.message)
    assert.are.equal("finished", other)
  end)

  it("cancelled makes a later wait of its tasks fail at once", function()
    local err
    spawn(function()
      private.scope(21)
      private.cancel_scope(21)
      local ok, e = pcall(opsrun.sleep, 5)
      err = not ok and e
    end):next()
    assert.are.equal("Cancelled", err.code)
  end)

  it("shares -j among the sweeps of all scopes, each keeping one task running", function()
    local running, most = 0, 0
    local function task()
      running = running + 1
      most = math.max(most, running)
      opsrun.sleep(0.02)
      running = running - 1
    end
    local saved = private.config.concurrency
    private.config.concurrency = 3
    local groups = {}
    for scope = 51, 53 do
      groups[#groups + 1] = spawn(function()
        private.scope(scope)
        opsrun.sweep({ 1, 2, 3, 4, 5, 6 }, task)
      end)
    end
    for _, group in ipairs(groups) do group:next() end
    private.config.concurrency = saved
    assert.are.equal(3 + 2, most) -- -j, and one each for the two sweeps that came after it
  end)

  it("can capture the rows emit is given", function()
    local captured = {}
    private.captures[31] = captured
    spawn(function()
      private.scope(31)
      opsrun.sweep({ "b", "a" }, function(item) opsrun.emit({ item = item, n = 1 }) end)
    end):next()
    private.captures[31] = nil
    local columns, objects = private.captured_objects(captured, { "n" })
    assert.are.same({ "n", "item" }, columns.names)
    assert.are.same({ '{"n":1,"item":"b"}', '{"n":1,"item":"a"}' }, objects)
    assert.are.equal("n  item\n1  b\n1  a\n", private.captured_table(columns, captured, 2))
  end)

  it("of a read-only tool refuses what --read-only refuses", function()
    private.read_only_scopes[41] = true
    local refusal
    spawn(function()
      private.scope(41)
      refusal = private.read_only_refusal("ec2", "TerminateInstances")
    end):next()
    private.read_only_scopes[41] = nil
    assert.are.equal("denied", refusal.kind)
    assert.matches("the read%-only tool refused ec2 TerminateInstances", refusal.message)
    assert.is_nil(private.read_only_refusal("ec2", "TerminateInstances"))
  end)
end)

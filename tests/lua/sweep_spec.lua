-- sweep_spec.lua: sleep, sweep and error objects of the opsrun module, required under stock
-- lua5.4 from build/lua/opsrun.so (the same bindings the host links).
local opsrun = require "opsrun"
local sweep, sleep = opsrun.sweep, opsrun.sleep

local function range(n)
  local items = {}
  for i = 1, n do items[i] = i end
  return items
end

describe("sleep", function()
  it("waits at least the time asked for", function()
    local r = sweep({ 0.15 }, function(s) sleep(s) end)
    assert.is_true(r[1].ok)
    assert.is_true(r[1].seconds >= 0.14, r[1].seconds)
  end)

  it("works outside any task, as a plain call", function()
    assert.has_no.errors(function() sleep(0.01) end)
  end)

  it("rejects a negative time", function()
    assert.has_error(function() sleep(-1) end,
      "bad argument #1 to 'sleep' (seconds must be between 0 and 1e9)")
  end)
end)

describe("sweep", function()
  it("returns results in input order, whatever order tasks end in", function()
    local ended = {}
    local r = sweep({ 0.09, 0.03, 0.06 }, function(s) sleep(s) return s * 100 end, {
      on_result = function(result) ended[#ended + 1] = result.item end,
    })
    assert.are.same({ 0.03, 0.06, 0.09 }, ended)
    for i, s in ipairs({ 0.09, 0.03, 0.06 }) do
      assert.are.equal(s, r[i].item)
      assert.is_true(r[i].ok)
      assert.are.equal(s * 100, r[i].value)
      assert.is_nil(r[i].error)
    end
  end)

  it("runs at most `concurrency` tasks at once, and that many in parallel", function()
    local running, peak = 0, 0
    sweep(range(20), function()
      running = running + 1
      peak = math.max(peak, running)
      sleep(0.02)
      running = running - 1
    end, { concurrency = 5 })
    assert.are.equal(5, peak)
  end)

  it("keeps going when tasks fail, with each error as raised", function()
    local failure = setmetatable({ kind = "tool" }, { __tostring = function() return "custom" end })
    local r = sweep(range(4), function(i)
      if i == 2 then error("plain failure") end
      if i == 3 then error(failure) end
      return i
    end)
    assert.is_true(r[1].ok and r[4].ok)
    assert.is_false(r[2].ok)
    assert.matches("sweep_spec.lua:%d+: plain failure", r[2].error)
    assert.are.equal(failure, r[3].error)
  end)

  it("ends a task past its deadline with a timeout error, others unharmed", function()
    local r = sweep({ 0.01, 5 }, function(s) sleep(s) return "slept" end, { timeout = 0.2 })
    assert.is_true(r[1].ok)
    local err = r[2].error
    assert.is_false(r[2].ok)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("TaskTimeout", err.code)
    assert.is_true(err.retryable)
    assert.are.equal("TaskTimeout: task did not finish within its 0.2 s deadline", tostring(err))
    assert.is_true(r[2].seconds < 1)
  end)

  it("stops a task that never waits once its deadline passes", function()
    local r = sweep({ 1 }, function() while true do end end, { timeout = 0.1 })
    assert.are.equal("timeout", r[1].error.kind)
  end)

  it("names the account in a timed-out task's error", function()
    local r = sweep({ { id = "222222222222" } }, function() sleep(1) end, { timeout = 0.05 })
    assert.are.equal("222222222222", r[1].error.account)
    assert.matches("^TaskTimeout %(222222222222%): ", tostring(r[1].error))
  end)

  it("runs every item in every region, in item-then-region order", function()
    local r = sweep({ "a", "b" }, function(item, region) return item .. "@" .. region end,
      { regions = { "us-east-1", "eu-west-1" } })
    local got = {}
    for i, result in ipairs(r) do got[i] = result.value end
    assert.are.same({ "a@us-east-1", "a@eu-west-1", "b@us-east-1", "b@eu-west-1" }, got)
    assert.are.equal("eu-west-1", r[4].region)
  end)

  it("starts tasks in turn across accounts, not item by item, and returns them in input order", function()
    local regions = { "us-east-1", "eu-west-1", "ap-south-1" }
    local starts = {}
    local r = sweep({ "111111111111", "222222222222", "333333333333" }, function(item, region)
      starts[#starts + 1] = item:sub(1, 1) .. " " .. region
      return item:sub(1, 1) .. " " .. region
    end, { regions = regions, concurrency = 1 })
    assert.are.same({ "1 us-east-1", "2 us-east-1", "3 us-east-1", "1 eu-west-1", "2 eu-west-1",
      "3 eu-west-1", "1 ap-south-1", "2 ap-south-1", "3 ap-south-1" }, starts)
    local got = {}
    for i, result in ipairs(r) do got[i] = result.value end
    assert.are.same({ "1 us-east-1", "1 eu-west-1", "1 ap-south-1", "2 us-east-1", "2 eu-west-1",
      "2 ap-south-1", "3 us-east-1", "3 eu-west-1", "3 ap-south-1" }, got)
  end)

  it("gives a free place to the account with the fewest tasks running", function()
    local regions = { "us-east-1", "eu-west-1", "ap-south-1", "us-west-2", "eu-central-1" }
    local running, peak, starts = {}, {}, {}
    local a, b = "444444444444", "555555555555"
    sweep({ a, b }, function(item)
      starts[#starts + 1] = item
      running[item] = (running[item] or 0) + 1
      peak[item] = math.max(peak[item] or 0, running[item])
      sleep(item == a and 0.5 or 0.01) -- a is slow: its tasks must not take b's places
      running[item] = running[item] - 1
    end, { regions = regions, concurrency = 4 })
    assert.are.same({ a, b, a, b }, { table.unpack(starts, 1, 4) })
    -- b's five tasks run two at a time beside a's two; only then does a get more places
    assert.are.same({ a, b, a, b, b, b, b }, { table.unpack(starts, 1, 7) })
    assert.are.equal(2, peak[b])
    assert.are.equal(4, peak[a])
  end)

  it("hands on_result the very result table it returns", function()
    local seen = {}
    local r = sweep(range(3), function(i) return i end,
      { on_result = function(result) seen[result.item] = result end })
    for i = 1, 3 do assert.are.equal(r[i], seen[i]) end
  end)

  it("reports every result though on_result fails, then raises its first error", function()
    local seen = {}
    local ok, err = pcall(sweep, range(5), function(i) sleep(0.01 * i) return i end, {
      on_result = function(result)
        seen[#seen + 1] = result.item
        if result.item <= 2 then error("cannot report " .. result.item, 0) end
      end,
    })
    assert.is_false(ok)
    assert.are.equal("cannot report 1", err)
    assert.are.same({ 1, 2, 3, 4, 5 }, seen)
  end)

  it("returns an empty array for an empty list", function()
    assert.are.same({}, sweep({}, function() end))
  end)

  it("nests: a task can sweep", function()
    local r = sweep(range(2), function(i)
      local inner = sweep(range(3), function(j) sleep(0.01) return i * 10 + j end)
      return inner[3].value
    end)
    assert.are.same({ 13, 23 }, { r[1].value, r[2].value })
  end)

  it("lets a task's own coroutines wait", function()
    local r = sweep({ 1 }, function()
      local co = coroutine.wrap(function() sleep(0.01) return "inner" end)
      return co()
    end)
    assert.are.equal("inner", r[1].value)
  end)

  it("treats a bare coroutine.yield() in a task as letting the others run", function()
    local order = {}
    sweep({ "a", "b" }, function(name)
      order[#order + 1] = name .. 1
      coroutine.yield()
      order[#order + 1] = name .. 2
    end)
    assert.are.same({ "a1", "b1", "a2", "b2" }, order)
  end)

  it("checks its arguments, blaming the caller", function()
    local function rejects(message, ...)
      local args = table.pack(...)
      local ok, err = pcall(function() sweep(table.unpack(args, 1, args.n)) end)
      assert.is_false(ok)
      assert.are.equal("sweep_spec.lua:", err:match("sweep_spec%.lua:"))
      assert.are.equal("bad argument to 'sweep' (" .. message .. ")", err:match("bad argument.*$"))
    end
    rejects("list must be a table, got nil", nil, print)
    rejects("fn must be a function, got number", {}, 1)
    rejects("concurrency must be an integer from 1 to 1024, got 0", {}, print, { concurrency = 0 })
    rejects("concurrency must be an integer from 1 to 1024, got 2.5", {}, print, { concurrency = 2.5 })
    rejects("timeout must be a positive number of seconds up to 1e9, got -1", {}, print, { timeout = -1 })
    rejects("timeout must be a positive number of seconds up to 1e9, got inf", {}, print,
      { timeout = math.huge })
    rejects("timeout must be a positive number of seconds up to 1e9, got 1e+300", {}, print,
      { timeout = 1e300 })
    rejects("timeout must be a positive number of seconds up to 1e9, got " .. tostring(0 / 0), {},
      print, { timeout = 0 / 0 })
    rejects('regions must be a non-empty array of region names or "enabled"', {}, print,
      { regions = {} })
    rejects('regions must be a non-empty array of region names or "enabled"', {}, print,
      { regions = "all" })
    rejects('regions = "enabled" needs account items (an account table or a 12-digit account id); '
      .. "list[2] is a number", { "222222222222", 7 }, print, { regions = "enabled" })
    rejects('regions = "enabled" needs account items (an account table or a 12-digit account id); '
      .. "list[1] is a table without one", { { name = "web" } }, print, { regions = "enabled" })
    rejects('regions = "enabled" needs account items (an account table or a 12-digit account id); '
      .. "list[1] is a table without one", { { id = "web", regions = "enabled" } }, print)
    rejects([[regions[2] must be a region name such as 'us-east-1', got "us-east-1\13\nX-Injected: yes"]],
      {}, print, { regions = { "eu-west-1", "us-east-1\r\nX-Injected: yes" } })
    rejects([[regions[1] must be a region name such as 'us-east-1', got "x@127.0.0.1:1/#"]], {}, print,
      { regions = { "x@127.0.0.1:1/#" } })
    rejects("on_result must be a function, got string", {}, print, { on_result = "x" })
    rejects("retries must be an integer from 0 to 100, got -1", {}, print, { retries = -1 })
    rejects("retries must be an integer from 0 to 100, got 1.5", {}, print, { retries = 1.5 })
    rejects("retries must be an integer from 0 to 100, got 101", {}, print, { retries = 101 })
  end)
end)

-- An error as the API raises it (SPEC 4): a table with kind and code, one readable line.
local function api_error(kind, code)
  return setmetatable({ kind = kind, code = code, retryable = kind == "throttled" },
    { __tostring = function() return code .. ": " .. kind end })
end

describe("sweep's retries", function()
  it("runs a task that failed throttled again after the others, keeping its place", function()
    local order, failures = {}, { a = 2 }
    local r = sweep({ "a", "b", "c" }, function(item)
      order[#order + 1] = item
      if (failures[item] or 0) > 0 then
        failures[item] = failures[item] - 1
        error(api_error("throttled", "Throttling"))
      end
      return item
    end, { retries = 2, concurrency = 1 })
    assert.are.same({ "a", "b", "c", "a", "a" }, order)
    assert.are.same({ "a", "b", "c" }, { r[1].value, r[2].value, r[3].value })
    assert.are.same({ 3, 1, 1 }, { r[1].attempts, r[2].attempts, r[3].attempts })
  end)

  it("gives up after `retries` more attempts, with the last error", function()
    local last = api_error("transport", "ConnectionReset")
    local r = sweep({ "a" }, function() error(last) end, { retries = 2 })
    assert.is_false(r[1].ok)
    assert.are.equal(last, r[1].error)
    assert.are.equal(3, r[1].attempts)
  end)

  it("runs a timed-out task again", function()
    local tries = 0
    local r = sweep({ 1 }, function()
      tries = tries + 1
      if tries == 1 then sleep(5) end
      return tries
    end, { retries = 1, timeout = 0.1 })
    assert.is_true(r[1].ok)
    assert.are.same({ 2, 2 }, { r[1].value, r[1].attempts })
  end)

  it("does not run again a task that failed otherwise, nor without retries", function()
    local tries = { a = 0, b = 0, c = 0 }
    local errors = { a = "plain", b = api_error("denied", "AccessDenied"),
      c = api_error("throttled", "Throttling") }
    local r = sweep({ "a", "b" }, function(item)
      tries[item] = tries[item] + 1
      error(errors[item])
    end, { retries = 3 })
    local s = sweep({ "c" }, function(item)
      tries[item] = tries[item] + 1
      error(errors[item])
    end)
    assert.are.same({ a = 1, b = 1, c = 1 }, tries)
    assert.are.same({ 1, 1, 1 }, { r[1].attempts, r[2].attempts, s[1].attempts })
  end)
end)

-- regions = "enabled" over stubbed assume and mcp.boto3: each account's DescribeRegions answer
-- comes from `enabled` (unsorted, as EC2 promises no order), after `lookup_seconds`.
describe("sweep over each account's enabled regions", function()
  local real_assume, real_boto3 = opsrun.assume, opsrun.mcp.boto3
  local enabled, calls, assumed, lookup_seconds, refusals
  local last_id = 300000000000
  local function new_account(regions)
    last_id = last_id + 1 -- a fresh id per account: what a lookup finds is kept for the run
    local id = string.format("%d", last_id)
    enabled[id] = regions
    return id
  end

  before_each(function()
    enabled, calls, assumed, lookup_seconds, refusals = {}, {}, {}, 0.02, {}
    local acting_as
    opsrun.assume = function(account)
      acting_as = type(account) == "table" and account.id or account
      assumed[#assumed + 1] = account
    end
    opsrun.mcp.boto3 = function(service, operation, params)
      local id = acting_as
      calls[id] = (calls[id] or 0) + 1
      assert.are.same({ "ec2", "DescribeRegions", {} }, { service, operation, params })
      sleep(lookup_seconds)
      local refusal = refusals[id] and table.remove(refusals[id], 1)
      if refusal then error(refusal) end
      local regions = {}
      for i, name in ipairs(enabled[id]) do regions[i] = { RegionName = name, OptInStatus = "x" } end
      return { Regions = regions }
    end
  end)

  after_each(function()
    opsrun.assume, opsrun.mcp.boto3 = real_assume, real_boto3
  end)

  local function where(results)
    local got = {}
    for i, r in ipairs(results) do
      got[i] = (type(r.item) == "table" and r.item.id or r.item) .. " " .. tostring(r.region)
    end
    return got
  end

  it("runs each account in the regions it has enabled, sorted, in item-then-region order", function()
    local a = new_account({ "us-east-1", "me-south-1", "eu-west-1" })
    local b = new_account({ "us-west-2", "af-south-1" })
    local account_b = { id = b, role_name = "Ops" }
    local r = sweep({ a, account_b }, function(item, region)
      sleep(item == a and 0.05 or 0.01)
      return region
    end, { regions = "enabled" })
    assert.are.same({ a .. " eu-west-1", a .. " me-south-1", a .. " us-east-1",
      b .. " af-south-1", b .. " us-west-2" }, where(r))
    for _, result in ipairs(r) do
      assert.is_true(result.ok)
      assert.are.equal(result.region, result.value)
      assert.are.equal(1, result.attempts)
    end
    assert.are.equal(account_b, r[4].item)
    assert.are.same({ [a] = 1, [b] = 1 }, calls)
    assert.are.same({ a, account_b }, assumed) -- the lookup acts as the account's role
  end)

  it("looks an account up once for the run: a second sweep makes no call", function()
    local a = new_account({ "us-east-1", "eu-west-1" })
    local first = sweep({ a }, function(_, region) return region end, { regions = "enabled" })
    local second = sweep({ a }, function(_, region) return region end, { regions = "enabled" })
    assert.are.same(where(first), where(second))
    assert.are.same({ [a] = 1 }, calls)
  end)

  it("makes one call for an account needed twice at once, in one sweep or in two", function()
    local a = new_account({ "eu-west-1", "us-east-1" })
    local r = sweep({ a, { id = a }, a }, function(_, region) return region end,
      { regions = "enabled" })
    assert.are.equal(6, #r)
    assert.are.same({ [a] = 1 }, calls)

    local b = new_account({ "us-east-1" })
    lookup_seconds = 0.2
    local outer = sweep({ 1, 2, 3 }, function()
      return #sweep({ b }, function(_, region) return region end, { regions = "enabled" })
    end)
    for i = 1, 3 do assert.are.equal(1, outer[i].value) end
    assert.are.same({ [a] = 1, [b] = 1 }, calls)
  end)

  it("gives one failed result for an account whose lookup fails, and goes on", function()
    local a = new_account({ "us-east-1" })
    local denied = new_account({ "us-east-1" })
    local c = new_account({ "eu-west-1", "us-east-1" })
    local refusal = api_error("denied", "AccessDenied")
    refusals[denied] = { refusal }
    local seen = {}
    local r = sweep({ a, denied, c }, function(_, region) return region end, {
      regions = "enabled", on_result = function(result) seen[#seen + 1] = result end,
    })
    assert.are.same({ a .. " us-east-1", denied .. " nil", c .. " eu-west-1", c .. " us-east-1" },
      where(r))
    assert.is_false(r[2].ok)
    assert.are.equal(refusal, r[2].error)
    assert.are.equal(denied, r[2].item)
    assert.is_nil(r[2].region)
    assert.is_true(r[1].ok and r[3].ok and r[4].ok)
    assert.are.equal(4, #seen)
    -- not kept: a later sweep asks again
    sweep({ denied }, function() end, { regions = "enabled" })
    assert.are.equal(2, calls[denied])
  end)

  it("counts a lookup against the sweep's concurrency and deadline", function()
    local running, peak = 0, 0
    local real = opsrun.mcp.boto3
    opsrun.mcp.boto3 = function(...)
      running = running + 1
      peak = math.max(peak, running)
      local ok, answer = pcall(real, ...)
      running = running - 1
      if not ok then error(answer, 0) end
      return answer
    end
    local accounts = { new_account({ "us-east-1" }), new_account({ "us-east-1" }),
      new_account({ "us-east-1", "eu-west-1" }) }
    sweep(accounts, function()
      running = running + 1
      peak = math.max(peak, running)
      sleep(0.01)
      running = running - 1
    end, { regions = "enabled", concurrency = 1 })
    assert.are.equal(1, peak)

    lookup_seconds = 5
    local slow = new_account({ "us-east-1" })
    local r = sweep({ slow }, function() end, { regions = "enabled", timeout = 0.1 })
    assert.are.equal(1, #r)
    assert.are.equal("timeout", r[1].error.kind)
    assert.is_nil(r[1].region)
    assert.is_true(r[1].seconds < 1)
  end)

  it("runs a lookup that failed throttled again with opts.retries", function()
    local a = new_account({ "us-east-1", "eu-west-1" })
    refusals[a] = { api_error("throttled", "Throttling") }
    local r = sweep({ a }, function(_, region) return region end,
      { regions = "enabled", retries = 1 })
    assert.are.same({ a .. " eu-west-1", a .. " us-east-1" }, where(r))
    assert.are.equal(2, calls[a])
  end)

  it("uses an account's own regions = \"enabled\" when the sweep names no regions", function()
    local a = new_account({ "us-east-1", "eu-west-1" })
    local listed = { id = new_account({ "us-east-1" }), regions = { "us-east-1", "eu-west-1" } }
    local own = { id = a, regions = "enabled" }
    local r = sweep({ listed, own, "not an account" }, function(_, region) return region end)
    assert.are.same({ listed.id .. " nil", a .. " eu-west-1", a .. " us-east-1",
      "not an account nil" }, where(r))
    -- opts.regions wins over the account's own
    r = sweep({ own }, function(_, region) return region end, { regions = { "ap-south-1" } })
    assert.are.same({ a .. " ap-south-1" }, where(r))
    assert.are.same({ [a] = 1 }, calls)
  end)
end)

describe("a configuration error in a sweep", function()
  for _, case in ipairs({ { "credentials", "NoCredentials" }, { "config", "BadSetting" },
                          { "registry", "InvalidRegistry" } }) do
    it("(" .. case[1] .. ") stops the sweep and is raised once as it was", function()
      local problem, started = api_error(case[1], case[2]), 0
      local ok, err = pcall(sweep, range(50), function(i)
        started = started + 1
        sleep(0.01 * i)
        error(problem)
      end, { concurrency = 4 })
      assert.is_false(ok)
      assert.are.equal(problem, err)
      assert.are.equal(4, started) -- those running when the first failed; no task after it
    end)
  end

  it("is not a refusal for one account, nor expired credentials", function()
    for _, case in ipairs({ { "denied", "AccessDenied" }, { "credentials", "ExpiredToken" } }) do
      local r = sweep(range(3), function() error(api_error(case[1], case[2])) end)
      assert.are.same({ false, false, false }, { r[1].ok, r[2].ok, r[3].ok })
    end
  end)

  it("is the caller's credentials refused where assume() or whoami() sign with them", function()
    for _, phase in ipairs({ "assume", "whoami" }) do
      local problem = api_error("credentials", "SignatureDoesNotMatch")
      problem.phase = phase
      local ok, err = pcall(sweep, range(3), function() error(problem) end)
      assert.is_false(ok)
      assert.are.equal(problem, err)
    end
    local role_refused = api_error("credentials", "ExpiredToken")
    role_refused.phase = "mcp" -- a role's credentials, one account's
    local r = sweep(range(3), function() error(role_refused) end)
    assert.are.same({ false, false, false }, { r[1].ok, r[2].ok, r[3].ok })
  end)
end)

-- Issue 14: a task's deadline holds whatever its Lua does. Each escape runs beside a task that
-- only sleeps briefly, which must not be starved past its own deadline by the one that spins.
describe("a task's deadline", function()
  local DEADLINE = 0.3

  -- Sweeps the escape beside a quick task; returns the escape's result and the quick one's.
  local function escape(fn)
    local started = os.time()
    local r = sweep({ "escape", "quick" }, function(name)
      if name == "escape" then return fn() end
      sleep(0.01)
      return "done"
    end, { timeout = DEADLINE })
    assert.is_true(os.time() - started <= 2, "the sweep outlived its deadline")
    return r[1], r[2]
  end

  local function assert_timed_out(result)
    assert.is_false(result.ok)
    assert.are.equal("TaskTimeout", result.error.code)
    assert.is_true(result.seconds >= DEADLINE - 0.01 and result.seconds < DEADLINE + 0.5,
      result.seconds)
  end

  it("holds a busy loop inside a coroutine.wrap of the task's own", function()
    assert_timed_out(escape(function() coroutine.wrap(function() while true do end end)() end))
  end)

  it("holds a busy loop that catches the timeout error with pcall", function()
    assert_timed_out(escape(function()
      while true do pcall(function() while true do end end) end
    end))
  end)

  it("holds a pcall loop inside a coroutine of the task's own", function()
    assert_timed_out(escape(function()
      coroutine.wrap(function() while true do pcall(function() while true do end end) end end)()
    end))
  end)

  it("holds a loop resuming a coroutine that yields at once, under pcall", function()
    assert_timed_out(escape(function()
      local co = coroutine.wrap(function() while true do coroutine.yield() end end)
      while true do pcall(function() while true do co() end end) end
    end))
  end)

  it("holds a busy loop where yielding is impossible (a table.sort comparator)", function()
    assert_timed_out(escape(function()
      while true do pcall(table.sort, { 3, 1, 2 }, function() while true do end end) end
    end))
  end)

  it("holds a coroutine of the task's own that waits in place", function()
    assert_timed_out(escape(function()
      while true do pcall(coroutine.wrap(function() sleep(10) end)) end
    end))
  end)

  it("leaves no per-instruction hook on a coroutine that outlives its timed-out task", function()
    local stop, busy = false, nil
    assert_timed_out(escape(function()
      busy = coroutine.create(function() while not stop do end return "stopped" end)
      coroutine.resume(busy)
    end))
    stop = true
    local r = sweep({ busy }, function(co) return select(2, coroutine.resume(co)) end)
    assert.are.equal("stopped", r[1].value)
    assert.are.equal(10000, select(3, debug.gethook(busy)))
  end)

  it("holds a task spinning on coroutine.yield(), and the others' timers still fire", function()
    local spinner, quick = escape(function() while true do coroutine.yield() end end)
    assert_timed_out(spinner)
    assert.are.equal("done", quick.value)
    assert.is_true(quick.seconds < DEADLINE / 2, quick.seconds)
  end)
end)

describe("the module", function()
  it("carries lua-cjson as json", function()
    assert.are.equal('{"a":1}', opsrun.json.encode({ a = 1 }))
    assert.are.equal(opsrun.json.null, opsrun.json.decode("[null]")[1])
  end)

  it("offers log.debug/info/warn/error and nothing private", function()
    for _, level in ipairs({ "debug", "info", "warn", "error" }) do
      assert.are.equal("function", type(opsrun.log[level]))
    end
    assert.is_nil(opsrun.log.notice)
    assert.has_no.errors(function() opsrun.log.debug("%d accounts", 3) end)
  end)
end)

-- commands_spec.lua: `opsrun call` (bindings/lua/commands.lua) over a stubbed mcp.call: an
-- aws___run_script envelope whose status is "error" fails the command in the script's words
-- whether or not the server marked the result isError (the simulator always does, so the e2e
-- contract_test cannot reach the other case), and a result is printed as the tool gave it.
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
private.require_file("commands") -- run on demand, as `opsrun call` runs it
local call = private.commands.call

describe("opsrun call", function()
  local real_call, real_stdout, printed

  before_each(function()
    real_call, real_stdout, printed = opsrun.mcp.call, io.stdout, {}
    io.stdout = { write = function(self, ...)
      for _, part in ipairs({ ... }) do printed[#printed + 1] = part end
      return self
    end }
  end)
  after_each(function()
    opsrun.mcp.call, io.stdout = real_call, real_stdout
  end)

  local function answer(result)
    opsrun.mcp.call = function() return result end
  end

  local function raised(words)
    local ok, err = pcall(call, words)
    assert.is_false(ok, "call did not fail")
    return err
  end

  local failed = { status = "error", return_value = cjson.null, api_calls = {},
    error = "ValueError: no such thing", stderr = "Traceback (most recent call last):\n" }

  it("fails with the script's error when the structured envelope says error, without isError", function()
    answer({ content = {}, structured = failed, text = "" })
    local err = raised({ "aws___run_script", "code=x" })
    assert.are.equal("tool", err.kind)
    assert.are.equal("ValueError: no such thing", err.message)
    assert.are.equal(failed.stderr, err.stderr)
    assert.are.same({}, printed)
  end)

  it("... and when only the text carries the envelope", function()
    local text = cjson.encode(failed)
    answer({ content = { { type = "text", text = text } }, text = text })
    assert.are.equal("ValueError: no such thing", raised({ "aws___run_script", "code=x" }).message)
  end)

  it("says so when the envelope's error is missing", function()
    answer({ content = {}, structured = { status = "error" }, text = "" })
    assert.are.equal('aws___run_script reported status "error" without an error message',
      raised({ "aws___run_script", "code=x" }).message)
  end)

  it("prints a successful result's text", function()
    local text = cjson.encode({ status = "success", return_value = 42 })
    answer({ content = { { type = "text", text = text } }, text = text })
    call({ "aws___run_script", "code=6*7" })
    assert.are.equal(text .. "\n", table.concat(printed))
  end)

  it("prints a result without text as its structured object", function()
    answer({ content = {}, structured = { regions = { "eu-west-1" } }, text = "" })
    call({ "aws___list_regions" })
    assert.are.same({ regions = { "eu-west-1" } }, cjson.decode(table.concat(printed)))
  end)
end)

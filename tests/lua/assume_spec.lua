-- assume_spec.lua: assume()'s role chains under stock lua5.4 from build/lua/opsrun.so: the
-- options a caller gets wrong, and a hop STS would refuse, named before anything is sent (so no
-- credentials or network are needed).
local opsrun = require "opsrun"

local ACCOUNT = "222222222222"
local HUB = "arn:aws:iam::111111111111:role/OpsHub"

local function assume_error(opts)
  local ok, err = pcall(opsrun.assume, ACCOUNT, opts)
  assert.is_false(ok)
  return err
end

describe("assume with a role_chain", function()
  it("rejects a role_chain that is not an array of 1 to 10 roles", function()
    assert.are.equal("bad argument #2 to 'assume' (role_chain must be an array of 1 to 10 " ..
      "roles, got string)", assume_error({ role_chain = HUB }))
    assert.are.equal("bad argument #2 to 'assume' (role_chain must be an array of 1 to 10 " ..
      "roles, got 0 roles)", assume_error({ role_chain = {} }))
    local long = {}
    for i = 1, 11 do long[i] = "R" .. i end
    assert.are.equal("bad argument #2 to 'assume' (role_chain must be an array of 1 to 10 " ..
      "roles, got 11 roles)", assume_error({ role_chain = long }))
  end)

  it("rejects a hop that is neither a role nor {role, external_id}", function()
    assert.are.equal("bad argument #2 to 'assume' (role_chain[2] must be a role name, a role " ..
      "ARN or {role = ..., external_id = ...}, got number)",
      assume_error({ role_chain = { HUB, 42 } }))
    assert.are.equal("bad argument #2 to 'assume' (role_chain[1] must be a role name, a role " ..
      "ARN or {role = ..., external_id = ...}, got table)",
      assume_error({ role_chain = { { external_id = "x-1" }, "Ops" } }))
  end)

  it("names the hop STS would refuse, before sending anything", function()
    local err = assume_error({ role_chain = { HUB, { role = "Ops", external_id = "x" } } })
    assert.are.same({ "config", "ValidationError", "assume", ACCOUNT },
      { err.kind, err.code, err.phase, err.account })
    assert.are.equal("hop 2 of 2 (role Ops): 1 validation error detected: Value 'x' at " ..
      "'externalId' failed to satisfy constraint: Member must have length greater than or " ..
      "equal to 2", err.message)
    err = assume_error({ role_chain = { "arn:aws:iam::1:role/Hub", "Ops" } })
    assert.are.equal(1, err.message:find("hop 1 of 2 (role arn:aws:iam::1:role/Hub): ", 1, true))
  end)

  it("takes opts.external_id as the last role's, and opts.role as a single role", function()
    -- the last hop's external id "x" is refused: it came from opts.external_id
    local err = assume_error({ role_chain = { HUB, { role = "Ops", external_id = "good" } },
      external_id = "x" })
    assert.truthy(err.message:find("^hop 2 of 2 %(role Ops%): "))
    -- with opts.role the chain is not used: one role, no hop named
    err = assume_error({ role = "Ops", role_chain = { HUB, "Ops" }, external_id = "x" })
    assert.truthy(err.message:find("^1 validation error detected"))
  end)
end)

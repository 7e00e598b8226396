-- assume.lua: assume(account [, opts]) and whoami() of SPEC section 4 on the private identity
-- primitives (bindings/lua_identity.c): which role, external id, session name and duration to use.
-- An account given by id takes its settings from the registry when there is one.
local opsrun, private = ...
local identity = private.identity

local DEFAULT_ROLE = "CentralOpsTargetRole"

local function fail(message)
  error("bad argument #1 to 'assume' (" .. message .. ")", 3)
end

-- The registry's entry for an account id (workload or central, in any shard), when there is a
-- registry.
local function registry_account(id)
  if not private.registry_configured() then return nil end
  return private.registry.find(id)
end

local function account_of(account)
  if type(account) == "table" then return account end
  if type(account) == "string" or math.type(account) == "integer" then
    local id = string.format("%s", account)
    return registry_account(id) or { id = id }
  end
  fail("account id or account table expected, got " .. type(account))
end

function opsrun.assume(account, opts)
  local acct = account_of(account)
  if type(acct.id) ~= "string" or not acct.id:match("^%d%d%d%d%d%d%d%d%d%d%d%d$") then
    fail("an account id is a string of 12 digits, got " .. tostring(acct.id))
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'assume' (options table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  return identity.assume(acct.id,
    opts.role or acct.role_name or private.config.role or DEFAULT_ROLE,
    opts.external_id or acct.external_id,
    opts.session_name or ("opsrun-" .. acct.id),
    opts.duration or acct.session_duration or 0)
end

function opsrun.whoami()
  return identity.whoami()
end

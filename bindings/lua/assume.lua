-- assume.lua: assume(account [, opts]) and whoami() of SPEC section 4 on the private identity
-- primitives (bindings/lua_identity.c): which roles (one, or a chain), external ids, session name
-- and duration to use. An account given by id takes its settings from the registry when there
-- is one.
local opsrun, private = ...
local identity = private.identity

local DEFAULT_ROLE = "CentralOpsTargetRole"
local MAX_ROLE_CHAIN = 10 -- as the registry's role_chain (runtime/registry.h)

local function fail(message)
  error("bad argument #1 to 'assume' (" .. message .. ")", 3)
end

local function fail_option(message)
  error("bad argument #2 to 'assume' (" .. message .. ")", 4)
end

-- The registry's entry for an account id (workload or central, in any shard), when there is a
-- registry (with --org, Organizations' accounts overlaid by it).
local function registry_account(id)
  if not private.registry_configured() then return nil end
  private.registry_ready(false)
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

-- A chain's hop as the primitive takes it: {role, external_id}, from a role (name or ARN) or
-- such a table; nil when it is neither.
local function hop_of(hop)
  if type(hop) == "string" then return { role = hop } end
  if type(hop) == "table" and type(hop.role) == "string" and
      (hop.external_id == nil or type(hop.external_id) == "string") then
    return { role = hop.role, external_id = hop.external_id }
  end
end

-- The roles to assume in turn: a chain (opts.role_chain, else the account's), whose last role
-- takes opts.external_id; else the one role of opts.role, the account or the configuration.
local function hops_of(acct, opts)
  local external_id = opts.external_id or acct.external_id
  local chain = not opts.role and (opts.role_chain or acct.role_chain)
  if not chain then
    return { { role = opts.role or acct.role_name or private.config.role or DEFAULT_ROLE,
      external_id = external_id } }
  end
  if type(chain) ~= "table" or #chain < 1 or #chain > MAX_ROLE_CHAIN then
    fail_option("role_chain must be an array of 1 to " .. MAX_ROLE_CHAIN .. " roles, got " ..
      (type(chain) == "table" and #chain .. " roles" or type(chain)))
  end
  local hops = {}
  for i, hop in ipairs(chain) do
    hops[i] = hop_of(hop) or fail_option("role_chain[" .. i .. "] must be a role name, a role " ..
      "ARN or {role = ..., external_id = ...}, got " .. type(hop))
  end
  hops[#hops].external_id = opts.external_id or hops[#hops].external_id
  return hops
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
  return identity.assume(acct.id, hops_of(acct, opts),
    opts.session_name or ("opsrun-" .. acct.id),
    opts.duration or acct.session_duration or 0)
end

function opsrun.whoami()
  return identity.whoami()
end

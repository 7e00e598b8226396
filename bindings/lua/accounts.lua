-- accounts.lua: accounts([filter]) and central() of SPEC section 4. The registry's primitives
-- (private.registry, bindings/lua_registry.c) load it on first use and return fresh account
-- tables of this run's shard; the filtering policy is here, and private.registry_configured().
local opsrun, private = ...
local registry = private.registry

-- The fields of an account table a filter may name.
local FIELDS = {
  id = true, name = true, environment = true, role_name = true, regions = true, tags = true,
  external_id = true, session_duration = true, index = true,
}

local function field_list()
  local names = {}
  for name in pairs(FIELDS) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ", ")
end

-- Whether an account's value matches what a filter wants: a table of wanted values matches
-- any of them; an array value (regions) matches when it holds the wanted value.
local function matches(actual, wanted)
  if type(wanted) == "table" then
    for _, each in ipairs(wanted) do
      if matches(actual, each) then return true end
    end
    return false
  end
  if type(actual) == "table" then
    for _, each in ipairs(actual) do
      if each == wanted then return true end
    end
    return false
  end
  return actual == wanted
end

-- Every listed tag must match; a tag's wanted value may itself be an array of values.
local function tags_match(tags, wanted)
  for key, value in pairs(wanted) do
    if not matches(tags[key], value) then return false end
  end
  return true
end

local function table_matches(acct, filter)
  for field, wanted in pairs(filter) do
    if field == "tags" then
      if not tags_match(acct.tags, wanted) then return false end
    elseif not matches(acct[field], wanted) then
      return false
    end
  end
  return true
end

-- Returns the predicate for `filter`, or nil and what is wrong with it.
local function predicate_of(filter)
  if filter == nil then return function() return true end end
  if type(filter) == "function" then return filter end
  if type(filter) ~= "table" then
    return nil, "table or function expected, got " .. type(filter)
  end
  for field, wanted in pairs(filter) do
    if not FIELDS[field] then
      return nil, "unknown field " .. string.format("%q", tostring(field)) ..
        " in filter; the fields are " .. field_list()
    end
    if field == "tags" and type(wanted) ~= "table" then
      return nil, "tags must be a table such as {team = \"payments\"}, got " .. type(wanted)
    end
  end
  return function(acct) return table_matches(acct, filter) end
end

-- Whether a registry is configured (-r, OPSRUN_REGISTRY, or ACCOUNT_REGISTRY's JSON text), so that
-- code that can do without one (assume by id, doctor, the REPL's completion) need not call
-- accounts() and catch its error.
function private.registry_configured()
  return private.config.registry ~= nil or (os.getenv("ACCOUNT_REGISTRY") or "") ~= ""
end

function opsrun.accounts(filter)
  local keep, problem = predicate_of(filter)
  if not keep then error("bad argument #1 to 'accounts' (" .. problem .. ")", 2) end
  local selected = {}
  for _, acct in ipairs(registry.accounts()) do
    if keep(acct) then selected[#selected + 1] = acct end
  end
  return selected
end

function opsrun.central()
  return registry.central()
end

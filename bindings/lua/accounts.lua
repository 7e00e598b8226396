-- accounts.lua: accounts([filter]) and central() of SPEC section 4. The registry's primitives
-- (private.registry, bindings/lua_registry.c) load it on first use and return fresh account
-- tables of this run's shard; with --org the accounts are read from AWS Organizations first
-- (private.organizations, bindings/lua_organizations.c). The filtering policy is here, and
-- private.registry_configured() and private.registry_ready().
local opsrun, private = ...
local registry, organizations = private.registry, private.organizations

-- The fields of an account table a filter may name.
local FIELDS = {
  id = true, name = true, environment = true, role_name = true, regions = true, tags = true,
  external_id = true, session_duration = true, index = true, ou = true, ou_path = true,
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

-- An OU path pattern as a Lua pattern: `*` stands for any characters within one OU name, and
-- the pattern keeps the OUs below the ones it names.
local function ou_path_pattern(path)
  local escaped = path:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]*")
  return "^" .. escaped .. "$", "^" .. escaped .. "/"
end

-- Whether an account's OU path is the one `wanted` names (a pattern, see above) or below it.
local function ou_path_matches(actual, wanted)
  if type(wanted) == "table" then
    for _, each in ipairs(wanted) do
      if ou_path_matches(actual, each) then return true end
    end
    return false
  end
  if type(actual) ~= "string" or type(wanted) ~= "string" then return false end
  local exact, below = ou_path_pattern(wanted)
  return actual:find(exact) ~= nil or actual:find(below) ~= nil
end

-- `ou` keeps an OU (or the root) and every OU below it: its path's accounts and those below.
local function ou_matches(acct, wanted)
  if type(wanted) == "table" then
    for _, each in ipairs(wanted) do
      if ou_matches(acct, each) then return true end
    end
    return false
  end
  if acct.ou == wanted then return true end
  local path = acct.ou_path and organizations.ou_path(wanted)
  return path ~= nil and acct.ou_path:sub(1, #path + 1) == path .. "/"
end

local function table_matches(acct, filter)
  for field, wanted in pairs(filter) do
    if field == "tags" then
      if not tags_match(acct.tags, wanted) then return false end
    elseif field == "ou" then
      if not ou_matches(acct, wanted) then return false end
    elseif field == "ou_path" then
      if not ou_path_matches(acct.ou_path, wanted) then return false end
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
    or private.config.org
end

-- Makes the registry ready to read: when the accounts come from Organizations, reads them (once a
-- run, and their tags too when `want_tags`) as the base identity.
function private.registry_ready(want_tags)
  if organizations.wanted() then
    organizations.load(private.identity.base_account(), want_tags)
  end
end

-- Whether a filter needs the accounts' tags: `accounts{ tags = {...} }` (an empty table keeps
-- every account, with its tags).
local function wants_tags(filter)
  return type(filter) == "table" and filter.tags ~= nil
end

function opsrun.accounts(filter)
  local keep, problem = predicate_of(filter)
  if not keep then error("bad argument #1 to 'accounts' (" .. problem .. ")", 2) end
  private.registry_ready(wants_tags(filter))
  local selected = {}
  for _, acct in ipairs(registry.accounts()) do
    if keep(acct) then selected[#selected + 1] = acct end
  end
  return selected
end

function opsrun.central()
  private.registry_ready(false)
  return registry.central()
end

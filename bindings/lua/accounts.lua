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

-- A filter's ou or ou_path value as a list: one string or an array of them, none empty.
local function ou_values(wanted)
  return type(wanted) == "table" and wanted or { wanted }
end

local function check_ou_values(field, wanted)
  local values = ou_values(wanted)
  if #values == 0 then return field .. " must name at least one OU" end
  for _, value in ipairs(values) do
    if type(value) ~= "string" or value == "" then
      return string.format("%s must be a non-empty string or an array of them, got %s", field,
        type(value) == "string" and '""' or type(value))
    end
  end
  if not organizations.wanted() then
    return field .. " filters the accounts of AWS Organizations: pass --org (or set OPSRUN_ORG=1)"
  end
end

-- An OU path as a Lua pattern anchored at its start; in a glob, * stands for any characters within
-- one OU name.
local function path_pattern(path, glob)
  return "^" .. path:gsub("[%^%$%(%)%%%.%[%]%+%-%?%*]", function(c)
    return (glob and c == "*") and "[^/]*" or "%" .. c
  end)
end

-- Whether `path` is the OU `pattern` names, or below it.
local function under(path, pattern)
  return path ~= nil and (path:find(pattern .. "$") ~= nil or path:find(pattern .. "/") ~= nil)
end

-- The patterns of a filter's ou (ids) and ou_path (paths, * for one OU name) values, each naming
-- at least one root or OU of the organization: a typo is an error, not an empty list.
local function ou_patterns(filter)
  local units = organizations.ou_paths()
  local function named(pattern, what)
    for _, unit in ipairs(units) do
      if unit:find(pattern .. "$") then return pattern end
    end
    error("bad argument #1 to 'accounts' (" .. what .. " names no OU of the organization; its "
      .. "OUs are " .. table.concat(units, ", ") .. ")", 5)
  end
  local patterns = { ou = {}, ou_path = {} }
  for _, id in ipairs(filter.ou and ou_values(filter.ou) or {}) do
    local path = organizations.ou_path(id)
    if not path then
      error(string.format("bad argument #1 to 'accounts' (no root or OU %q in the organization)",
        id), 4)
    end
    patterns.ou[#patterns.ou + 1] = path_pattern(path, false)
  end
  for _, path in ipairs(filter.ou_path and ou_values(filter.ou_path) or {}) do
    local trimmed = path:gsub("/+$", "")
    patterns.ou_path[#patterns.ou_path + 1] =
      named(path_pattern(trimmed, true), string.format("ou_path %q", path))
  end
  return patterns
end

-- Whether an account is in (or below) an OU one of `patterns` names.
local function in_ou(acct, patterns)
  for _, pattern in ipairs(patterns) do
    if under(acct.ou_path, pattern) then return true end
  end
  return false
end

local function table_matches(acct, filter, patterns)
  for field, wanted in pairs(filter) do
    if field == "tags" then
      if not tags_match(acct.tags, wanted) then return false end
    elseif patterns[field] then
      if not in_ou(acct, patterns[field]) then return false end
    elseif not matches(acct[field], wanted) then
      return false
    end
  end
  return true
end

-- Returns what is wrong with a filter, or nil.
local function check_filter(filter)
  if filter == nil or type(filter) == "function" then return nil end
  if type(filter) ~= "table" then
    return "table or function expected, got " .. type(filter)
  end
  for field, wanted in pairs(filter) do
    if not FIELDS[field] then
      return "unknown field " .. string.format("%q", tostring(field)) ..
        " in filter; the fields are " .. field_list()
    end
    if field == "tags" and type(wanted) ~= "table" then
      return "tags must be a table such as {team = \"payments\"}, got " .. type(wanted)
    end
    if field == "ou" or field == "ou_path" then
      local problem = check_ou_values(field, wanted)
      if problem then return problem end
    end
  end
end

-- The predicate for a checked filter, once the registry is ready.
local function predicate_of(filter)
  if filter == nil then return function() return true end end
  if type(filter) == "function" then return filter end
  local patterns = (filter.ou or filter.ou_path) and ou_patterns(filter) or {}
  return function(acct) return table_matches(acct, filter, patterns) end
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

-- Whether a filter needs the accounts' tags: one naming tags (`accounts{ tags = {} }` keeps every
-- account, with its tags), and a function, which may read them.
local function wants_tags(filter)
  return type(filter) == "function" or (type(filter) == "table" and filter.tags ~= nil)
end

function opsrun.accounts(filter)
  local problem = check_filter(filter)
  if problem then error("bad argument #1 to 'accounts' (" .. problem .. ")", 2) end
  private.registry_ready(wants_tags(filter))
  local keep = predicate_of(filter)
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

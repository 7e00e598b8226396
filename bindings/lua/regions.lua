-- regions.lua: the Regions an account has enabled, for sweep's regions = "enabled": EC2
-- DescribeRegions through the MCP server as that account (assume, then mcp.boto3), sorted by
-- name and kept per account id for the rest of the run. A task that needs an account another
-- task is looking up waits for that lookup instead of making a second call. Uses assume.lua,
-- boto3.lua, private.sleep and private.identity.is_region.
local opsrun, private = ...

-- Seconds between looks at a lookup another task has under way (sweeps dedupe their own lookups;
-- this is for two sweeps running at once, e.g. sweeps inside sweep tasks).
local WAIT_STEP = 0.05

local known = {}     -- account id -> its enabled Regions, sorted
local under_way = {} -- account id -> true while a task looks it up

local function copy(names)
  return table.move(names, 1, #names, 1, {})
end

local function malformed(account, what)
  return private.error({ code = "DescribeRegions", phase = "mcp", account = account,
    message = "ec2 DescribeRegions answered " .. what }, "tool")
end

-- The sorted Region names of a DescribeRegions answer, or raises what is wrong with it.
local function region_names(account, answer)
  local regions = type(answer) == "table" and answer.Regions
  if type(regions) ~= "table" then error(malformed(account, "without a Regions list"), 0) end
  local names = {}
  for _, region in ipairs(regions) do
    local name = type(region) == "table" and region.RegionName
    if type(name) ~= "string" or not private.identity.is_region(name) then
      error(malformed(account, "a Region without a valid RegionName"), 0)
    end
    names[#names + 1] = name
  end
  if #names == 0 then error(malformed(account, "no enabled Region"), 0) end
  table.sort(names)
  return names
end

local function look_up(account, id)
  opsrun.assume(account)
  return region_names(id, opsrun.mcp.boto3("ec2", "DescribeRegions", {}))
end

-- The enabled Regions of `account` (an account table or id whose id is `id`), known for the
-- run after the first lookup. Runs in a task of its own: a lookup assumes the account's role.
function private.enabled_regions(account, id)
  while under_way[id] do private.sleep(WAIT_STEP) end
  if not known[id] then
    under_way[id] = true
    local ok, names = pcall(look_up, account, id)
    under_way[id] = nil
    if not ok then error(names, 0) end
    known[id] = names
  end
  return copy(known[id])
end

-- The enabled Regions of account `id` when a lookup has found them already, else nil.
function private.known_enabled_regions(id)
  return known[id] and copy(known[id])
end

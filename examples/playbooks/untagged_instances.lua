-- @tool untagged_instances
-- @description Running EC2 instances that lack a required tag (Owner by default), in every
--   workload account, in each account's own regions from the registry (else the operating
--   region). Accounts that could not be checked are listed in the result with the reason.
-- @readonly
-- @param tag string=Owner  The tag key every instance must have.
-- @column account string  The account id.
-- @column name string  The account's name in the registry.
-- @column region string  The region of the instance.
-- @column instance string  The instance id (i-...).
-- @column type string  The instance type (t3.micro, ...).
-- @column missing_tag string  The tag key the instance lacks.

-- untagged_instances.lua: examples/untagged_instances.lua as a tool for
-- `opsrun serve examples/playbooks`. The arguments arrive as `...`, one table, checked against
-- the @param lines and with their defaults filled in.
local args = ...
local tag_key = args.tag

local function tag_value(instance, key)
  for _, tag in ipairs(instance.Tags or {}) do
    if tag.Key == key then return tag.Value end
  end
end

sweep(accounts(), function(acct)
  assume(acct)
  local regions = #acct.regions > 0 and acct.regions or { false } -- false: the operating region
  for _, region in ipairs(regions) do
    local out = mcp.paginate("ec2", "DescribeInstances", {
      Filters = { { Name = "instance-state-name", Values = { "running" } } },
    }, { region = region or nil })
    for _, res in ipairs(out.Reservations or {}) do
      for _, i in ipairs(res.Instances) do
        if not tag_value(i, tag_key) then
          emit{ account = acct.id, name = acct.name, region = region or "(operating region)",
                instance = i.InstanceId, type = i.InstanceType, missing_tag = tag_key }
        end
      end
    end
  end
end)

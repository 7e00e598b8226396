-- @tool inventory
-- @description EC2 instances in every workload account: one row per instance with its account,
--   region, instance id, type and state. Accounts that could not be read are listed in the
--   result with the reason (denied, timeout, ...).
-- @readonly
-- @param state running|stopped|all=running  Which instances to list.
-- @param regions string[]=["us-east-1","eu-west-1"]  The regions to look in.
-- @column account string  The account id.
-- @column name string  The account's name in the registry.
-- @column region string  The region of the instance.
-- @column instance string  The instance id (i-...).
-- @column type string  The instance type (t3.micro, ...).
-- @column state string  The instance state (running, stopped, ...).

-- inventory.lua: examples/ec2_inventory.lua as a tool for `opsrun serve examples/playbooks`.
-- The arguments arrive as `...`, one table, checked against the @param lines and with their
-- defaults filled in; README.md says how to serve it to an agent.
local args = ...

local params = {}
if args.state ~= "all" then
  params.Filters = { { Name = "instance-state-name", Values = { args.state } } }
end

sweep(accounts(), function(acct, region)
  assume(acct)
  local out = mcp.paginate("ec2", "DescribeInstances", params, { region = region })
  for _, res in ipairs(out.Reservations or {}) do
    for _, i in ipairs(res.Instances) do
      emit{ account = acct.id, name = acct.name, region = region,
            instance = i.InstanceId, type = i.InstanceType, state = i.State.Name }
    end
  end
end, { regions = args.regions })

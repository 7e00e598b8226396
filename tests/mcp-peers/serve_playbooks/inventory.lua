-- @tool inventory
-- @description EC2 instances in every account of the registry (the simulator's), in one region:
--   one row per instance. Accounts that could not be read are listed with the reason.
-- @readonly
-- @param state running|stopped|all=running  Which instances to list.
-- @param region string=us-east-1  The region to look in.
-- @column account string  The account id.
-- @column region string  The region of the instance.
-- @column instance string  The instance id (i-...).
-- @column type string  The instance type.
-- @column state string  The instance state.

-- inventory.lua: a fixture of tests/mcp-peers/serve.sh (opsrun serve against the MCP SDK and
-- the Inspector), run against the loopback simulator (tests/sim).
local args = ...

sweep(accounts(), function(acct)
  assume(acct)
  local out = mcp.boto3("ec2", "DescribeInstances", {}, { region = args.region })
  for _, res in ipairs(out.Reservations or {}) do
    for _, i in ipairs(res.Instances) do
      if args.state == "all" or i.State.Name == args.state then
        emit{ account = acct.id, region = args.region, instance = i.InstanceId,
              type = i.InstanceType, state = i.State.Name }
      end
    end
  end
end)

-- ec2_inventory.lua: every EC2 instance in every workload account, in two regions.
--
--   opsrun -r account-registry.json examples/ec2_inventory.lua            # a table on a terminal
--   opsrun -r account-registry.json -o csv examples/ec2_inventory.lua > inventory.csv
--
-- Needs base credentials that may assume the registry's role (CentralOpsTargetRole by default)
-- in each account, and that role may call the AWS MCP Server. Accounts that fail (denied, too
-- slow) are named on stderr by sweep itself; the exit status is then 3.
sweep(accounts(), function(acct, region)
  assume(acct)
  local out = mcp.boto3("ec2", "DescribeInstances", {}, { region = region })
  for _, res in ipairs(out.Reservations or {}) do
    for _, i in ipairs(res.Instances) do
      emit{ account = acct.id, name = acct.name, region = region,
            instance = i.InstanceId, type = i.InstanceType, state = i.State.Name }
    end
  end
end, { regions = { "us-east-1", "eu-west-1" } })

-- untagged_instances.lua: running instances without an Owner tag, for a compliance cron job.
--
--   opsrun -r account-registry.json -o jsonl examples/untagged_instances.lua > untagged.jsonl
--   opsrun -r account-registry.json examples/untagged_instances.lua Team   # another tag key
--
-- The tag key is the first argument (default Owner). Regions are each account's own `regions`
-- from the registry, else the operating region (--region). Exit status 3 when an account could
-- not be checked, so cron can alert on it.
local tag_key = ... or "Owner"

local function tag_value(instance, key)
  for _, tag in ipairs(instance.Tags or {}) do
    if tag.Key == key then return tag.Value end
  end
end

sweep(accounts(), function(acct)
  assume(acct)
  local regions = #acct.regions > 0 and acct.regions or { false } -- false: the operating region
  for _, region in ipairs(regions) do
    local out = mcp.boto3("ec2", "DescribeInstances", {
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

-- buckets.lua: the S3 buckets of every workload account.
--
--   opsrun -r account-registry.json examples/buckets.lua
--   opsrun -r account-registry.json --shard 1/2 -o csv examples/buckets.lua   # half the accounts
--
-- One row per bucket, with its creation date.
sweep(accounts(), function(acct)
  assume(acct)
  local out = mcp.boto3("s3", "ListBuckets")
  for _, bucket in ipairs(out.Buckets or {}) do
    emit{ account = acct.id, name = acct.name, bucket = bucket.Name, created = bucket.CreationDate }
  end
end)

-- whoami_all.lua: which workload accounts can be assumed, and as whom.
--
--   opsrun -r account-registry.json examples/whoami_all.lua
--   opsrun -r account-registry.json -o json examples/whoami_all.lua | jq '.[] | select(.ok == false)'
--
-- One row per account: the role's ARN as STS sees it, or why it could not be assumed (the error
-- kind and AWS's own words). Exit status 3 when any account could not be assumed.
sweep(accounts(), function(acct)
  local ok, err = pcall(assume, acct)
  if not ok then
    emit{ account = acct.id, name = acct.name, ok = false,
          error = type(err) == "table" and err.kind or "error", detail = tostring(err) }
    error(err, 0) -- counted as failed in the summary and the exit status
  end
  local me = whoami()
  emit{ account = acct.id, name = acct.name, ok = true, arn = me.arn }
end)

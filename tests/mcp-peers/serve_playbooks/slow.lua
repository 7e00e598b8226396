-- @tool slow
-- @description Sleeps in every account of the registry, a few at a time: a long call for the
--   progress and cancellation checks.
-- @readonly
-- @param seconds number=0.3  How long each account's task sleeps.
-- @param rounds integer=1  How many times the accounts are swept.
-- @column account string  The account id.
-- @column round integer  Which sweep.

-- slow.lua: a fixture of tests/mcp-peers/serve.sh. Each task logs "slow: start ACCOUNT" and
-- "slow: end ACCOUNT" on the server's stderr (print goes to the log), so the test can see the
-- tasks stop when the call is cancelled.
local args = ...

for round = 1, args.rounds do
  sweep(accounts(), function(acct)
    print("slow: start " .. acct.id .. " round " .. round)
    sleep(args.seconds)
    print("slow: end " .. acct.id .. " round " .. round)
    emit{ account = acct.id, round = round }
  end)
end

-- @tool test_tool_with_progress
-- @description The conformance suite's tools-call-with-progress tool: a sweep of the registry's
--   accounts whose tasks end about 0.1 s apart, so that opsrun serve sends several progress
--   notifications (at most one each 0.2 s, and one at the sweep's end).
-- @readonly
-- @column account string  The account id.
-- @column waited number  Seconds the account's task slept.

-- test_tool_with_progress.lua: a fixture of tests/mcp-peers/conformance_server.sh. No AWS call:
-- the accounts come from the registry only.
local list = accounts()
local position = {}
for i, acct in ipairs(list) do position[acct.id] = i end

sweep(list, function(acct)
  local seconds = 0.1 * position[acct.id]
  sleep(seconds)
  emit{ account = acct.id, waited = seconds }
end)

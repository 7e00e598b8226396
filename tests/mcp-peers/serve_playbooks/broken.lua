-- @tool broken
-- @description Raises a Lua error with the reason given, before any sweep: the tool-error check.
-- @param reason string  Why it fails (required: the missing-argument check).

-- broken.lua: a fixture of tests/mcp-peers/serve.sh.
local args = ...
error("broken: " .. args.reason)

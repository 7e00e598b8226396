-- @tool test_error_handling
-- @description The conformance suite's tools-call-error tool: the playbook raises a Lua error,
--   which opsrun serve returns as a result with isError and the error's text.

-- test_error_handling.lua: a fixture of tests/mcp-peers/conformance_server.sh.
error("test_error_handling: this playbook always fails")

-- conformance_client.lua: opsrun as the client of the official MCP conformance suite
-- (@modelcontextprotocol/conformance). conformance_client.sh runs it once per scenario with the
-- scenario's server as the MCP endpoint; the scenario's name is in $MCP_CONFORMANCE_SCENARIO.
-- Each scenario lists the server's tools and, where the scenario has a tool, calls it and checks
-- the reply. Any mismatch raises, so opsrun exits 1 and the suite counts the client as failed.
local scenario = os.getenv("MCP_CONFORMANCE_SCENARIO") or error("MCP_CONFORMANCE_SCENARIO is not set")

-- What each scenario's server offers: its one tool, the arguments to send and the text it answers.
local SCENARIOS = {
  -- initialize: the handshake is judged (version offered, clientInfo); tools/list answers [].
  initialize = {},
  -- tools_call: a stateless SDK server with add_numbers(a, b).
  tools_call = { tool = "add_numbers", args = { a = 5, b = 3 }, text = "The sum of 5 and 3 is 8" },
  -- sse-retry: the tools/call stream sends a priming event (id, retry: 500) and closes; the reply
  -- comes only on a GET with Last-Event-ID made after the retry delay.
  ["sse-retry"] = { tool = "test_reconnection", args = {}, text = "Reconnection test completed successfully" },
  -- The 2026-07-28 (stateless) scenarios of the 0.2.0 pre-releases.
  -- request-metadata: every request's _meta and MCP-Protocol-Version are judged; the first
  -- request is refused with UnsupportedProtocolVersion, and must be sent again.
  ["request-metadata"] = {},
  -- http-standard-headers: Mcp-Method on every request, Mcp-Name on tools/call.
  ["http-standard-headers"] = { tool = "test_headers", args = {}, text = "Headers test completed" },
  -- json-schema-ref-no-deref: tools/list offers a schema with a network $ref, never fetched.
  ["json-schema-ref-no-deref"] = {},
  -- json-schema-2020-12-preservation: the focal tool's inputSchema goes back, as tools/list gave
  -- it, to json_schema_echo; the suite compares the two.
  ["json-schema-2020-12-preservation"] = { tool = "json_schema_echo", schema_of = "json_schema_2020_12_tool", text = "echoed" },
}

local plan = SCENARIOS[scenario] or error("no plan for conformance scenario '" .. scenario .. "'")

local tools = mcp.tools()
local names = {}
for _, tool in ipairs(tools) do names[#names + 1] = tool.name end
print(string.format("%s: tools/list gave %d tool(s): %s", scenario, #tools, table.concat(names, ", ")))

if plan.tool then
  local listed = false
  for _, name in ipairs(names) do listed = listed or name == plan.tool end
  if not listed then error(scenario .. ": tools/list does not list " .. plan.tool) end
  local args = plan.args
  for _, tool in ipairs(tools) do
    if tool.name == plan.schema_of then args = { schema = tool.input_schema } end
  end
  local result = mcp.call(plan.tool, args)
  print(string.format("%s: %s answered %q", scenario, plan.tool, result.text))
  if result.text ~= plan.text then
    error(string.format("%s: %s answered %q, expected %q", scenario, plan.tool, result.text, plan.text))
  end
end

-- everything_client.lua: opsrun's MCP calls against the reference "everything" server
-- (@modelcontextprotocol/server-everything in streamableHttp mode). Lists the tools; calls echo,
-- get-sum and get-structured-content, two calls the server answers with isError, one whose reply
-- stream carries progress notifications first, one that times out, eight at once, and a tool that
-- must run as an MCP task in a sweep beside quick calls. Prints
-- what it saw as one JSON object for everything.sh to judge; a call that raises is recorded with
-- its error fields, so one wrong answer does not hide the others.
local WANTED = { echo = true, ["get-sum"] = true, ["get-structured-content"] = true }

-- The result of mcp.call(tool, args), or the error it raised, as plain JSON-ready fields.
local function observe(tool, args, opts)
  local ok, result = pcall(mcp.call, tool, args, opts)
  if not ok then
    local err = result
    if type(err) ~= "table" then return { ok = false, message = tostring(err) } end
    return { ok = false, kind = err.kind, code = err.code, phase = err.phase, message = tostring(err.message) }
  end
  local types = {}
  for i, item in ipairs(result.content) do types[i] = item.type end
  return { ok = true, text = result.text, structured = result.structured or json.null,
           content_types = types }
end

local seen = { tool_count = 0, tools = {} }
local ok, tools = pcall(mcp.tools)
if not ok then
  seen.tools_error = tostring(tools)
else
  seen.tool_count = #tools
  for _, tool in ipairs(tools) do
    if WANTED[tool.name] then
      seen.tools[tool.name] = { description = tool.description, input_schema = tool.input_schema or json.null }
    end
  end
end

seen.echo = observe("echo", { message = "héllo from opsrun ✓" })
seen.sum = observe("get-sum", { a = 2, b = 40 })
seen.sum_fractions = observe("get-sum", { a = 0.5, b = -0.25 })
seen.structured = observe("get-structured-content", { location = "Chicago" })
seen.bad_arguments = observe("get-sum", { a = "two", b = 40 })
seen.unknown_tool = observe("no-such-tool", {})
-- with a progress token the server sends notifications/progress on the reply stream first
seen.progress = observe("trigger-long-running-operation", { duration = 0.3, steps = 3 },
  { meta = { progressToken = "opsrun-progress" } })
-- a call past its timeout raises; the session serves the next call
seen.timed_out = observe("trigger-long-running-operation", { duration = 2, steps = 2 }, { timeout = 0.5 })
seen.after_timeout = observe("echo", { message = "after a timeout" })

-- eight tasks at once as the same identity: their replies must not cross
local results = sweep({ 1, 2, 3, 4, 5, 6, 7, 8 }, function(i)
  return mcp.call("echo", { message = "task " .. i }).text
end, { concurrency = 8 })
seen.concurrent = {}
for i, r in ipairs(results) do
  seen.concurrent[i] = r.ok and r.value or ("error: " .. tostring(r.error))
end
-- a tool that requires a task (MCP tasks: simulate-research-query works for about four seconds)
-- beside quick calls that finish meanwhile
local function research_or_echo(item)
  if item:match("^research") then return mcp.call("simulate-research-query", { topic = item }).text end
  return mcp.call("echo", { message = item }).text
end
local finished = {}
results = sweep({ "research", "echo 1", "echo 2" }, function(item)
  local out = research_or_echo(item)
  finished[#finished + 1] = item
  return out
end, { concurrency = 3, timeout = 30 })
seen.task_sweep = { finished = finished, research = results[1].ok and results[1].value or tostring(results[1].error) }
print(json.encode(seen))

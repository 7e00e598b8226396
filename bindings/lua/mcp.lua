-- mcp.lua: mcp.call and mcp.tools (SPEC section 4) on the private JSON-RPC request of
-- bindings/lua_mcp.c: argument checks, `_meta`, tools/list pages, and results shaped as
-- {content, structured, text}, with isError results raised as `tool` errors; tools whose work
-- outlives the first answer waited for (MCP tasks, the hosted aws___get_tasks pattern).
-- --read-only's refusals come from read_only.lua.
local opsrun, private = ...
local json = opsrun.json

local DEFAULT_TIMEOUT = 120 -- seconds for one MCP exchange
local MAX_PAGES = 1000

local mcp = {}
opsrun.mcp = mcp

local function null_to_nil(value)
  if value == json.null then return nil end
  return value
end

-- Raises a bad argument error blaming the caller of mcp.`name`, `depth` frames above the caller
-- of fail (1: mcp.`name` called fail itself).
local function fail(name, message, depth)
  error("bad argument to 'mcp." .. name .. "' (" .. message .. ")", 2 + (depth or 1))
end

local function check_opts(name, opts)
  if opts == nil then return {} end
  local function bad(message) fail(name, message, 3) end
  if type(opts) ~= "table" then bad("options must be a table, got " .. type(opts)) end
  local t = opts.timeout
  if t ~= nil and not (type(t) == "number" and t > 0 and t <= private.MAX_SECONDS) then
    bad("timeout must be a positive number of seconds up to 1e9")
  end
  if opts.region ~= nil and not private.identity.is_region(opts.region) then
    bad("region must be a region name such as 'us-east-1', got "
      .. (string.format("%q", opts.region):gsub("\\\n", "\\n")))
  end
  if opts.meta ~= nil and type(opts.meta) ~= "table" then bad("meta must be a table") end
  return opts
end

local function request(method, params, opts)
  return private.mcp.request(method, params and json.encode(params) or nil,
    opts.timeout or DEFAULT_TIMEOUT)
end

-- The text items of a content array, joined with newlines.
local function text_of(content)
  local parts = {}
  for _, item in ipairs(content) do
    if type(item) == "table" and item.type == "text" and type(item.text) == "string" then
      parts[#parts + 1] = item.text
    end
  end
  return table.concat(parts, "\n")
end

-- MCP tasks (2025-11-25, basic/utilities/tasks). Each tool's execution.taskSupport, as the last
-- tools/list said; a tool that requires a task is called as one when the session's server
-- declared task-augmented tools/call.
local task_support = {}
local TERMINAL_TASK = { completed = true, failed = true, cancelled = true }
local DEFAULT_POLL_SECONDS = 1 -- when a task names no pollInterval
-- A server's word on how long to wait before polling again, kept within these bounds.
local MIN_WAIT_SECONDS, MAX_WAIT_SECONDS = 0.05, 60

local function bounded_wait(seconds)
  return math.min(math.max(seconds, MIN_WAIT_SECONDS), MAX_WAIT_SECONDS)
end

local function poll_seconds(task)
  local interval = tonumber(null_to_nil(task.pollInterval))
  if not interval then return DEFAULT_POLL_SECONDS end
  return bounded_wait(interval / 1000)
end

-- A task-augmented tools/call: the task polled with tasks/get at its pollInterval (a sleep, so
-- other tasks go on and the deadline and Ctrl-C apply) until it ends or needs input opsrun
-- cannot give, then its CallToolResult from tasks/result.
local function call_as_task(params, opts)
  params.task = {}
  local task = null_to_nil(request("tools/call", params, opts).task)
  if type(task) ~= "table" or type(task.taskId) ~= "string" then
    error(private.error({ phase = "mcp", message = "tools/call " .. params.name
      .. ": the server answered a task-augmented call without a task" }, "rpc"), 0)
  end
  while not TERMINAL_TASK[task.status] and task.status ~= "input_required" do
    opsrun.sleep(poll_seconds(task))
    task = request("tasks/get", { taskId = task.taskId }, opts)
  end
  return request("tasks/result", { taskId = task.taskId }, opts)
end

-- Was a plain call refused because the tool must be called as a task? Servers say so with
-- "method not found" (-32601), as a JSON-RPC error or as an isError result; when the session's
-- server takes task-augmented calls, tools/list then tells whether the tool requires one.
local function task_required(tool, failed, opts)
  if not failed or task_support[tool] ~= nil or not private.mcp.offers_task_tools() then
    return false
  end
  mcp.tools(opts)
  return task_support[tool] == "required"
end

local function call_tool(params, opts)
  if task_support[params.name] == "required" and private.mcp.offers_task_tools() then
    return call_as_task(params, opts)
  end
  local ok, result = pcall(request, "tools/call", params, opts)
  local refused = ok and result.isError == true
    or not ok and type(result) == "table" and result.kind == "rpc" and result.code == "-32601"
  if task_required(params.name, refused, opts) then return call_as_task(params, opts) end
  if not ok then error(result, 0) end
  return result
end

-- The hosted server's own pattern for long work, through its aws___get_tasks tool: "Use after a
-- tool call returns task_id with status "working". Up to 3 IDs per call. Tasks expire after 5
-- min. Pass poll_iteration (start at 1, increment each call) and follow the
-- recommended_wait_seconds in the response before polling again." The answers' exact shapes are
-- not public, so they are read tolerantly: the object of a result is its structuredContent or the
-- JSON of its text; a task is named by task_id (or taskId).
local DEFAULT_WAIT_SECONDS = 2

-- With `word`, a text that cannot decode to an object holding that string is not decoded (it
-- would be {} for the caller): one without the word as it is, and without a \u escape that could
-- spell it. Most results are such texts, and decoding them was most of a call's time in Lua.
local function result_object(result, word)
  local structured = null_to_nil(result.structuredContent)
  if type(structured) == "table" then return structured end
  local text = text_of(null_to_nil(result.content) or {})
  if word and not text:find(word, 1, true) and not text:find("\\u", 1, true) then return {} end
  local ok, decoded = pcall(json.decode, text)
  if ok and type(decoded) == "table" then return decoded end
  return {}
end

local function task_id_of(object)
  local id = null_to_nil(object.task_id or object.taskId)
  return type(id) == "string" and id ~= "" and id or nil
end

-- The id of the hosted task a tool result stands for, or nil for a finished result.
local function working_task(result)
  local object = result_object(result, "working")
  if result.isError ~= true and object.status == "working" then return task_id_of(object) end
end

-- The entry for task `id` in an aws___get_tasks answer: one of its `tasks`, the value under the
-- id, or the answer itself.
local function task_entry(answer, id)
  for _, entry in ipairs(type(answer.tasks) == "table" and answer.tasks or {}) do
    if type(entry) == "table" and task_id_of(entry) == id then return entry end
  end
  if type(answer[id]) == "table" then return answer[id] end
  if task_id_of(answer) == id then return answer end
end

local function wait_seconds(...)
  for _, object in ipairs({ ... }) do
    local seconds = tonumber(null_to_nil(object.recommended_wait_seconds))
    if seconds then return bounded_wait(seconds) end
  end
  return DEFAULT_WAIT_SECONDS
end

-- A finished task's result as a tool result: the one it carries under `result` (a tool result,
-- or a value such as aws___run_script's envelope), or the entry itself when it is such an
-- envelope (it has a return_value); an entry with neither ended without a result.
local function finished_result(entry, id)
  local value = null_to_nil(entry.result)
  if type(value) ~= "table" and entry.return_value ~= nil then value = entry end
  if type(value) ~= "table" then -- it ended without one: failed, expired, not found
    local words = null_to_nil(entry.message) or null_to_nil(entry.error)
    error(private.error({ phase = "mcp", code = "aws___get_tasks", message = "task " .. id
      .. " ended " .. tostring(null_to_nil(entry.status)) .. " without a result"
      .. (words and ": " .. tostring(words) or "") }, "tool"), 0)
  end
  if type(null_to_nil(value.content)) == "table" then return value end
  local failed = value.status == "error" or value.status == "failed"
  return { content = { { type = "text", text = json.encode(value) } }, structuredContent = value,
    isError = failed or nil }
end

-- The `tool` error of an isError result, in the tool's own words.
local function tool_error(tool, result)
  local content = null_to_nil(result.content) or {}
  local text = text_of(content)
  return private.error({ code = tool, phase = "mcp", content = content,
    message = text ~= "" and text or "the tool reported an error without a message" }, "tool")
end

local function await_hosted_task(id, first, params, opts)
  local wait = wait_seconds(result_object(first))
  for iteration = 1, math.huge do
    opsrun.sleep(wait)
    local polled = call_tool({ name = "aws___get_tasks", _meta = params._meta,
      arguments = { task_ids = { id }, poll_iteration = iteration } }, opts)
    if polled.isError == true then error(tool_error("aws___get_tasks", polled), 0) end
    local answer = result_object(polled)
    local entry = task_entry(answer, id)
    if not entry then
      error(private.error({ phase = "mcp", code = "aws___get_tasks", message = "aws___get_tasks "
        .. "did not answer for task " .. id .. " of " .. params.name }, "tool"), 0)
    end
    if entry.status ~= "working" then return finished_result(entry, id) end
    wait = wait_seconds(entry, answer)
  end
end

function mcp.call(tool, args, opts)
  if type(tool) ~= "string" or tool == "" then fail("call", "tool must be a tool name") end
  if args ~= nil and type(args) ~= "table" then
    fail("call", "args must be a table, got " .. type(args))
  end
  opts = check_opts("call", opts)
  local refusal = private.tool_refusal(tool, args or {}, opts)
  if refusal then error(refusal, 2) end
  local meta = { AWS_REGION = opts.region or private.region() }
  for key, value in pairs(opts.meta or {}) do meta[key] = value end
  -- lua-cjson writes an empty table as {}, the empty arguments object
  local params = { name = tool, arguments = args or {}, _meta = meta }
  local result = call_tool(params, opts)
  local task = working_task(result)
  if task then result = await_hosted_task(task, result, params, opts) end
  if result.isError == true then error(tool_error(tool, result), 2) end
  local content = null_to_nil(result.content) or {}
  return { content = content, structured = null_to_nil(result.structuredContent),
    text = text_of(content) }
end

function mcp.tools(opts)
  opts = check_opts("tools", opts)
  local tools, cursor, seen = {}, nil, {}
  for _ = 1, MAX_PAGES do
    local page = request("tools/list", cursor and { cursor = cursor } or nil, opts)
    for _, tool in ipairs(null_to_nil(page.tools) or {}) do
      local execution = null_to_nil(tool.execution)
      task_support[tool.name] = type(execution) == "table" and null_to_nil(execution.taskSupport)
        or "forbidden"
      tools[#tools + 1] = {
        name = tool.name,
        description = null_to_nil(tool.description) or "",
        input_schema = null_to_nil(tool.inputSchema),
      }
    end
    cursor = null_to_nil(page.nextCursor)
    if cursor == nil or cursor == "" then return tools end
    if seen[cursor] then
      error(private.error({ phase = "mcp", code = "-32603",
        message = "tools/list returned the cursor '" .. cursor .. "' twice: the server is looping" }, "rpc"), 2)
    end
    seen[cursor] = true
  end
  error(private.error({ phase = "mcp", message = "tools/list did not end after "
    .. MAX_PAGES .. " pages" }, "rpc"), 2)
end

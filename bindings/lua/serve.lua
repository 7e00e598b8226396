-- serve.lua: `opsrun serve [DIR] [--listen HOST:PORT] [--token-file FILE]` (SPEC section 1): the
-- playbooks of DIR that declare a tool, served as MCP tools (MCP 2025-11-25, also 2025-06-18 and
-- 2025-03-26) over stdio, or over Streamable HTTP with --listen. Each tools/call runs the
-- playbook as a task with a scope of its own (bindings/lua_engine.c): its rows are kept for its
-- result (emit.lua's private.captures), its sweeps report each account to it (sweep.lua's
-- private.observe_sweep) and notifications/cancelled stops all its tasks. Calls share the engine,
-- the credential cache and -j (sweep.lua). The transports are bindings/lua_serve.c's.
--
-- A playbook declares its tool in its leading comment block:
--   -- @tool inventory
--   -- @description EC2 instances in every workload account.
--   --   (more lines of description)
--   -- @readonly
--   -- @param state running|stopped|all=running  Which instances to list.
--   -- @param owner string?  Only instances whose Owner tag is this.
--   -- @column account string  The account id.
-- A parameter's type is string, integer, number, boolean, an array of one of them (string[]),
-- or a|b|c (one of these strings); `?` makes it optional, `=VALUE` gives its default (JSON, or a
-- bare word for a string). `...` and `arg` receive the arguments as a table.
local opsrun, private = ...
local json = opsrun.json
local engine, transport = private, private.serve_io

local serve = {}
private.serve = serve

-- Newest first: initialize answers with the client's version when it is one of these, else the
-- newest (MCP lifecycle, "Version Negotiation").
local PROTOCOL_VERSIONS = { "2025-11-25", "2025-06-18", "2025-03-26" }
-- A request without MCP-Protocol-Version is taken for this one (Streamable HTTP, "Protocol
-- Version Header").
local ASSUMED_HTTP_VERSION = "2025-03-26"

local MAX_MESSAGE_BYTES = 4 * 1024 * 1024 -- one JSON-RPC message (a stdio line, an HTTP body)
-- Rows in a result: their JSON up to this size, the rest left out with a note. Agents put results
-- in a model's context (Claude Code warns above 10,000 tokens and cuts at 25,000).
local MAX_ROWS_BYTES = 40 * 1024
local MAX_FAILURE_LINES = 20 -- failed accounts named in the text; all are in `accounts`
local PROGRESS_INTERVAL = 0.2 -- seconds between two progress notifications of a call
local TOOL_NAME = "^[%w_.%-]+$" -- MCP 2025-11-25 "Tool names": 1 to 128 of A-Z a-z 0-9 _ - .

-- JSON-RPC 2.0 error codes
local PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601,
  -32602

local function usage(message)
  error(private.error({ message = message .. " (see opsrun --help)" }, "config"), 0)
end

local function config_error(message)
  error(private.error({ message = message }, "config"), 0)
end

-- ------------------------------------------------------------------ the command line

local function listen_address(text)
  local host, port = text:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = text:match("^([^:]+):(%d+)$") end
  port = tonumber(port)
  if not host or not port or port > 65535 then
    usage("--listen takes HOST:PORT (127.0.0.1:8080, [::1]:8080), got '" .. text .. "'")
  end
  if host == "localhost" then host = "127.0.0.1" end
  return host, math.tointeger(port)
end

local function is_loopback(host)
  return host:match("^127%.%d+%.%d+%.%d+$") ~= nil or host == "::1"
end

local function parse_words(words)
  local options = { dir = "playbooks" }
  local i, dir_given = 1, false
  while i <= #words do
    local word = words[i]
    local name, value = word:match("^(%-%-[%w-]+)=(.*)$")
    if not name then name = word end
    if name == "--listen" or name == "--token-file" then
      if not value then
        value = words[i + 1]
        i = i + 1
        if not value then usage(name .. " needs a value") end
      end
      options[name == "--listen" and "listen" or "token_file"] = value
    elseif word:sub(1, 1) == "-" then
      usage("unknown option to serve: " .. word)
    elseif dir_given then
      usage("serve takes one DIR, got '" .. options.dir .. "' and '" .. word .. "'")
    else
      options.dir, dir_given = word, true
    end
    i = i + 1
  end
  if options.token_file and not options.listen then usage("--token-file needs --listen") end
  if options.listen then
    options.host, options.port = listen_address(options.listen)
    if not is_loopback(options.host) and not options.token_file then
      usage("--listen " .. options.listen .. " is not a loopback address: give --token-file FILE "
        .. "too (clients then send Authorization: Bearer <its text>)")
    end
  end
  return options
end

local function read_token(path)
  local file, why = io.open(path, "rb")
  if not file then config_error("cannot read --token-file " .. path .. ": " .. why) end
  local token = file:read("a"):gsub("%s+$", "")
  file:close()
  if #token < 16 or token:find("[%s%c]") then
    config_error("--token-file " .. path .. " must hold one token of at least 16 characters, "
      .. "without spaces (for example: openssl rand -hex 32 > " .. path .. ")")
  end
  return token
end

-- ------------------------------------------------------------------ tool declarations

local SCALARS = { string = true, integer = true, number = true, boolean = true }

local function declaration_error(where, message)
  config_error(where .. ": " .. message)
end

-- The type word of a parameter: {type, items, enum, optional, default_text}.
local function parse_type(word, where)
  local spec = {}
  local base, rest = word:match("^([^?=]+)(.*)$")
  if not base then declaration_error(where, "a type is missing") end
  if rest:sub(1, 1) == "?" then
    spec.optional, rest = true, rest:sub(2)
  end
  if rest:sub(1, 1) == "=" then
    spec.default_text, rest = rest:sub(2), ""
  end
  if rest ~= "" then declaration_error(where, "cannot read '" .. word .. "'") end
  if base:find("|", 1, true) then
    spec.type, spec.enum = "string", {}
    for value in (base .. "|"):gmatch("([^|]*)|") do
      if value == "" then declaration_error(where, "an empty choice in '" .. base .. "'") end
      spec.enum[#spec.enum + 1] = value
    end
  elseif SCALARS[base] then
    spec.type = base
  elseif SCALARS[base:match("^(%a+)%[%]$") or ""] then
    spec.type, spec.items = "array", base:match("^(%a+)")
  else
    declaration_error(where, "unknown type '" .. base .. "' (string, integer, number, boolean, "
      .. "an array of one of them such as string[], or choices such as a|b|c)")
  end
  return spec
end

local check_value -- below: the problem with a value for a parameter, or nil

local function parse_default(param, where)
  local text = param.default_text
  local value
  if text:match('^["%[]') or param.type ~= "string" then
    local ok, decoded = pcall(json.decode, text)
    value = ok and decoded or nil
  else
    value = text
  end
  local problem = value == nil and "is not JSON" or check_value(param, value)
  if problem then declaration_error(where, "the default of " .. param.name .. " " .. problem) end
  if param.type == "integer" then value = math.tointeger(value) end
  return value
end

local function parse_param(text, where)
  local name, type_word, description = text:match("^(%S+)%s+(%S+)%s*(.*)$")
  if not name then declaration_error(where, "@param takes NAME TYPE DESCRIPTION") end
  if not name:match("^[%a_][%w_]*$") then
    declaration_error(where, "parameter name '" .. name .. "' is not a Lua name")
  end
  local param = parse_type(type_word, where)
  param.name, param.description = name, description ~= "" and description or nil
  if param.default_text then param.default = parse_default(param, where) end
  param.required = not param.optional and param.default == nil
  return param
end

local function parse_column(text, where)
  local name, type_word, description = text:match("^(%S+)%s+(%S+)%s*(.*)$")
  if not name or not SCALARS[type_word] then
    declaration_error(where, "@column takes NAME TYPE DESCRIPTION, TYPE one of string, integer, "
      .. "number, boolean")
  end
  return { name = name, type = type_word, description = description ~= "" and description or nil }
end

-- The comment lines a file starts with (after a #! line), each without its "--".
local function leading_comments(source)
  local lines = {}
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    if #lines == 0 and line:sub(1, 2) == "#!" then
      lines[1] = false
    elseif line:match("^%-%-") and not line:match("^%-%-%[=*%[") then
      lines[#lines + 1] = line:sub(3)
    else
      break
    end
  end
  return lines
end

-- The tool a playbook declares, or nil when it declares none.
local function parse_declaration(path, source)
  local tool = { path = path, source = source, params = {}, columns = {} }
  local description, in_description = {}, false
  for number, line in ipairs(leading_comments(source)) do
    local where = path .. ":" .. number
    local tag, rest = (line or ""):match("^%s*@(%w+)%s*(.-)%s*$")
    if tag then in_description = false end
    if tag == "tool" then
      if not rest:match(TOOL_NAME) or #rest > 128 then
        declaration_error(where, "tool name '" .. rest .. "' must be 1 to 128 of A-Z a-z 0-9 _ - .")
      end
      tool.name = rest
    elseif tag == "description" then
      description[#description + 1], in_description = rest, true
    elseif tag == "readonly" then
      tool.read_only = true
    elseif tag == "param" then
      local param = parse_param(rest, where)
      for _, other in ipairs(tool.params) do
        if other.name == param.name then declaration_error(where, "a second @param " .. param.name) end
      end
      tool.params[#tool.params + 1] = param
    elseif tag == "column" then
      tool.columns[#tool.columns + 1] = parse_column(rest, where)
    elseif tag then
      declaration_error(where, "unknown tag @" .. tag
        .. " (@tool, @description, @readonly, @param, @column)")
    elseif in_description and line then
      description[#description + 1] = line:match("^%s*(.-)%s*$")
    end
  end
  if not tool.name then return nil end
  tool.description = table.concat(description, " "):gsub("%s+", " "):match("^%s*(.-)%s*$")
  if tool.description == "" then declaration_error(path, "@tool " .. tool.name .. " needs a @description") end
  return tool
end

local function read_file(path)
  local file, why = io.open(path, "rb")
  if not file then config_error("cannot read " .. path .. ": " .. why) end
  local source = file:read("a")
  file:close()
  return source
end

-- Every tool the playbooks of `dir` declare, in file name order, and their names -> tool.
local function load_tools(dir)
  local names, why = transport.lua_files(dir)
  if not names then
    config_error("cannot list the playbooks in " .. dir .. ": " .. why
      .. " (give the directory: opsrun serve DIR)")
  end
  local tools, by_name = {}, {}
  for _, name in ipairs(names) do
    local path = dir:gsub("/$", "") .. "/" .. name
    local source = read_file(path)
    local tool = parse_declaration(path, source)
    if not tool then
      opsrun.log.warn("serve: %s declares no tool (a leading '-- @tool NAME' line): not served", path)
    else
      local _, problem = load(source, "@" .. path, "t")
      if problem then config_error(problem) end
      if by_name[tool.name] then
        config_error(path .. ": tool " .. tool.name .. " is declared by " .. by_name[tool.name].path
          .. " too")
      end
      tools[#tools + 1], by_name[tool.name] = tool, tool
    end
  end
  return tools, by_name
end

-- ------------------------------------------------------------------ schemas

local JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"

-- The JSON text of an array of JSON texts (lua-cjson writes an empty table as {}).
local function json_array(texts)
  return "[" .. table.concat(texts, ",") .. "]"
end

local function param_schema(param)
  local schema = { type = param.type, description = param.description, enum = param.enum,
    default = param.default }
  if param.items then schema.items = { type = param.items } end
  return schema
end

local function input_schema(tool)
  local properties, required = {}, {}
  for _, param in ipairs(tool.params) do
    properties[param.name] = param_schema(param)
    if param.required then required[#required + 1] = param.name end
  end
  local schema = { type = "object", properties = properties, additionalProperties = false }
  schema["$schema"] = JSON_SCHEMA
  if #required > 0 then schema.required = required end
  return schema
end

-- What every result's structuredContent holds; rows described by the playbook's @columns.
local function output_schema(tool)
  local columns = {}
  for _, column in ipairs(tool.columns) do
    columns[column.name] = { type = { column.type, "null" }, description = column.description }
  end
  local outcome = { type = "object", required = { "ok" }, properties = {
    account = { type = "string", description = "the account id" },
    region = { type = "string" },
    ok = { type = "boolean" },
    kind = { type = "string", description = "the error's kind: denied, throttled, timeout, ..." },
    message = { type = "string" },
  } }
  local schema = { type = "object", required = { "rows", "accounts" }, properties = {
    rows = { type = "array", items = { type = "object", properties = columns },
      description = "the rows the playbook emitted, in account order" },
    accounts = { type = "array", items = outcome,
      description = "each task of the playbook's sweeps: its account, and how it ended" },
    rows_left_out = { type = "integer", description = "rows cut to keep the result small" },
  } }
  schema["$schema"] = JSON_SCHEMA
  return schema
end

local function tool_listing(tool)
  local listing = {
    name = tool.name,
    description = tool.description,
    inputSchema = input_schema(tool),
    annotations = { readOnlyHint = tool.read_only == true or private.config.read_only == true,
      openWorldHint = true },
  }
  if #tool.columns > 0 then listing.outputSchema = output_schema(tool) end
  return json.encode(listing)
end

-- ------------------------------------------------------------------ arguments

local TYPE_WORDS = { string = "a string", integer = "an integer", number = "a number",
  boolean = "true or false", array = "an array" }

local function shown(value)
  local ok, text = pcall(json.encode, value)
  text = ok and text or tostring(value)
  return #text > 60 and text:sub(1, 57) .. "..." or text
end

local function has_type(value, type_name)
  if type_name == "integer" then return math.type(value) and math.tointeger(value) ~= nil end
  if type_name == "number" then return type(value) == "number" end
  if type_name == "array" then
    return type(value) == "table" and (next(value) == nil or #value > 0)
  end
  return type(value) == type_name
end

function check_value(param, value)
  if not has_type(value, param.type) then
    return "must be " .. TYPE_WORDS[param.type] .. ", got " .. shown(value)
  end
  if param.enum then
    for _, choice in ipairs(param.enum) do
      if value == choice then return nil end
    end
    return "must be one of " .. shown(param.enum):gsub("^%[", ""):gsub("%]$", "") .. ", got "
      .. shown(value)
  end
  if param.items then
    for i, item in ipairs(value) do
      if not has_type(item, param.items) then
        return string.format("[%d] must be %s, got %s", i, TYPE_WORDS[param.items], shown(item))
      end
    end
  end
  return nil
end

-- The arguments with defaults filled and integers made integers, or nil and what is wrong.
local function checked_arguments(tool, given)
  if given == nil then given = {} end
  if type(given) ~= "table" or (next(given) ~= nil and #given > 0) then
    return nil, "the arguments must be an object"
  end
  local args, known = {}, {}
  for _, param in ipairs(tool.params) do
    known[param.name] = true
    local value = given[param.name]
    if value == nil or value == json.null then
      if param.required then return nil, param.name .. " is required" end
      -- a call may change its arguments: each gets its own copy of an array default
      args[param.name] = type(param.default) == "table"
        and table.move(param.default, 1, #param.default, 1, {}) or param.default
    else
      local problem = check_value(param, value)
      if problem then return nil, param.name .. " " .. problem end
      if param.type == "integer" then value = math.tointeger(value) end
      args[param.name] = value
    end
  end
  for name in pairs(given) do
    if not known[name] then
      local names = {}
      for _, param in ipairs(tool.params) do names[#names + 1] = param.name end
      return nil, string.format("unknown argument '%s' (%s takes %s)", tostring(name), tool.name,
        #names > 0 and table.concat(names, ", ") or "none")
    end
  end
  return args
end

-- ------------------------------------------------------------------ JSON-RPC messages

local function id_text(id)
  return id == nil and "null" or json.encode(id)
end

local function response_text(id, result_text)
  return '{"jsonrpc":"2.0","id":' .. id_text(id) .. ',"result":' .. result_text .. "}"
end

local function error_text(id, code, message)
  return '{"jsonrpc":"2.0","id":' .. id_text(id) .. ',"error":'
    .. json.encode({ code = code, message = message }) .. "}"
end

-- A call's result as the text of a CallToolResult.
local function tool_error_result(message)
  return json.encode({ content = { { type = "text", text = message } }, isError = true })
end

-- The key of a request id in a session's table of calls (1 and "1" are different ids).
local function id_key(id)
  return type(id) .. ":" .. tostring(id)
end

-- ------------------------------------------------------------------ a call's result

local function outcome_of(result)
  local account = type(result.item) == "table" and result.item.id or result.item
  local outcome = { account = type(account) == "string" and account or tostring(account),
    region = result.region, ok = result.ok }
  if not result.ok then
    local err = result.error
    outcome.kind = type(err) == "table" and err.kind or "error"
    outcome.message = (tostring(err):match("^[^\n]*"))
  end
  return outcome
end

local function failure_lines(outcomes)
  local lines, failed = {}, 0
  for _, outcome in ipairs(outcomes) do
    if not outcome.ok then
      failed = failed + 1
      if failed <= MAX_FAILURE_LINES then
        lines[#lines + 1] = string.format("  %s%s: %s: %s", outcome.account,
          outcome.region and " in " .. outcome.region or "", outcome.kind, outcome.message)
      end
    end
  end
  if failed > MAX_FAILURE_LINES then
    lines[#lines + 1] = string.format("  ... and %d more (all are in structuredContent.accounts)",
      failed - MAX_FAILURE_LINES)
  end
  return lines, failed
end

-- "40 accounts: 38 ok, 2 failed", then a line for each failure.
local function outcome_text(outcomes)
  if #outcomes == 0 then return "" end
  local lines, failed = failure_lines(outcomes)
  table.insert(lines, 1, string.format("%d task%s: %d ok, %d failed", #outcomes,
    #outcomes == 1 and "" or "s", #outcomes - failed, failed))
  return table.concat(lines, "\n") .. "\n"
end

-- How many of the rows' JSON objects fit in MAX_ROWS_BYTES.
local function rows_that_fit(objects)
  local size = 0
  for i, object in ipairs(objects) do
    size = size + #object + 1
    if size > MAX_ROWS_BYTES then return i - 1 end
  end
  return #objects
end

local function column_names(tool)
  local names = {}
  for i, column in ipairs(tool.columns) do names[i] = column.name end
  return names
end

-- The CallToolResult of a call that ended: its rows (cut to MAX_ROWS_BYTES) as structuredContent
-- and as a table in the text, with each account's outcome.
local function success_result(call)
  local columns, objects = private.captured_objects(call.rows, column_names(call.tool))
  local kept = rows_that_fit(objects)
  local left_out = #objects - kept
  local text = kept > 0 and private.captured_table(columns, call.rows, kept) or "(no rows)\n"
  if left_out > 0 then
    text = text .. string.format("(%d more row%s left out: a result holds at most %d KiB of rows; "
      .. "narrow the call with its arguments)\n", left_out, left_out == 1 and "" or "s",
      MAX_ROWS_BYTES // 1024)
  end
  text = text .. outcome_text(call.outcomes)
  local outcomes = {}
  for i, outcome in ipairs(call.outcomes) do outcomes[i] = json.encode(outcome) end
  local structured = '{"rows":' .. json_array(table.move(objects, 1, kept, 1, {}))
    .. ',"accounts":' .. json_array(outcomes)
    .. (left_out > 0 and ',"rows_left_out":' .. left_out or "") .. "}"
  return '{"content":[{"type":"text","text":' .. json.encode(text) .. '}],"structuredContent":'
    .. structured .. "}"
end

local function failure_result(call, err)
  local message = tostring(err)
  return tool_error_result("the playbook " .. call.tool.path .. " failed: " .. message .. "\n"
    .. outcome_text(call.outcomes))
end

-- ------------------------------------------------------------------ calls

local calls_by_scope = {} -- engine scope -> call
local last_scope = 0

-- Progress of a call whose client asked for it: accounts done so far, of how many are known.
-- The value must grow from one notification to the next (MCP "Progress").
local function send_progress(call, force)
  if call.progress_token == nil or #call.outcomes <= call.progress_value then return end
  local now = engine.clock()
  if not force and now - call.progress_sent < PROGRESS_INTERVAL then return end
  call.progress_sent, call.progress_value = now, #call.outcomes
  local failed = 0
  for _, outcome in ipairs(call.outcomes) do
    if not outcome.ok then failed = failed + 1 end
  end
  call.notify(json.encode({ jsonrpc = "2.0", method = "notifications/progress", params = {
    progressToken = call.progress_token, progress = #call.outcomes, total = call.total,
    message = string.format("%d of %d done, %d failed", #call.outcomes, call.total, failed) } }))
end

-- sweep.lua calls this as each result of any sweep is filed: the results of a served call's
-- sweeps are its accounts' outcomes. `done` of `expected` are the sweep's own counts.
function private.observe_sweep(result, done, expected)
  local call = calls_by_scope[engine.scope()]
  if not call or call.cancelled then return end -- no progress for a request that is over
  call.outcomes[#call.outcomes + 1] = outcome_of(result)
  call.total = #call.outcomes - done + expected
  send_progress(call, done == expected)
end

-- print, as lua's, on stderr: stdout is the protocol's (stdio) and a result holds rows only.
local function print_to_stderr(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
end

-- A served playbook's os: os.exit would end the server and every other call with it.
local served_os = setmetatable({ exit = function()
  error("os.exit would stop the server: a served playbook ends by returning", 2)
end }, { __index = os })

-- The globals of one call: its own, then the process's.
local function call_environment(args)
  return setmetatable({ arg = args, print = print_to_stderr, os = served_os }, { __index = _G })
end

-- The body of a call's task: runs the playbook in an environment of its own (its globals, `arg`)
-- and returns the result's text.
local function run_call(call)
  engine.scope(call.scope)
  private.captures[call.scope] = call.rows
  if call.tool.read_only then private.read_only_scopes[call.scope] = true end
  local chunk = load(call.tool.source, "@" .. call.tool.path, "t", call_environment(call.args))
  local ok, err = xpcall(chunk, debug.traceback, call.args)
  private.captures[call.scope] = nil
  private.read_only_scopes[call.scope] = nil
  if not ok then
    local message = type(err) == "string" and err:match("^[^\n]*") or tostring(err)
    if call.cancelled then return nil end
    opsrun.log.warn("serve: %s failed: %s", call.tool.name, message)
    opsrun.log.debug("serve: %s", tostring(err))
    return failure_result(call, message)
  end
  return success_result(call)
end

-- Runs the call as a task; call.respond(result text) once it ends, unless it was cancelled.
local function start_call(call)
  last_scope = last_scope + 1
  call.scope = last_scope
  call.rows, call.outcomes, call.total = {}, {}, 0
  call.progress_sent, call.progress_value = -math.huge, 0
  calls_by_scope[call.scope] = call
  local started = engine.clock()
  opsrun.log.info("serve: %s called (request %s)", call.tool.name, id_text(call.id))
  local function body()
    local ok, result = pcall(run_call, call)
    calls_by_scope[call.scope] = nil
    call.ended()
    if call.cancelled then return end
    opsrun.log.info("serve: %s ended in %.1f s, %d task(s)", call.tool.name,
      engine.clock() - started, #call.outcomes)
    call.respond(response_text(call.id, ok and result or failure_result(call, result)))
  end
  engine.group():spawn(call.scope, 0, nil, body)
end

-- Stops a call's tasks. `answer`: the response to send instead of its result, or nil for none
-- (the client cancelled it: MCP "Cancellation" wants no response then).
local function cancel_call(call, reason, answer)
  if call.cancelled then return end
  call.cancelled = true
  opsrun.log.info("serve: %s cancelled (request %s)%s", call.tool.name, id_text(call.id),
    reason and ": " .. tostring(reason) or "")
  engine.cancel_scope(call.scope)
  call.respond(answer)
end

-- ------------------------------------------------------------------ sessions and methods

local tools, tools_by_name -- set by serve.run
local tools_list_text

local function new_session()
  return { calls = {}, version = PROTOCOL_VERSIONS[1] }
end

local function negotiated_version(asked)
  for _, version in ipairs(PROTOCOL_VERSIONS) do
    if version == asked then return version end
  end
  return PROTOCOL_VERSIONS[1]
end

local function initialize_result(session, params)
  session.version = negotiated_version(type(params) == "table" and params.protocolVersion)
  return json.encode({
    protocolVersion = session.version,
    capabilities = { tools = { listChanged = false } },
    serverInfo = { name = "opsrun", title = "opsrun playbooks", version = transport.version },
    instructions = "Each tool runs a playbook reviewed by the operations team across many AWS "
      .. "accounts; its result lists each account's outcome.",
  })
end

-- Handles a tools/call request: returns a response text at once (an unknown tool, bad
-- arguments), or nil when the call started (it responds through `channel`).
local function call_tool(session, id, params, channel)
  if type(params) ~= "table" or type(params.name) ~= "string" then
    return error_text(id, INVALID_PARAMS, "tools/call needs params.name, the tool's name")
  end
  local tool = tools_by_name[params.name]
  if not tool then
    return error_text(id, INVALID_PARAMS, "Unknown tool: " .. params.name)
  end
  local args, problem = checked_arguments(tool, params.arguments)
  if not args then
    return response_text(id, tool_error_result("Invalid arguments for tool " .. tool.name .. ": "
      .. problem))
  end
  if session.calls[id_key(id)] then
    return error_text(id, INVALID_REQUEST, "request id " .. id_text(id) .. " is already in use")
  end
  local meta = type(params._meta) == "table" and params._meta or {}
  local call = { id = id, tool = tool, args = args, notify = channel.notify,
    progress_token = meta.progressToken }
  function call.respond(text)
    session.calls[id_key(id)] = nil
    channel.respond(text)
  end
  call.ended = function() end
  session.calls[id_key(id)] = call
  start_call(call)
  return nil
end

-- notifications/cancelled: stops the call, if it is still running.
local function cancelled(session, params)
  if type(params) ~= "table" or params.requestId == nil then return end
  local call = session.calls[id_key(params.requestId)]
  if call then cancel_call(call, params.reason) end
end

local REQUESTS = {
  initialize = function(session, _, params) return initialize_result(session, params) end,
  ping = function() return "{}" end,
  ["tools/list"] = function() return tools_list_text end,
}

local function is_request(message)
  return message.method ~= nil and message.id ~= nil
end

-- Handles one decoded JSON-RPC message of `session`: returns the response text, or nil when
-- there is none (a notification, a response) or none yet (a call under way, which answers
-- through `channel`).
local function handle_message(session, message, channel)
  if type(message) ~= "table" or message.jsonrpc ~= "2.0" or (#message > 0) then
    return error_text(nil, INVALID_REQUEST, "not a JSON-RPC 2.0 message (batches are not "
      .. "supported)")
  end
  local id, method, params = message.id, message.method, message.params
  if id ~= nil and type(id) ~= "string" and type(id) ~= "number" then
    return error_text(nil, INVALID_REQUEST, "a request id must be a string or a number")
  end
  if method == nil then return nil end -- a response: this server sends no requests
  if type(method) ~= "string" then return error_text(id, INVALID_REQUEST, "method must be a string") end
  if not is_request(message) then
    if method == "notifications/cancelled" then cancelled(session, params) end
    return nil
  end
  if method == "tools/call" then return call_tool(session, id, params, channel) end
  local handler = REQUESTS[method]
  if not handler then return error_text(id, METHOD_NOT_FOUND, "Method not found: " .. method) end
  return response_text(id, handler(session, id, params))
end

local function decode(text)
  local ok, message = pcall(json.decode, text)
  if not ok then return nil, "Parse error: " .. tostring(message):gsub("^.-: ", "") end
  return message
end

-- Cancels every call of a session whose client ended it, each answered with an error when
-- `answered` (a client that DELETEs its session may still wait on its calls' POSTs).
local function end_session(session, answered)
  for _, call in pairs(session.calls) do
    cancel_call(call, "the session ended", answered and error_text(call.id, -32000,
      "the session was ended (DELETE) before the call finished: its tasks were stopped") or nil)
  end
end

-- ------------------------------------------------------------------ stdio

local function write_line(text)
  local ok, why = transport.write_stdout(text .. "\n")
  if not ok then opsrun.log.warn("serve: cannot write to stdout: %s", why) end
end

local function serve_stdio()
  local session = new_session()
  local channel = { notify = write_line, respond = function(text) if text then write_line(text) end end }
  local lines = transport.stdin_lines(MAX_MESSAGE_BYTES)
  while true do
    local line = lines:next()
    if line == nil then break end
    local reply
    if line == false then
      reply = error_text(nil, INVALID_REQUEST, "a message (a line) over the "
        .. MAX_MESSAGE_BYTES .. "-byte limit was dropped")
    elseif line:find("%S") then
      local message, problem = decode(line)
      reply = message == nil and error_text(nil, PARSE_ERROR, problem)
        or handle_message(session, message, channel)
    end
    if reply then write_line(reply) end
  end
  opsrun.log.info("serve: stdin ended, stopping")
  end_session(session)
end

-- ------------------------------------------------------------------ Streamable HTTP

local MCP_PATH = "/mcp"
local sessions = {} -- Mcp-Session-Id -> session

local function random_hex(bytes)
  local file = assert(io.open("/dev/urandom", "rb"))
  local data = file:read(bytes)
  file:close()
  return (data:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function reply_text(request, status, text, headers)
  request:reply(status, "Content-Type: text/plain; charset=utf-8\r\n" .. (headers or ""),
    text .. "\n")
end

local function reply_json(request, status, text, headers)
  request:reply(status, "Content-Type: application/json\r\n" .. (headers or ""), text)
end

-- Whether the Accept header allows `media` (absent: anything).
local function accepts(request, media)
  local accept = request:header("accept")
  if not accept then return true end
  accept = accept:lower()
  return accept:find(media, 1, true) ~= nil or accept:find("*/*", 1, true) ~= nil
end

local function is_loopback_name(authority)
  local host = authority:lower():gsub(":%d+$", "")
  return host == "localhost" or host == "[::1]" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- A browser page may reach a server on loopback through a name it controls (DNS rebinding):
-- without a token, only loopback pages (Origin, Streamable HTTP "Security Warning") and loopback
-- names (Host, as the TypeScript SDK's own check) may call it. With a token, the token guards it.
local function rebinding_problem(request, options)
  if options.token then return nil end
  local host, origin = request:header("host"), request:header("origin")
  if host and not is_loopback_name(host) then return "Host " .. host end
  if origin and not is_loopback_name(origin:match("^https?://([^/]+)$") or "") then
    return "Origin " .. origin
  end
  return nil
end

local function authorized(request, options)
  if not options.token then return true end
  local given = (request:header("authorization") or ""):match("^[Bb]earer%s+(%S+)%s*$")
  return given ~= nil and transport.same_secret(given, options.token)
end

local function session_problem(request, message)
  local id = request:header("mcp-session-id")
  if type(message) == "table" and message.method == "initialize" then return nil end
  if not id then return 400, "Bad Request: Mcp-Session-Id header is required" end
  if not sessions[id] then return 404, "Session not found" end
  return nil, sessions[id]
end

local SSE_HEADERS = "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"

local function sse_event(text)
  return "event: message\ndata: " .. text .. "\n\n"
end

-- A JSON-RPC message as the whole reply: JSON, or for a client that takes only Server-Sent
-- Events a stream of that one event (Streamable HTTP: a request's reply is one or the other).
local function reply_message(request, text, headers)
  if accepts(request, "application/json") then return reply_json(request, 200, text, headers) end
  request:stream(200, SSE_HEADERS .. (headers or ""))
  request:write(sse_event(text))
  request:finish()
end

-- The channel of a tools/call on this request. A notification (progress) before the result
-- starts a stream of Server-Sent Events, when the client takes them, which the result then ends;
-- a result with nothing before it is one reply. A cancelled call answers nothing (MCP
-- "Cancellation"), but its POST still needs a reply of one of the two types: a stream ended with
-- no event, or for a client that takes only JSON an error.
local function http_channel(request)
  local streams = accepts(request, "text/event-stream")
  local streaming, answered = false, false
  local channel = {}
  function channel.notify(text)
    if not streams or answered then return end
    if not streaming then
      request:stream(200, SSE_HEADERS)
      streaming = true
    end
    request:write(sse_event(text))
  end
  function channel.respond(text)
    if answered then return end
    answered = true
    if streaming then
      if text then request:write(sse_event(text)) end
      request:finish()
    elseif text then
      reply_message(request, text)
    elseif streams then
      request:stream(200, SSE_HEADERS)
      request:finish()
    else
      reply_json(request, 200, error_text(nil, -32000, "the request was cancelled"))
    end
  end
  return channel
end

local function handle_post(request, options)
  local content_type = (request:header("content-type") or "application/json"):lower()
  if not content_type:find("application/json", 1, true) then
    return reply_text(request, 415, "Unsupported Media Type: send application/json")
  end
  if not accepts(request, "application/json") and not accepts(request, "text/event-stream") then
    return reply_text(request, 406, "Not Acceptable: accept application/json or text/event-stream")
  end
  local message, problem = decode(request:body())
  if message == nil then return reply_json(request, 400, error_text(nil, PARSE_ERROR, problem)) end
  if type(message) == "table" and #message > 0 then -- a body is one message (2025-06-18 on)
    return reply_json(request, 400, error_text(nil, INVALID_REQUEST, "a JSON-RPC batch: send "
      .. "one message a request"))
  end
  local status, session = session_problem(request, message)
  if status then return reply_json(request, status, error_text(nil, -32000, session)) end
  local version = request:header("mcp-protocol-version")
  if session and version and negotiated_version(version) ~= version then
    return reply_json(request, 400, error_text(nil, -32000, "Bad Request: unsupported "
      .. "MCP-Protocol-Version " .. version .. " (this server speaks "
      .. table.concat(PROTOCOL_VERSIONS, ", ") .. ")"))
  end
  if type(message) == "table" and message.method == "initialize" then
    session = new_session()
    local reply = handle_message(session, message, nil)
    local id = random_hex(16)
    sessions[id] = session
    return reply_message(request, reply, "Mcp-Session-Id: " .. id .. "\r\n")
  end
  local reply = handle_message(session, message, http_channel(request))
  if reply then return reply_message(request, reply) end
  -- a request without a reply yet is a call under way, which answers through its channel
  if not is_request(message) then request:reply(202, nil, "") end
end

local function handle_delete(request)
  local status, session = session_problem(request, nil)
  if status then return reply_text(request, status, session) end
  sessions[request:header("mcp-session-id")] = nil
  end_session(session, true)
  request:reply(204, nil, "")
end

local function handle_http(request, options)
  local path = request:target():match("^[^?]*")
  if path ~= MCP_PATH then return reply_text(request, 404, "Not Found: the MCP endpoint is " .. MCP_PATH) end
  if not authorized(request, options) then
    return reply_text(request, 401, "Unauthorized: send Authorization: Bearer <the token of "
      .. "--token-file>", 'WWW-Authenticate: Bearer realm="opsrun"\r\n')
  end
  local rebinding = rebinding_problem(request, options)
  if rebinding then
    return reply_text(request, 403, "Forbidden: " .. rebinding .. " is not loopback: a page may "
      .. "not call this server (give --token-file to serve others)")
  end
  local method = request:method()
  if method == "POST" then return handle_post(request, options) end
  if method == "DELETE" then return handle_delete(request) end
  reply_text(request, 405, "Method Not Allowed: POST a JSON-RPC message (this server opens no "
    .. "stream of its own for GET)", "Allow: POST, DELETE\r\n")
end

local function serve_http(options)
  local server, why = transport.listen(options.host, options.port,
    { max_body_bytes = MAX_MESSAGE_BYTES })
  if not server then config_error(why) end
  engine.notice(string.format("serve: %d tool%s from %s on http://%s:%d%s", #tools,
    #tools == 1 and "" or "s", options.dir, options.host:find(":") and "[" .. options.host .. "]"
    or options.host, server:port(), MCP_PATH))
  while true do
    local request = server:next()
    if not request then break end
    local ok, err = pcall(handle_http, request, options)
    if not ok then
      opsrun.log.error("serve: %s", tostring(err))
      if request:connected() then reply_text(request, 500, "Internal Server Error") end
    end
  end
end

-- ------------------------------------------------------------------ the command

function serve.run(words)
  local options = parse_words(words)
  if options.token_file then options.token = read_token(options.token_file) end
  tools, tools_by_name = load_tools(options.dir)
  local listings = {}
  for i, tool in ipairs(tools) do listings[i] = tool_listing(tool) end
  tools_list_text = '{"tools":' .. json_array(listings) .. "}"
  -- stdout is the protocol's (stdio), and a playbook's output belongs in its result: the
  -- playbooks' io.write and print go to the log on stderr
  io.output(io.stderr)
  io.stdout = io.stderr
  private.config.progress = false
  if options.listen then return serve_http(options) end
  engine.notice(string.format("serve: %d tool%s from %s on stdin and stdout", #tools,
    #tools == 1 and "" or "s", options.dir))
  serve_stdio()
end

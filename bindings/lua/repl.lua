-- repl.lua: the policy of `opsrun -i` (SPEC section 5) that host/repl.c calls: how values
-- print (private.repl.format and print_values), what Tab offers (private.repl.complete) and the
-- text of :help. The C side owns the terminal (libedit), history, tasks and Ctrl-C.
--
-- Printing. Numbers, booleans and nil as Lua prints them; strings quoted, with control
-- characters escaped and long ones cut with a note of how much is left; tables with a
-- __tostring (error objects) through tostring. An array of records whose fields are scalars or
-- one-level tables (accounts(), rows) prints as an aligned table under a header: the union of
-- the records' keys in first-seen order (a record's own new keys sorted, `id`, `account`,
-- `name` and `region` first, as Lua tables keep no order), wide cells cut with an ellipsis.
-- Other tables print as Lua literals: on one line when short, else one field a line, indented;
-- the array part in order, then the other keys sorted. A table met again prints as <cycle>
-- inside itself and as <seen above> elsewhere, so every table is written once.
--
-- Completion. The word before the cursor is completed as globals and Lua keywords, as fields
-- after `.` (the path walked through tables and their metatables' __index tables, without
-- calling any metamethod) and methods after `:`; inside `mcp.call("` as tool names (one
-- mcp.tools() call, kept; a failure is retried after a while) and inside `assume("` as account
-- ids, found by id or name (accounts() and central() when a registry is configured). It never
-- raises: a completion that fails offers nothing.
local opsrun, private = ...

local json_null = opsrun.json.null

local repl = {}
private.repl = repl

local MAX_STRING = 1000       -- bytes of a string printed on its own
local MAX_NESTED_STRING = 200 -- bytes of a string inside a table
local MAX_INLINE = 72         -- width of a table literal kept on one line
local MAX_FIELDS = 500        -- fields printed of one table
local MAX_DEPTH = 40          -- nesting printed before `{…}`
local MAX_CELL = 40           -- code points of a cell of a records table
local ELLIPSIS = "…"
local INDENT = "  "
local TOOLS_TIMEOUT = 5       -- seconds for the tools/list behind tool-name completion
local TOOLS_RETRY = 30        -- seconds before a failed tools/list is tried again
local PREFERRED_COLUMNS = { id = 1, account = 2, name = 3, region = 4 }

-- strings -----------------------------------------------------------------------------------

local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\" }

local function escaped(text, quote_marks)
  local pattern = quote_marks and '[%c"\\]' or "%c"
  text = text:gsub(pattern, function(char)
    return ESCAPES[char] or string.format("\\%03d", char:byte())
  end)
  if not utf8.len(text) then -- not UTF-8: show the high bytes rather than mojibake
    text = text:gsub("[\128-\255]", function(char) return string.format("\\x%02X", char:byte()) end)
  end
  return text
end

local function width_of(text)
  return utf8.len(text) or #text
end

-- The first `limit` bytes of `text`, not splitting a UTF-8 sequence.
local function head_of(text, limit)
  local cut = limit
  while cut > 0 and (text:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return text:sub(1, cut)
end

local function quoted(text, limit)
  if #text <= limit then return '"' .. escaped(text, true) .. '"' end
  local head = head_of(text, limit)
  return string.format('"%s%s" (%d more bytes)', escaped(head, true), ELLIPSIS, #text - #head)
end

-- scalars and tables ------------------------------------------------------------------------

local function has_tostring(value)
  local meta = getmetatable(value)
  return type(meta) == "table" and rawget(meta, "__tostring") ~= nil
end

local function scalar_text(value, string_limit)
  local kind = type(value)
  if kind == "string" then return quoted(value, string_limit) end
  if value == json_null then return "json.null" end
  if kind == "table" and has_tostring(value) then
    local ok, text = pcall(tostring, value)
    return ok and text or "<error in __tostring>"
  end
  return tostring(value)
end

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local IS_KEYWORD = {}
for _, word in ipairs(KEYWORDS) do IS_KEYWORD[word] = true end

local function is_identifier(key)
  return type(key) == "string" and key:match("^[%a_][%w_]*$") ~= nil and not IS_KEYWORD[key]
end

local KEY_TYPE_ORDER = { number = 1, string = 2, boolean = 3 }

local function key_before(a, b)
  local ta, tb = KEY_TYPE_ORDER[type(a)] or 4, KEY_TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta == 4 or ta == 3 then return tostring(a) < tostring(b) end
  return a < b
end

-- The array part 1..n (stopping at the first nil), and the other keys sorted.
local function keys_of(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local others = {}
  for key in next, t do
    if not (math.type(key) == "integer" and key >= 1 and key <= n) then others[#others + 1] = key end
  end
  table.sort(others, key_before)
  return n, others
end

local function key_text(key)
  if is_identifier(key) then return key end
  return "[" .. scalar_text(key, MAX_NESTED_STRING) .. "]"
end

-- Renders `value` as a list of lines (the first without indentation, the others indented by
-- their depth); `state` holds the tables seen and those on the current path.
local function render(value, state, depth)
  if type(value) ~= "table" or has_tostring(value) then
    return { scalar_text(value, depth == 0 and MAX_STRING or MAX_NESTED_STRING) }
  end
  if state.path[value] then return { "<cycle>" } end
  if state.seen[value] then return { "<seen above>" } end
  state.seen[value] = true
  if depth >= MAX_DEPTH then return { "{" .. ELLIPSIS .. "}" } end
  state.path[value] = true
  local n, others = keys_of(value)
  local fields, all_short, width = {}, true, 2
  local function add(prefix, field_value)
    if #fields >= MAX_FIELDS then return end
    local lines = render(field_value, state, depth + 1)
    lines[1] = prefix .. lines[1]
    fields[#fields + 1] = lines
    all_short = all_short and #lines == 1
    width = width + width_of(lines[1]) + 2
  end
  for i = 1, n do add("", rawget(value, i)) end
  for _, key in ipairs(others) do add(key_text(key) .. " = ", rawget(value, key)) end
  state.path[value] = nil
  local total = n + #others
  if total == 0 then return { "{}" } end
  if all_short and total <= MAX_FIELDS and width + #INDENT * depth <= MAX_INLINE then
    local parts = {}
    for i, lines in ipairs(fields) do parts[i] = lines[1] end
    return { "{ " .. table.concat(parts, ", ") .. " }" }
  end
  local out = { "{" }
  for _, lines in ipairs(fields) do
    for i, line in ipairs(lines) do
      out[#out + 1] = INDENT .. line .. (i == #lines and "," or "")
    end
  end
  if total > MAX_FIELDS then
    out[#out + 1] = INDENT .. string.format("-- %s %d more fields", ELLIPSIS, total - MAX_FIELDS)
  end
  out[#out + 1] = "}"
  return out
end

-- records tables ----------------------------------------------------------------------------

local function is_scalar(value)
  local kind = type(value)
  return kind == "string" or kind == "number" or kind == "boolean" or value == json_null
end

-- A table of scalars only (a cell may hold one: regions, tags).
local function is_flat(value)
  if type(value) ~= "table" or has_tostring(value) or getmetatable(value) ~= nil then return false end
  for key, field in next, value do
    if not is_scalar(key) or not is_scalar(field) then return false end
  end
  return true
end

local function is_record(value)
  if type(value) ~= "table" or has_tostring(value) or next(value) == nil then return false end
  for key, field in next, value do
    if type(key) ~= "string" then return false end
    if not is_scalar(field) and not is_flat(field) then return false end
  end
  return true
end

-- The records of an array of records (1..n, nothing else), or nil.
local function records_of(value)
  if type(value) ~= "table" or has_tostring(value) then return nil end
  local n, others = keys_of(value)
  if n == 0 or #others > 0 then return nil end
  for i = 1, n do
    if not is_record(rawget(value, i)) then return nil end
  end
  return value
end

local function column_before(a, b)
  local pa, pb = PREFERRED_COLUMNS[a] or math.huge, PREFERRED_COLUMNS[b] or math.huge
  if pa ~= pb then return pa < pb end
  return a < b
end

local function columns_of(records)
  local columns, known = {}, {}
  for _, record in ipairs(records) do
    local new = {}
    for key in next, record do
      if not known[key] then
        known[key] = true
        new[#new + 1] = key
      end
    end
    table.sort(new, column_before)
    table.move(new, 1, #new, #columns + 1, columns)
  end
  return columns
end

local function cell_of(value)
  local text
  if value == nil then
    text = ""
  elseif type(value) == "string" then
    text = escaped(value, false)
  elseif value == json_null then
    text = "null"
  elseif type(value) == "table" then
    text = render(value, { seen = {}, path = {} }, 1)[1]
  else
    text = tostring(value)
  end
  if width_of(text) <= MAX_CELL then return text end
  local cut = utf8.len(text) and utf8.offset(text, MAX_CELL) or MAX_CELL
  return text:sub(1, cut - 1) .. ELLIPSIS
end

local function records_table(records)
  local columns = columns_of(records)
  local rows, widths = { columns }, {}
  for c, name in ipairs(columns) do widths[c] = width_of(name) end
  for r, record in ipairs(records) do
    local row = {}
    for c, name in ipairs(columns) do
      row[c] = cell_of(rawget(record, name))
      widths[c] = math.max(widths[c], width_of(row[c]))
    end
    rows[r + 1] = row
  end
  local lines = {}
  for r, row in ipairs(rows) do
    local padded = {}
    for c, text in ipairs(row) do padded[c] = text .. string.rep(" ", widths[c] - width_of(text)) end
    lines[r] = (table.concat(padded, "  "):gsub(" +$", ""))
  end
  return table.concat(lines, "\n")
end

-- The text of one value as the REPL prints it.
function repl.format(value)
  local records = records_of(value)
  if records then return records_table(records) end
  return table.concat(render(value, { seen = {}, path = {} }, 0), "\n")
end

-- Prints the values of an expression, tab-separated, on stdout.
function repl.print_values(...)
  local texts = {}
  for i = 1, select("#", ...) do texts[i] = repl.format((select(i, ...))) end
  io.stdout:write(table.concat(texts, "\t"), "\n")
  io.stdout:flush()
end

-- completion --------------------------------------------------------------------------------

local tools_cache = { names = nil, failed_at = nil }

local function tool_names()
  if tools_cache.names then return tools_cache.names end
  local now = private.clock()
  if tools_cache.failed_at and now - tools_cache.failed_at < TOOLS_RETRY then return {} end
  local ok, tools = pcall(opsrun.mcp.tools, { timeout = TOOLS_TIMEOUT })
  if not ok then
    tools_cache.failed_at = now
    return {}
  end
  local names = {}
  for i, tool in ipairs(tools) do names[i] = tool.name end
  tools_cache.names = names
  return names
end

-- {id, name} of every account assume() may be given, or {} without a registry.
local function account_list()
  if not private.registry_configured() then return {} end
  local ok, list = pcall(opsrun.accounts)
  if not ok then return {} end
  local found, central = pcall(opsrun.central)
  if found and central then list[#list + 1] = central end
  return list
end

-- The table a value's metatable sends missing fields to, or nil (a function is never called).
local function index_table(value)
  local meta = getmetatable(value)
  local index = type(meta) == "table" and rawget(meta, "__index") or nil
  return type(index) == "table" and index or nil
end

-- The fields a value offers after `.` (or its methods after `:`): its own keys and those of its
-- metatables' __index tables.
local function fields_of(value, methods_only)
  local names, seen = {}, {}
  for _ = 1, 16 do -- a chain of __index tables, perhaps a loop
    if type(value) == "table" then
      for key, field in next, value do
        if type(key) == "string" and key:match("^[%a_][%w_]*$") and not seen[key]
            and (not methods_only or type(field) == "function") then
          seen[key] = true
          names[#names + 1] = key
        end
      end
    end
    value = index_table(value)
    if value == nil then break end
  end
  return names
end

-- A field by name through tables and their __index tables.
local function field(value, name)
  for _ = 1, 16 do
    local found = type(value) == "table" and rawget(value, name) or nil
    if found ~= nil then return found end
    value = index_table(value)
    if value == nil then return nil end
  end
end

local function starting_with(names, prefix, decorate)
  local matches, seen = {}, {}
  for _, name in ipairs(names) do
    if name:sub(1, #prefix) == prefix and not seen[name] then
      seen[name] = true
      matches[#matches + 1] = decorate(name)
    end
  end
  table.sort(matches)
  return matches
end

local function complete_path(word)
  local path, separator, last = word:match("^([%a_][%w_.:]-)([.:])([%w_]*)$")
  if not path then
    local names = fields_of(_G)
    table.move(KEYWORDS, 1, #KEYWORDS, #names + 1, names)
    return starting_with(names, word, function(name) return name end)
  end
  local value = _G
  for part in path:gmatch("[^.:]+") do
    value = field(value, part)
    if value == nil then return {} end
  end
  return starting_with(fields_of(value, separator == ":"), last,
    function(name) return path .. separator .. name end)
end

local function common_prefix(texts)
  local prefix = texts[1] or ""
  for _, text in ipairs(texts) do
    while text:sub(1, #prefix) ~= prefix do prefix = prefix:sub(1, -2) end
  end
  return prefix
end

local function complete_tool(lead, typed)
  return starting_with(tool_names(), typed, function(name) return lead .. name end)
end

-- Accounts whose id starts with what was typed, or whose name does (ignoring case); the id is
-- inserted, and the choices are listed as "id (name)". `word` is nil when it cannot be
-- replaced: the choices are only listed.
local function complete_account(lead, typed, word)
  local found, wanted = {}, typed:lower()
  for _, acct in ipairs(account_list()) do
    local id, name = tostring(acct.id), tostring(acct.name or "")
    if id:sub(1, #typed) == typed or name:lower():sub(1, #wanted) == wanted then
      found[#found + 1] = { id = id, name = name }
    end
  end
  table.sort(found, function(a, b) return a.id < b.id end)
  if #found == 1 and word then return { lead .. found[1].id } end
  local shown, ids = {}, {}
  for i, acct in ipairs(found) do
    shown[i] = acct.id .. " (" .. acct.name .. ")"
    ids[i] = acct.id
  end
  if not word or not typed:match("^%d*$") then return shown, word or "" end
  return shown, lead .. common_prefix(ids)
end

-- Completion inside the string argument of `call`, `typed` being the string so far. libedit's
-- word is its end, the opening quote included when nothing follows it (`lead`, put before each
-- replacement); a string holding a word break (a space) cannot be replaced as a whole.
local function complete_string(call, word, typed)
  local lead
  if typed == "" or word:sub(-#typed) == typed then lead = word:sub(1, #word - #typed) end
  local replaceable = lead == "" or lead == '"' or lead == "'"
  if call == "mcp.call" then return replaceable and complete_tool(lead, typed) or {} end
  if call == "assume" then
    return complete_account(replaceable and lead or "", typed, replaceable and word or nil)
  end
  return {}
end

-- What Tab offers for `word`, the text libedit will replace, in `line` with the cursor after
-- `cursor` characters. Returns the replacements (sorted; only shown when there are several);
-- what to insert in place of `word` (their common prefix, unless a listing alone is wanted);
-- and the character to add after a single replacement, else "" (libedit would add it to every
-- match it lists).
function repl.complete(line, cursor, word)
  local ok, matches, insert, append = pcall(function()
    local offset = utf8.len(line) and utf8.offset(line, cursor + 1) or cursor + 1
    line = line:sub(1, offset - 1)
    local call, quote, typed = line:match("([%w_.]+)%s*%(?%s*([\"'])([^\"']*)$")
    if call then
      local matches, insert = complete_string(call, word, typed)
      return matches, insert, quote
    end
    if select(2, line:gsub("[\"']", "")) % 2 == 1 then return {} end -- inside another string
    return complete_path(word), nil, ""
  end)
  if not ok or #matches == 0 then return {}, "", "" end
  if insert then return matches, insert, "" end
  return matches, common_prefix(matches), #matches == 1 and append or ""
end

-- :help --------------------------------------------------------------------------------------

repl.help = [==[
The opsrun API (every name is a global; SPEC section 4):
  accounts([filter])             workload accounts of the registry (filter: fields or a function)
  central()                      the central account, or nil
  assume(account [, opts])       act as the role in that account (id or account table)
  whoami()                       {account, arn, user_id} of the current identity (STS)
  mcp.call(tool, args [, opts])  call an AWS MCP Server tool: {content, structured, text}
  mcp.tools()                    the MCP server's tools: {name, description, input_schema}
  mcp.boto3(service, op [, params [, opts]])  one boto3 call through aws___run_script
  mcp.paginate(service, op [, params [, opts]])  every page of it in one aws___run_script
  sweep(list, fn [, opts])       fn(item) for every item, each in its own task
  emit(row)                      print a result row in the --output format
  log.debug/info/warn/error(fmt, ...)  a line on stderr
  json.encode(v), json.decode(s) JSON (lua-cjson)
  sleep(seconds)                 wait without blocking other tasks
The REPL:
  EXPR or =EXPR                  print the values of an expression
  Tab                            complete globals, fields, tool names, account ids
  Ctrl-C                         cancel the running call, or clear the line
  Ctrl-D, :quit                  leave
  :help                          this text
]==]

-- emit.lua: emit(row [, columns]) and emit.columns{...} of SPEC section 4, writing result rows to
-- io.stdout in the --output format (private.config.output); private.emit_flush(), which the host
-- calls to print what the buffered formats kept, and private.emit_finish() at a script's end;
-- private.row_order(), with which sweep.lua puts its tasks' rows in input order; and for
-- `opsrun serve` (serve.lua), rows kept for a served tool call's result instead of printed
-- (private.captures) and the JSON objects and table text made of them.
--
-- A row is a flat table: string keys; string, number, boolean or json.null values (json.null,
-- like a missing key, is an empty cell, or null in JSON). The values are copied when emit is
-- called, so a playbook may reuse its table.
--
-- Row order. `jsonl` writes each row as it comes, so concurrent tasks' rows come in completion
-- order. `table`, `csv` and `json` print theirs in input order, the same in every run: each row
-- is placed by the sweep task that emitted it (its item and region, in the sweep's order), then
-- by emit order within that task; rows of the script itself stay where they were relative to the
-- sweeps it ran before and after them, and a sweep inside a sweep task places its rows inside
-- that task's.
--
-- Column order. Lua tables keep no order, so columns are: those --columns names, then those
-- emit.columns{...} names (each shown in table and csv even when no row has it), then the rest as
-- rows bring them (in the order above): a row's new keys in the order of the optional `columns`
-- array (`emit(row, {"account", "region", "instance"})`), then sorted by name. The same order is
-- the key order inside JSON objects, so every format lists the fields alike.
--
-- Formats. `jsonl`: one JSON object a line, written and flushed at once. `json`: the objects
-- kept and printed as one array (an object a line) at the end; a script that emitted nothing
-- prints `[]`, so that stdout always parses. `table`: rows kept and printed at the end under a
-- header line, columns two spaces apart and left-aligned by code points; cells wider than 60
-- characters are cut to 59 and an ellipsis (…), control characters shown as \n, \t, \r or \xNN.
-- `csv`: RFC 4180 (header line, CRLF line ends, fields with a comma, quote, CR or LF quoted with
-- quotes doubled; with --csv-safe, text that would start a formula gets a leading quote:
-- formula_safe), kept and printed at the end like `table`: a streamed header could only name the
-- first row's keys, and a key missing from the first row because its value was nil (an instance
-- without an Owner tag) would lose its column; buffering gives the true union. One write per
-- line: rows from concurrent tasks never interleave.
local opsrun, private = ...
local json = opsrun.json

local MAX_CELL_WIDTH = 60
local ELLIPSIS = "…"
local COLUMN_GAP = "  "

-- What has been emitted since the last flush: {format, rows} (rows kept by table, csv and json,
-- each {place, names, texts}), with jsonl's columns so far; or nil.
local pending
-- The names emit.columns{...} stated.
local stated_names = {}

local function is_float(value)
  return math.type(value) == "float"
end

local function is_finite(value)
  return value == value and value ~= math.huge and value ~= -math.huge
end

-- The text of a cell in table and csv output.
local function cell_text(value)
  if value == json.null then return "" end
  if math.type(value) == "integer" then return string.format("%d", value) end
  if is_float(value) then return is_finite(value) and private.float_text(value) or tostring(value) end
  return tostring(value)
end

-- The JSON text of a value: numbers exactly (lua-cjson rounds to 14 digits).
local function json_text(value)
  if value == json.null then return "null" end
  if math.type(value) == "integer" then return string.format("%d", value) end
  if is_float(value) then return is_finite(value) and private.float_text(value) or "null" end
  return json.encode(value)
end

local SCALAR = { string = true, number = true, boolean = true }

-- nil, or the position and problem of the first bad argument.
local function argument_problem(row, columns)
  if type(row) ~= "table" then return 1, "row must be a table, got " .. type(row) end
  for key, value in pairs(row) do
    if type(key) ~= "string" then
      return 1, "row keys must be strings, got " .. type(key) .. " key " .. tostring(key)
    end
    if not SCALAR[type(value)] and value ~= json.null then
      return 1, "row." .. key .. " is a " .. type(value) .. "; a row is flat: strings, numbers, "
        .. "booleans or json.null (json.encode a nested value)"
    end
  end
  if columns == nil then return nil end
  if type(columns) ~= "table" then return 2, "columns must be an array of names, got " .. type(columns) end
  for i, name in ipairs(columns) do
    if type(name) ~= "string" then return 2, "columns[" .. i .. "] must be a string" end
  end
end

-- Columns: names in order, and each name's rank (its position).
local function new_columns()
  return { names = {}, rank = {} }
end

local function add_column(columns, name)
  if columns.rank[name] then return end
  local names = columns.names
  names[#names + 1] = name
  columns.rank[name] = #names
end

-- The columns --columns names (comma-separated in private.config.columns), then emit.columns's.
local function stated_columns()
  local columns = new_columns()
  for name in (private.config.columns or ""):gmatch("[^,]+") do add_column(columns, name) end
  for _, name in ipairs(stated_names) do add_column(columns, name) end
  return columns
end

-- The row's keys in the order they become columns: those in `order` first, then sorted.
local function ordered_names(row, order)
  local names, listed = {}, {}
  for _, name in ipairs(order or {}) do
    if row[name] ~= nil and not listed[name] then
      names[#names + 1] = name
      listed[name] = true
    end
  end
  local rest = {}
  for key in pairs(row) do
    if not listed[key] then rest[#rest + 1] = key end
  end
  table.sort(rest)
  return table.move(rest, 1, #rest, #names + 1, names)
end

-- The fields of a row (its names and their JSON texts) in column order. Only the row's own keys
-- are sorted: walking every column for every row made jsonl quadratic in the number of distinct
-- keys (20,000 rows, each with a key of its own, took seconds).
local function json_object(names, texts, rank)
  local sorted = table.move(names, 1, #names, 1, {})
  table.sort(sorted, function(a, b) return rank[a] < rank[b] end)
  local fields = {}
  for i, name in ipairs(sorted) do fields[i] = json.encode(name) .. ":" .. texts[name] end
  return "{" .. table.concat(fields, ",") .. "}"
end

local function json_texts_of(row)
  local texts = {}
  for key, value in pairs(row) do texts[key] = json_text(value) end
  return texts
end

local function cells_of(row)
  local cells = {}
  for key, value in pairs(row) do cells[key] = cell_text(value) end
  return cells
end

local function write_line(line)
  io.stdout:write(line)
end

-- table -------------------------------------------------------------------------------------

local CONTROL_ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function visible(text)
  return (text:gsub("[%c]", function(char)
    return CONTROL_ESCAPES[char] or string.format("\\x%02x", char:byte())
  end))
end

-- Width in code points (bytes when the text is not UTF-8).
local function width_of(text)
  return utf8.len(text) or #text
end

local function shortened(text)
  if width_of(text) <= MAX_CELL_WIDTH then return text end
  local keep = MAX_CELL_WIDTH - 1
  local cut = utf8.len(text) and utf8.offset(text, keep + 1) or keep + 1
  return text:sub(1, cut - 1) .. ELLIPSIS
end

local function table_lines(columns, rows)
  local display, widths = {}, {}
  local header = {}
  for c, name in ipairs(columns.names) do
    header[c] = shortened(visible(name))
    widths[c] = width_of(header[c])
  end
  for r, row in ipairs(rows) do
    local line = {}
    for c, name in ipairs(columns.names) do
      line[c] = shortened(visible(row.texts[name] or ""))
      widths[c] = math.max(widths[c], width_of(line[c]))
    end
    display[r] = line
  end
  table.insert(display, 1, header)
  local lines = {}
  for r, line in ipairs(display) do
    local padded = {}
    for c, text in ipairs(line) do padded[c] = text .. string.rep(" ", widths[c] - width_of(text)) end
    lines[r] = table.concat(padded, COLUMN_GAP):gsub(" +$", "") .. "\n"
  end
  return lines
end

-- csv ---------------------------------------------------------------------------------------

-- --csv-safe: a spreadsheet opening the file takes a cell that starts with =, +, -, @, a tab, a CR
-- or a NUL for a formula, which server text can then plant (=HYPERLINK(...), =cmd|...). OWASP's
-- mitigation (owasp.org/www-community/attacks/CSV_Injection; ASVS 5.0 requirement 1.2.10) puts a
-- single quote in front, which spreadsheets read as "this is text". Only text is guarded: a number
-- such as -5 stays a number. Without the option the cells are RFC 4180 exactly.
local function formula_safe(text)
  if text:find("^[=+%-@\t\r\0]") then return "'" .. text end
  return text
end

local function csv_cells_of(row)
  local cells = cells_of(row)
  if private.config.csv_safe then
    for key, value in pairs(row) do
      if type(value) == "string" then cells[key] = formula_safe(value) end
    end
  end
  return cells
end

local function csv_field(text)
  if text:find('[,"\r\n]') then return '"' .. text:gsub('"', '""') .. '"' end
  return text
end

local function csv_line(fields)
  local quoted = {}
  for i, text in ipairs(fields) do quoted[i] = csv_field(text) end
  return table.concat(quoted, ",") .. "\r\n"
end

local function csv_lines(columns, rows)
  local header = columns.names
  if private.config.csv_safe then
    header = {}
    for c, name in ipairs(columns.names) do header[c] = formula_safe(name) end
  end
  local lines = { csv_line(header) }
  for _, row in ipairs(rows) do
    local fields = {}
    for c, name in ipairs(columns.names) do fields[c] = row.texts[name] or "" end
    lines[#lines + 1] = csv_line(fields)
  end
  return lines
end

-- json --------------------------------------------------------------------------------------

local function json_lines(columns, rows)
  local lines = { "[\n" }
  for i, row in ipairs(rows) do
    lines[i + 1] = json_object(row.names, row.texts, columns.rank) .. (i < #rows and ",\n" or "\n")
  end
  lines[#lines + 1] = "]\n"
  return lines
end

-- row order ---------------------------------------------------------------------------------

-- A row's place is a list of numbers, compared element by element: the place of the task that
-- emitted it, then the row's number in one count of rows and sweeps. The script's own task has
-- the empty place; a sweep task's place is the place of the task that ran the sweep, the sweep's
-- number (counted when it started) and the task's index in the sweep (a task run again keeps
-- it). So a task's rows come in emit order, and a sweep's rows come between those its caller
-- emitted before and after it, in its tasks' input order. No two numbers of the count are equal,
-- so two places always differ before either ends.
local count = 0
local task_places = setmetatable({}, { __mode = "k" }) -- a task's coroutine -> its place

local function counted()
  count = count + 1
  return count
end

local function extended(place, number)
  local longer = table.move(place, 1, #place, 1, {})
  longer[#longer + 1] = number
  return longer
end

-- The place of the task running now; a coroutine a task made itself counts as the script's.
local function running_place()
  return task_places[coroutine.running()] or {}
end

local function placed_before(a, b)
  a, b = a.place, b.place
  for i = 1, math.min(#a, #b) do
    if a[i] ~= b[i] then return a[i] < b[i] end
  end
  return #a < #b
end

-- For sweep.lua, when a sweep starts: returns placed(index, fn), the function to run as the task
-- at `index` of the sweep: fn, its rows placed as that task's. A tail call, so that a traceback
-- shows fn where it was.
function private.row_order()
  local sweep_place = extended(running_place(), counted())
  return function(index, fn)
    local place = extended(sweep_place, index)
    return function(...)
      task_places[coroutine.running()] = place
      return fn(...)
    end
  end
end

-- emit and flush ----------------------------------------------------------------------------

local TEXTS = { json = json_texts_of, table = cells_of, csv = csv_cells_of }
local PRINT = { json = json_lines, table = table_lines, csv = csv_lines }

local function stream(names, row)
  local columns = pending.columns
  for _, name in ipairs(names) do add_column(columns, name) end
  write_line(json_object(names, json_texts_of(row), columns.rank) .. "\n")
  io.stdout:flush()
end

-- Engine scope -> the rows of a served tool call so far: serve.lua makes the list when the call
-- starts and makes its result of it.
private.captures = {}

local function emit(_, row, columns)
  local position, problem = argument_problem(row, columns)
  if position then error("bad argument #" .. position .. " to 'emit' (" .. problem .. ")", 2) end
  local captured = private.captures[private.scope()]
  if captured then
    captured[#captured + 1] = { place = extended(running_place(), counted()),
      names = ordered_names(row, columns), texts = json_texts_of(row), cells = cells_of(row) }
    return
  end
  if not pending then
    local format = private.config.output
    if format ~= "jsonl" and not PRINT[format] then
      error("emit: unknown output format '" .. tostring(format) .. "'", 2)
    end
    pending = { format = format, rows = {} }
    if format == "jsonl" then pending.columns = stated_columns() end
  end
  local names = ordered_names(row, columns)
  if pending.format == "jsonl" then return stream(names, row) end
  local rows = pending.rows
  rows[#rows + 1] = { place = extended(running_place(), counted()), names = names,
    texts = TEXTS[pending.format](row) }
end

-- emit.columns{"account", "region"}: these columns first, in this order (after those of
-- --columns), in every format; table and csv show them even when no row has them. Replaces the
-- names of an earlier call. jsonl has written its earlier rows already: call it before emit.
local function state_columns(names)
  if type(names) ~= "table" then
    error("bad argument #1 to 'emit.columns' (names must be an array of strings, got "
      .. type(names) .. ")", 2)
  end
  for i, name in ipairs(names) do
    if type(name) ~= "string" then
      error("bad argument #1 to 'emit.columns' (names[" .. i .. "] must be a string)", 2)
    end
  end
  stated_names = table.move(names, 1, #names, 1, {})
end

opsrun.emit = setmetatable({ columns = state_columns }, { __call = emit })

-- Prints the rows the buffered formats kept, in input order, and forgets them: a second call
-- prints nothing. Returns whether it printed rows.
function private.emit_flush()
  if not pending then return false end
  local done = pending
  pending = nil
  if #done.rows > 0 then
    table.sort(done.rows, placed_before)
    local columns = stated_columns()
    for _, row in ipairs(done.rows) do
      for _, name in ipairs(row.names) do add_column(columns, name) end
    end
    for _, line in ipairs(PRINT[done.format](columns, done.rows)) do write_line(line) end
  end
  io.stdout:flush()
  return #done.rows > 0
end

-- The end of a script, however it ends (an error, os.exit, an interrupt): the rows kept, or with
-- -o json an empty array, for a JSON consumer of stdout. Commands (call, tools, doctor) and the
-- REPL's entries end with emit_flush instead.
function private.emit_finish()
  if not private.emit_flush() and private.config.output == "json" then
    write_line("[]\n")
    io.stdout:flush()
  end
end

-- For serve.lua: sorts a call's captured rows into input order and returns their columns (the
-- names in `first` first, then as the rows bring them) and each row's JSON object text.
function private.captured_objects(captured, first)
  table.sort(captured, placed_before)
  local columns = new_columns()
  for _, name in ipairs(first) do add_column(columns, name) end
  for _, row in ipairs(captured) do
    for _, name in ipairs(row.names) do add_column(columns, name) end
  end
  local objects = {}
  for i, row in ipairs(captured) do objects[i] = json_object(row.names, row.texts, columns.rank) end
  return columns, objects
end

-- The table text (as -o table prints it) of the first `count` captured rows.
function private.captured_table(columns, captured, count)
  local rows = {}
  for i = 1, count do rows[i] = { texts = captured[i].cells } end
  return table.concat(table_lines(columns, rows))
end

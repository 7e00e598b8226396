-- emit.lua: emit(row [, columns]) of SPEC section 4, writing result rows to io.stdout in the
-- --output format (private.config.output), and private.emit_flush(), which the host calls when
-- the script ends (and on Ctrl-C) to print what the buffered formats kept.
--
-- A row is a flat table: string keys; string, number, boolean or json.null values (json.null,
-- like a missing key, is an empty cell, or null in JSON). The values are copied when emit is
-- called, so a playbook may reuse its table.
--
-- Column order. Lua tables keep no order, so columns are the union of keys in first-seen order
-- across rows, and the new keys of one row come in the order of the optional `columns` array
-- (`emit(row, {"account", "region", "instance"})`), then sorted by name. The same order is the
-- key order inside JSON objects, so every format lists the fields alike.
--
-- Formats. `jsonl`: one JSON object a line, written and flushed at once. `json`: the objects
-- kept and printed as one array (an object a line) at the end. `table`: rows kept and printed at
-- the end under a header line, columns two spaces apart and left-aligned by code points; cells
-- wider than 60 characters are cut to 59 and an ellipsis (…), control characters shown as \n,
-- \t, \r or \xNN. `csv`: RFC 4180 (header line, CRLF line ends, fields with a comma, quote, CR or
-- LF quoted with quotes doubled; with --csv-safe, text that would start a formula gets a leading
-- quote: formula_safe), kept and printed at the end like `table`: a streamed header could only
-- name the first row's keys, and a key missing from the first row because its value was nil (an
-- instance without an Owner tag) would lose its column; buffering gives the true union. Nothing is printed when nothing was emitted (a script that uses only print is left
-- alone by -o json). One write per line: rows from concurrent tasks never interleave.
local opsrun, private = ...
local json = opsrun.json

local MAX_CELL_WIDTH = 60
local ELLIPSIS = "…"
local COLUMN_GAP = "  "

-- What has been emitted since the last flush: {format, columns, known, rows}, or nil; known maps
-- a column's name to its position.
local pending

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

local function add_column(name)
  local columns = pending.columns
  columns[#columns + 1] = name
  pending.known[name] = #columns
end

-- Adds the row's keys not seen before to the columns: those in `order` first, then sorted.
local function add_columns(row, order)
  local known = pending.known
  for _, name in ipairs(order or {}) do
    if row[name] ~= nil and not known[name] then add_column(name) end
  end
  local new = {}
  for key in pairs(row) do
    if not known[key] then new[#new + 1] = key end
  end
  table.sort(new)
  for _, key in ipairs(new) do add_column(key) end
end

-- The row's fields in column order. Only the row's own keys are sorted: walking every column
-- for every row made jsonl quadratic in the number of distinct keys (20,000 rows, each with a
-- key of its own, took seconds).
local function json_object(row)
  local names, known = {}, pending.known
  for name in pairs(row) do names[#names + 1] = name end
  table.sort(names, function(a, b) return known[a] < known[b] end)
  local fields = {}
  for i, name in ipairs(names) do fields[i] = json.encode(name) .. ":" .. json_text(row[name]) end
  return "{" .. table.concat(fields, ",") .. "}"
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
  for c, name in ipairs(columns) do
    header[c] = shortened(visible(name))
    widths[c] = width_of(header[c])
  end
  for r, row in ipairs(rows) do
    local line = {}
    for c, name in ipairs(columns) do
      line[c] = shortened(visible(row[name] or ""))
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
  local header = columns
  if private.config.csv_safe then
    header = {}
    for c, name in ipairs(columns) do header[c] = formula_safe(name) end
  end
  local lines = { csv_line(header) }
  for _, row in ipairs(rows) do
    local fields = {}
    for c, name in ipairs(columns) do fields[c] = row[name] or "" end
    lines[#lines + 1] = csv_line(fields)
  end
  return lines
end

-- emit and flush ----------------------------------------------------------------------------

local KEEP = {
  jsonl = function(row) write_line(json_object(row) .. "\n") io.stdout:flush() end,
  json = function(row) pending.rows[#pending.rows + 1] = json_object(row) end,
  table = function(row) pending.rows[#pending.rows + 1] = cells_of(row) end,
  csv = function(row) pending.rows[#pending.rows + 1] = csv_cells_of(row) end,
}

local PRINT = {
  json = function(_, rows)
    local lines = {}
    for i, object in ipairs(rows) do lines[i] = object .. (i < #rows and ",\n" or "\n") end
    table.insert(lines, 1, "[\n")
    lines[#lines + 1] = "]\n"
    return lines
  end,
  table = table_lines,
  csv = csv_lines,
}

function opsrun.emit(row, columns)
  local position, problem = argument_problem(row, columns)
  if position then error("bad argument #" .. position .. " to 'emit' (" .. problem .. ")", 2) end
  if not pending then
    local format = private.config.output
    if not KEEP[format] then error("emit: unknown output format '" .. tostring(format) .. "'", 2) end
    pending = { format = format, columns = {}, known = {}, rows = {} }
  end
  add_columns(row, columns)
  KEEP[pending.format](row)
end

-- Prints the rows the buffered formats kept, and forgets them: a second call prints nothing.
function private.emit_flush()
  if not pending then return end
  local done = pending
  pending = nil
  if #done.rows > 0 then
    for _, line in ipairs(PRINT[done.format](done.columns, done.rows)) do write_line(line) end
  end
  io.stdout:flush()
end

-- commands.lua: the commands of SPEC section 1 that are not scripts: `opsrun tools` and
-- `opsrun call TOOL [JSON | key=value ...]`, each run by the host as the main task with the
-- words after the command. With --account they act as the role in that account. `call` prints
-- the tool's text; its structured result (else its content) as JSON when there is no text or
-- when `-o json` or `-o jsonl` is given.
local opsrun, private = ...
local json = opsrun.json

local commands = {}
private.commands = commands

local function usage(message)
  error(private.error({ message = message .. " (see opsrun --help)" }, "config"), 0)
end

local function act_as_configured_account()
  if private.config.account then opsrun.assume(private.config.account) end
end

local function first_line(text)
  return (text or ""):match("^[^\n]*")
end

function commands.tools(words)
  if #words > 0 then usage("tools takes no arguments, got '" .. words[1] .. "'") end
  act_as_configured_account()
  local tools = opsrun.mcp.tools()
  local width = 0
  for _, tool in ipairs(tools) do width = math.max(width, #tool.name) end
  for _, tool in ipairs(tools) do
    io.stdout:write(string.format("%-" .. width .. "s  %s\n", tool.name, first_line(tool.description)))
  end
end

-- `key=value` words: a value that parses as JSON is taken as JSON, else as a string.
local function arguments_from_words(words)
  if #words == 1 and words[1]:match("^%s*{") then
    local ok, args = pcall(json.decode, words[1])
    if not ok or type(args) ~= "table" then usage("the arguments are not a JSON object: " .. words[1]) end
    return args
  end
  local args = {}
  for _, word in ipairs(words) do
    local key, value = word:match("^([^=]+)=(.*)$")
    if not key then usage("expected JSON or key=value arguments, got '" .. word .. "'") end
    local ok, decoded = pcall(json.decode, value)
    args[key] = (ok and decoded ~= nil) and decoded or value
  end
  return args
end

function commands.call(words)
  local tool = words[1]
  if not tool then usage("call needs a tool name: opsrun call TOOL [JSON | key=value ...]") end
  local args = arguments_from_words(table.move(words, 2, #words, 1, {}))
  act_as_configured_account()
  local result = opsrun.mcp.call(tool, args)
  local wants_json = private.config.output_given
    and (private.config.output == "json" or private.config.output == "jsonl")
  if wants_json or result.text == "" then
    io.stdout:write(json.encode(result.structured or result.content), "\n")
  else
    io.stdout:write(result.text, "\n")
  end
end

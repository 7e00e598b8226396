-- read_only.lua: --read-only (SPEC section 1), the client's rule since the hosted server marks
-- no tool read-only: private.read_only_refusal for the operations of mcp.boto3 and mcp.paginate,
-- private.tool_refusal for mcp.call, each the `denied` error to raise before anything is sent.
-- The same rules hold for the tasks of a served tool that declares @readonly (serve.lua files
-- their scope in private.read_only_scopes).
local _, private = ...

private.read_only_scopes = {} -- engine scope -> true: a served read-only tool's call

-- Who asks for reads only in the running task: "--read-only", "a read-only tool", or nil.
local function read_only_rule()
  if private.config.read_only then return "--read-only" end
  if private.read_only_scopes[private.scope()] then return "the read-only tool" end
  return nil
end

-- An AWS operation is a read when its name starts with one of these verbs followed by a capital
-- letter or nothing (DescribeInstances, GetObject, Scan); IAM calls these access levels List and
-- Read.
local READ_VERBS = { "Describe", "Get", "List", "Search", "Lookup", "BatchGet", "BatchDescribe",
  "Scan", "Query", "Head" }

-- Tools that change nothing in AWS, whatever their arguments: documentation, skills, regions
-- and the status of earlier scripts. aws___get_presigned_url is a read when its operation is.
local READ_ONLY_TOOLS = { aws___search_documentation = true, aws___read_documentation = true,
  aws___retrieve_skill = true, aws___list_regions = true, aws___get_regional_availability = true,
  aws___get_tasks = true }

-- A key only the bindings hold: options carrying it come from mcp.boto3 or mcp.paginate, whose
-- code calls one operation they have checked already.
private.CHECKED_CODE = setmetatable({}, { __name = "opsrun.CheckedCode" })

local function is_read(operation)
  for _, verb in ipairs(READ_VERBS) do
    if operation:sub(1, #verb) == verb and not operation:sub(#verb + 1, #verb + 1):match("[a-z]")
    then
      return true
    end
  end
  return false
end

local function read_only_error(rule, what, why)
  return private.error({ code = "ReadOnly", phase = "mcp",
    message = rule .. " refused " .. what .. ": " .. why .. "; nothing was sent" }, "denied")
end

-- nil when --read-only allows the AWS operation `service`.`operation`, else the error to raise.
function private.read_only_refusal(service, operation)
  local rule = read_only_rule()
  if not rule or is_read(operation) then return nil end
  return read_only_error(rule, service .. " " .. operation, "it is not a read (reads start with "
    .. table.concat(READ_VERBS, ", ") .. ")")
end

-- nil when --read-only allows calling `tool` with `args` (and `opts`), else the error to raise.
function private.tool_refusal(tool, args, opts)
  local rule = read_only_rule()
  if not rule or READ_ONLY_TOOLS[tool] then return nil end
  if tool == "aws___run_script" then
    if opts[private.CHECKED_CODE] then return nil end
    return read_only_error(rule, "aws___run_script with code of its own",
      "opsrun cannot tell what code does; use mcp.boto3 or mcp.paginate")
  end
  if tool == "aws___get_presigned_url" and type(args.operation_name) == "string" then
    return private.read_only_refusal(tostring(args.service_name), args.operation_name)
  end
  return read_only_error(rule, "the tool " .. tool, "opsrun cannot tell whether it only reads")
end

-- commands.lua: the commands of SPEC section 1 that are not scripts: `opsrun tools`,
-- `opsrun call TOOL [JSON | key=value ...]`, `opsrun doctor [CHECK...]` and `opsrun serve`
-- (serve.lua), each run by the host
-- as the main task with the words after the command. With --account they act as the role in
-- that account. `call` prints the tool's text; its structured result (else its content) as JSON
-- when there is no text or when `-o json` or `-o jsonl` is given. `doctor` prints one line per
-- check and returns the exit status (1 when a check failed).
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

-- The object a tool answered: its structured result, else its text when that is JSON, else nil.
local function result_object(structured, text)
  if type(structured) == "table" then return structured end
  local ok, decoded = pcall(json.decode, text or "")
  if ok and type(decoded) == "table" then return decoded end
  return nil
end

-- An aws___run_script envelope ({status, return_value, error, stderr, ...}) whose status is
-- "error" raised as a `tool` error in the script's own words, whether or not the server marked
-- the result isError: `call` then exits 1 with the error on stderr.
local function raise_script_failure(tool, envelope)
  if type(envelope) ~= "table" or envelope.status ~= "error" then return end
  local message = type(envelope.error) == "string" and envelope.error ~= "" and envelope.error
    or tool .. " reported status \"error\" without an error message"
  error(private.error({ code = tool, phase = "mcp", message = message,
    stderr = type(envelope.stderr) == "string" and envelope.stderr or nil }, "tool"), 0)
end

function commands.call(words)
  local tool = words[1]
  if not tool then usage("call needs a tool name: opsrun call TOOL [JSON | key=value ...]") end
  local args = arguments_from_words(table.move(words, 2, #words, 1, {}))
  act_as_configured_account()
  local ok, result = pcall(opsrun.mcp.call, tool, args)
  if not ok then
    local err = result
    if type(err) == "table" and err.kind == "tool" and err.content then
      raise_script_failure(tool, result_object(nil, err.message))
    end
    error(err, 0)
  end
  local object = result_object(result.structured, result.text)
  raise_script_failure(tool, object)
  local wants_json = private.config.output_given
    and (private.config.output == "json" or private.config.output == "jsonl")
  if wants_json or result.text == "" then
    io.stdout:write(json.encode(object or result.content), "\n")
  else
    io.stdout:write(result.text, "\n")
  end
end

-- `opsrun serve [DIR] [--listen HOST:PORT] [--token-file FILE]`: serve.lua.
function commands.serve(words)
  private.require_file("serve")
  return private.serve.run(words)
end

-- ------------------------------------------------------------------ doctor
--
-- The original plan's prerequisite check and connection test as one command. Each check runs
-- under pcall, so one that fails does not stop the others, and prints one line on stdout:
--   ✓ NAME  what was found        ! NAME  a warning, and what to do      ✗ NAME  the problem — to fix: ...
-- The checks run in this order whatever the order of the words: `credentials` (the base
-- identity), `role` (with --account: the role in that account), `clock`, `registry`, `mcp`. The
-- words name the checks to run, by the names their lines carry; none runs them all.

local PASS, WARN, FAIL = "✓", "!", "✗"
local CHECKS = { "credentials", "role", "clock", "registry", "mcp" }
local NAME_WIDTH = #"credentials"
local CLOCK_WARN_SECONDS = 60  -- worth fixing before it grows
local CLOCK_FAIL_SECONDS = 300 -- SigV4 refuses requests signed more than 5 minutes off

local failures = 0 -- ✗ lines of this run

local function report(mark, name, text)
  if mark == FAIL then failures = failures + 1 end
  io.stdout:write(mark, " ", name, string.rep(" ", NAME_WIDTH - #name), "  ", text, "\n")
  io.stdout:flush()
end

local function field(err, name)
  return type(err) == "table" and err[name] or nil
end

local function clock_refused(err)
  local message = tostring(field(err, "message") or "")
  return message:find("Signature expired", 1, true) or message:find("Signature not yet current", 1, true)
end

-- What to do about an error of signed requests (STS or MCP) made with the credentials.
local function signing_advice(err)
  local code, kind = field(err, "code"), field(err, "kind")
  if code == "NoCredentials" then
    return nil -- the chain's message lists where it looked and ends with what to do
  elseif clock_refused(err) then
    return "set this machine's clock right (see the clock line): SigV4 allows 5 minutes"
  elseif code == "SignatureDoesNotMatch" or code == "InvalidSignatureException" then
    return "check the secret access key (AWS_SECRET_ACCESS_KEY, or the profile's aws_secret_access_key)"
  elseif code == "InvalidClientTokenId" or code == "UnrecognizedClientException" then
    return "the access key is unknown or its session token missing or wrong: check AWS_ACCESS_KEY_ID "
      .. "and AWS_SESSION_TOKEN, or get new credentials"
  elseif code == "ExpiredToken" or code == "ExpiredTokenException" then
    return "the credentials have expired: get new ones (`aws sso login`, a new session token)"
  elseif kind == "transport" or kind == "timeout" then
    return "check the network and the STS endpoint (--region, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL)"
  elseif kind == "throttled" then
    return "STS is throttling this account: try again in a minute"
  end
  return "check the credential settings; `opsrun -v doctor` logs more"
end

-- A ✗ line: the error, then what to do (unless the error's own message ends with that).
local function fail(name, err, advice)
  report(FAIL, name, tostring(err) .. (advice and " — to fix: " .. advice or ""))
end

-- Runs one check under pcall; Ctrl-C (a `cancelled` error) ends doctor, as any command, rather
-- than failing only the check it came in.
local function attempt(check)
  local ok, err = pcall(check)
  if not ok and field(err, "kind") == "cancelled" then error(err, 0) end
  return ok, err
end

-- The registry's entry for an account id when the registry loads, else just the id: the role
-- check must not depend on the registry check.
local function account_entry(id)
  local ok, acct = pcall(function()
    private.registry_ready(false)
    return private.registry.find(id)
  end)
  return ok and acct or { id = id }
end

local function check_credentials()
  local source
  local ok, err = attempt(function()
    source = private.identity.source()
    local me = opsrun.whoami()
    report(PASS, "credentials", string.format("%s: %s (account %s)", source, me.arn, me.account))
  end)
  if not ok then
    fail("credentials", source and (source .. ": " .. tostring(err)) or err, signing_advice(err))
  end
end

local function check_role(id)
  local ok, err = attempt(function()
    local role = opsrun.assume(account_entry(id))
    local me = opsrun.whoami()
    report(PASS, "role", string.format("%s in %s: %s", role.role, role.account, me.arn))
  end)
  if not ok then
    local advice = field(err, "code") == "AccessDenied"
        and "the role's trust policy must let the base identity call sts:AssumeRole; check the role "
          .. "name (--role, the registry's role_name) and external id"
      or signing_advice(err)
    fail("role", err, advice)
  end
end

local function describe_skew(skew)
  local seconds = math.floor(math.abs(skew) + 0.5)
  if seconds == 0 then return "in step with" end
  return string.format("%d s %s", seconds, skew > 0 and "behind" or "ahead of")
end

local function check_clock()
  local ok, err = attempt(function()
    local server, now, endpoint = private.identity.server_time()
    local skew = server + 0.5 - now -- the Date header drops the fraction of a second
    local text = string.format("this machine's clock is %s the clock of STS (%s)", describe_skew(skew), endpoint)
    if math.abs(skew) > CLOCK_FAIL_SECONDS then
      report(FAIL, "clock", text .. ": SigV4 refuses requests more than 5 minutes off — to fix: "
        .. "set the clock right (timedatectl set-ntp true, chrony)")
    elseif math.abs(skew) > CLOCK_WARN_SECONDS then
      report(WARN, "clock", text .. ": over 1 minute (SigV4 allows 5) — sync the clock "
        .. "(timedatectl set-ntp true, chrony)")
    else
      report(PASS, "clock", text)
    end
  end)
  if not ok then
    fail("clock", err, "check the network and the STS endpoint (--region, AWS_ENDPOINT_URL_STS, "
      .. "AWS_ENDPOINT_URL)")
  end
end

-- Where the accounts come from: the registry file, or AWS Organizations (and what was read).
local function account_source()
  local file = private.config.registry
    or ((os.getenv("ACCOUNT_REGISTRY") or "") ~= "" and "$ACCOUNT_REGISTRY" or nil)
  if not private.organizations.wanted() then return file end
  return private.organizations.describe() .. (file and ("; overlaid by " .. file) or "")
end

local function check_registry()
  if not private.registry_configured() then
    report(FAIL, "registry", "no account registry — to fix: pass -r FILE or --org, or set "
      .. "OPSRUN_REGISTRY (a path), ACCOUNT_REGISTRY (JSON text) or OPSRUN_ORG=1; "
      .. "`opsrun doctor credentials clock mcp` checks only the connection")
    return
  end
  local ok, err = attempt(function()
    private.registry_ready(false)
    local accounts, central = private.registry.accounts(), private.registry.central()
    local text = string.format("%s: %d workload account%s", account_source(),
      #accounts, #accounts == 1 and "" or "s")
    local unlisted = private.registry.unlisted()
    if #unlisted > 0 then
      report(WARN, "registry", text .. "; the registry's entries for " .. table.concat(unlisted, ", ")
        .. " match no ACTIVE account of the organization — correct or remove them")
    elseif #accounts == 0 then
      report(WARN, "registry", text .. ": playbooks have nothing to sweep — add accounts with "
        .. "\"role\": \"workload\" (check --shard)")
    elseif not central then
      report(WARN, "registry", text .. ", no central account — mark the account opsrun runs from "
        .. "with \"role\": \"central\" if playbooks use central()")
    else
      report(PASS, "registry", string.format("%s, central %s (%s)", text, central.id, central.name))
    end
  end)
  if not ok then -- the registry's one-line message names the file and the place
    -- AWS's errors (reading Organizations) carry AWS's code; the registry's own have none
    local from_aws = field(err, "code") ~= nil
    fail("registry", (from_aws and "AWS Organizations: " or "") .. (field(err, "message") or err),
      from_aws and ("read Organizations as its management account or a delegated administrator "
        .. "(see the credentials line; AWS_ENDPOINT_URL_ORGANIZATIONS names another endpoint), "
        .. "or list the accounts in a registry file (-r FILE) without --org")
      or "correct the registry at the place named (opsrun(1), ACCOUNT REGISTRY)")
  end
end

local function mcp_advice(err)
  local code, kind = field(err, "code"), field(err, "kind")
  local message = tostring(field(err, "message") or "")
  if field(err, "phase") == "assume" then
    return "the role could not be assumed: see the role line"
  elseif clock_refused(err) then
    return signing_advice(err)
  elseif message:find("OPSRUN_MCP_SIGNING_REGION", 1, true) then
    return nil -- the error says which region it was signed for and what to set
  elseif message:find("Credential should be scoped", 1, true) then
    return "for a host not of the form SERVICE.REGION.api.aws set OPSRUN_MCP_SIGNING_NAME and "
      .. "OPSRUN_MCP_SIGNING_REGION"
  elseif kind == "credentials" then
    return "fix the credentials first: see the credentials line"
  elseif kind == "transport" or kind == "timeout" then
    return "check the endpoint (--mcp-url, OPSRUN_MCP_URL: " .. private.config.mcp_url
      .. ") and the network"
  elseif kind == "denied" or code == "AccessDeniedException" then
    return "allow the identity the aws-mcp:* actions in IAM"
  elseif kind == "rpc" then
    return "the endpoint does not answer as an MCP server: check --mcp-url (" .. private.config.mcp_url .. ")"
  end
  return signing_advice(err)
end

local function check_mcp(id)
  local ok, err = attempt(function()
    local as = ""
    if id then
      local role = opsrun.assume(account_entry(id))
      as = string.format(" as %s in %s", role.role, role.account)
    end
    local tools = opsrun.mcp.tools()
    local names = {}
    for i, tool in ipairs(tools) do names[i] = tool.name end
    local opening = private.mcp.revision() == "2026-07-28" and "server/discover (2026-07-28, stateless)"
      or "initialize"
    local text = string.format("%s%s: %s and tools/list signed, %d tool%s", private.config.mcp_url,
      as, opening, #tools, #tools == 1 and "" or "s")
    if #tools == 0 then
      report(WARN, "mcp", text .. " — the server offers no tools: check --mcp-url")
    else
      report(PASS, "mcp", text .. ": " .. table.concat(names, ", "))
    end
  end)
  if not ok and field(err, "code") == "NoCredentials" then
    report(FAIL, "mcp", "NoCredentials: nothing to sign with — to fix: see the credentials line")
  elseif not ok then
    fail("mcp", err, mcp_advice(err))
  end
end

local function checks_from_words(words)
  local wanted = {}
  for _, word in ipairs(words) do
    local known = false
    for _, name in ipairs(CHECKS) do known = known or name == word end
    if not known then
      usage("doctor checks " .. table.concat(CHECKS, ", ") .. "; got '" .. word .. "'")
    end
    wanted[word] = true
  end
  if #words == 0 then
    for _, name in ipairs(CHECKS) do wanted[name] = true end
  end
  if wanted.role and not private.config.account and #words > 0 then
    usage("doctor role checks the role in the account given with --account ID")
  end
  return wanted
end

function commands.doctor(words)
  local wanted = checks_from_words(words)
  local account = private.config.account
  failures = 0
  if wanted.credentials then check_credentials() end
  if wanted.role and account then check_role(account) end
  if wanted.clock then check_clock() end
  if wanted.registry then check_registry() end
  if wanted.mcp then check_mcp(account) end
  return failures > 0 and 1 or 0
end

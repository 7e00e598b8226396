-- mcp_spec.lua: the policy of bindings/lua/mcp.lua over a scripted server (private.mcp.request
-- replaced): --read-only's refusals, a tool that requires an MCP task (2025-11-25) called as one
-- and polled, and the hosted server's own long-running pattern (a result with task_id and status
-- "working", polled through aws___get_tasks), whose answers are read in each shape they may take.
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
local mcp = opsrun.mcp

-- Replaces the server: `answers` is a list of functions (method, params) -> result table, taken
-- in order, each answered through JSON as the binding does; every request is recorded as
-- {method, params}.
local function script_server(answers)
  local sent = {}
  private.mcp.request = function(method, params_json)
    local params = params_json and cjson.decode(params_json) or {}
    sent[#sent + 1] = { method = method, params = params }
    local answer = assert(table.remove(answers, 1), "an unexpected " .. method)
    return cjson.decode(cjson.encode(answer(method, params)))
  end
  return sent
end

local function text_result(value)
  return function() return { content = { { type = "text", text = cjson.encode(value) } } } end
end

local real_request, real_offers = private.mcp.request, private.mcp.offers_task_tools

before_each(function()
  private.mcp.offers_task_tools = function() return false end
end)

after_each(function()
  private.mcp.request, private.mcp.offers_task_tools = real_request, real_offers
  private.config.read_only = false
end)

describe("--read-only", function()
  before_each(function() private.config.read_only = true end)

  local function refusal(f)
    local sent = script_server({})
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.are.equal(0, #sent)
    assert.are.equal("denied", err.kind)
    assert.are.equal("ReadOnly", err.code)
    return err.message
  end

  it("refuses raw aws___run_script code before sending", function()
    assert.matches("refused aws___run_script with code of its own", refusal(function()
      mcp.call("aws___run_script", { code = "print(1)" })
    end), 1, true)
  end)

  it("refuses a presigned URL for an operation that is not a read, and unknown tools", function()
    assert.matches("refused s3 PutObject: it is not a read", refusal(function()
      mcp.call("aws___get_presigned_url", { service_name = "s3", operation_name = "PutObject",
        params = { Bucket = "b", Key = "k" } })
    end), 1, true)
    assert.matches("refused the tool deploy_everything", refusal(function()
      mcp.call("deploy_everything", {})
    end), 1, true)
  end)

  it("takes verbs as whole words: reads pass, look-alikes do not", function()
    for _, operation in ipairs({ "DescribeInstances", "GetObject", "ListBuckets", "Scan", "Query",
      "BatchGetItem", "LookupEvents", "SearchResources", "HeadBucket" }) do
      assert.is_nil(private.read_only_refusal("svc", operation), operation)
    end
    for _, operation in ipairs({ "TerminateInstances", "PutObject", "Getaway", "Listen",
      "DeleteBucket", "describe_instances", "CreateTags", "Scanner" }) do
      assert.is_not_nil(private.read_only_refusal("svc", operation), operation)
    end
  end)

  it("refuses mcp.boto3 of an operation that is not a read, and sends one that is", function()
    assert.matches("refused ec2 TerminateInstances: it is not a read", refusal(function()
      mcp.boto3("ec2", "TerminateInstances", { InstanceIds = { "i-1" } })
    end), 1, true)
    local sent = script_server({ text_result({ status = "success", return_value = { n = 1 } }) })
    assert.are.same({ n = 1 }, mcp.boto3("ec2", "DescribeInstances"))
    assert.are.equal("aws___run_script", sent[1].params.name)
  end)

  it("lets tools that only read through", function()
    local sent = script_server({ text_result({ regions = {} }) })
    mcp.call("aws___list_regions", {})
    assert.are.equal(1, #sent)
  end)
end)

describe("a tool that requires an MCP task", function()
  local task = { taskId = "t-1", status = "working", pollInterval = 10,
    createdAt = "2025-11-25T10:30:00Z", lastUpdatedAt = "2025-11-25T10:30:00Z", ttl = 60000 }

  it("is refused as a plain call, then called as a task and polled to its result", function()
    private.mcp.offers_task_tools = function() return true end
    local sent = script_server({
      function() return { content = { { type = "text", text = "MCP error -32601: requires a task" } },
        isError = true } end,
      function() return { tools = { { name = "research", inputSchema = { type = "object" },
        execution = { taskSupport = "required" } } } } end,
      function() return { task = task } end,
      function() return task end,
      function() return { taskId = "t-1", status = "completed" } end,
      text_result("the report"),
    })
    local result = mcp.call("research", { topic = "x" })
    assert.are.equal('"the report"', result.text)
    local methods = {}
    for i, request in ipairs(sent) do methods[i] = request.method end
    assert.are.same({ "tools/call", "tools/list", "tools/call", "tasks/get", "tasks/get",
      "tasks/result" }, methods)
    assert.are.same({}, sent[3].params.task)
    assert.are.same({ taskId = "t-1" }, sent[6].params)

    -- known now: the next call is a task at once
    sent = script_server({ function() return { task = task } end,
      function() return { taskId = "t-1", status = "completed" } end, text_result("again") })
    assert.are.equal('"again"', mcp.call("research", { topic = "y" }).text)
    assert.are.equal(3, #sent)
  end)

  it("is not called as a task when the server does not take task-augmented calls", function()
    local sent = script_server({
      function() return { content = { { type = "text", text = "boom" } }, isError = true } end,
    })
    local ok, err = pcall(mcp.call, "broken", {})
    assert.is_false(ok)
    assert.are.equal("tool", err.kind)
    assert.are.equal(1, #sent)
  end)
end)

describe("the hosted server's long-running pattern", function()
  local working = text_result({ task_id = "abc", status = "working", recommended_wait_seconds = 0.01 })
  local envelope = { status = "success", return_value = { n = 1 }, api_calls = {} }

  local function polls(sent)
    local iterations = {}
    for _, request in ipairs(sent) do
      if request.params.name == "aws___get_tasks" then
        assert.are.same({ "abc" }, request.params.arguments.task_ids)
        iterations[#iterations + 1] = request.params.arguments.poll_iteration
      end
    end
    return iterations
  end

  for shape, finished in pairs({
    ["a tasks list with the result inline"] = { tasks = { { task_id = "other", status = "working" },
      { task_id = "abc", status = "success", result = envelope } } },
    ["an entry keyed by the id"] = { abc = { status = "completed", result = envelope } },
    ["the envelope itself beside the id"] = { task_id = "abc", status = "success",
      return_value = { n = 1 }, api_calls = {} },
  }) do
    it("polls aws___get_tasks to the result: " .. shape, function()
      local sent = script_server({ working,
        text_result({ tasks = { { task_id = "abc", status = "working", recommended_wait_seconds = 0.01 } } }),
        text_result(finished) })
      local result = mcp.call("aws___run_script", { code = "result" }, { region = "eu-west-1" })
      assert.are.same({ 1, 2 }, polls(sent))
      assert.are.equal("eu-west-1", sent[2].params._meta.AWS_REGION)
      assert.are.equal(1, (result.structured.return_value or result.structured.result.return_value).n)
    end)
  end

  it("raises a finished task that failed as a tool error", function()
    script_server({ working, text_result({ tasks = { { task_id = "abc", status = "error",
      result = { status = "error", error = "NameError: name 'x' is not defined" } } } }) })
    local ok, err = pcall(mcp.call, "aws___run_script", { code = "x" })
    assert.is_false(ok)
    assert.are.equal("tool", err.kind)
    assert.matches("NameError", err.message, 1, true)
  end)

  it("raises a task that ended without a result in the server's words", function()
    script_server({ working, text_result({ tasks = { { task_id = "abc", status = "not_found",
      message = "Task abc does not exist or has expired" } } }) })
    local ok, err = pcall(mcp.call, "aws___run_script", { code = "result" })
    assert.is_false(ok)
    assert.are.equal("task abc ended not_found without a result: Task abc does not exist or has expired",
      err.message)
  end)

  it("raises aws___get_tasks' own error in its words", function()
    script_server({ working, function() return { content = { { type = "text",
      text = "Input validation error: 'task_ids' is a required property" } }, isError = true } end })
    local ok, err = pcall(mcp.call, "aws___run_script", { code = "result" })
    assert.is_false(ok)
    assert.are.same({ "tool", "aws___get_tasks" }, { err.kind, err.code })
    assert.matches("Input validation error", err.message, 1, true)
  end)

  it("raises when aws___get_tasks does not know the task", function()
    script_server({ working, text_result({ tasks = {} }) })
    local ok, err = pcall(mcp.call, "aws___run_script", { code = "result" })
    assert.is_false(ok)
    assert.matches("did not answer for task abc", err.message, 1, true)
  end)
end)

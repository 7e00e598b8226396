-- paginate_spec.lua: mcp.paginate of the opsrun module (SPEC section 4) over a stubbed mcp.call:
-- the committed paginators.lua against scripts/gen_paginators.py, the script sent, argument
-- errors, and a CPython judge (tests/lua/check_paginate.py) that runs the scripts against canned
-- pages beside botocore's own paginator: named cases, then every paginated operation botocore
-- defines with random pages (FUZZ_SEED changes them).
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
local paginate = opsrun.mcp.paginate

local SEED = tonumber(os.getenv("FUZZ_SEED")) or 20240607
local HERE = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local ROOT = HERE .. "../../"
local JUDGE = HERE .. "check_paginate.py"
local PYTHON = "/usr/bin/python3" -- Debian's, which has python3-botocore

local function read_all(command)
  -- without the sanitizer build's LD_PRELOAD: CPython is not ours to check
  local pipe = assert(io.popen("env -u LD_PRELOAD " .. command .. " 2>&1"))
  local output = pipe:read("a")
  return pipe:close(), output
end

local HAS_BOTOCORE = read_all(PYTHON .. " -c 'import botocore'")

-- The code and options mcp.paginate sends, and what it returns for `return_value`.
local function sent(return_value, ...)
  local real, calls = opsrun.mcp.call, {}
  opsrun.mcp.call = function(tool, args, opts)
    calls[#calls + 1] = { tool = tool, args = args, opts = opts }
    local envelope = { status = "success", return_value = return_value }
    return { content = {}, structured = envelope, text = cjson.encode(envelope) }
  end
  local ok, value = pcall(paginate, ...)
  opsrun.mcp.call = real
  assert(ok, value)
  assert.are.equal(1, #calls)
  assert.are.equal("aws___run_script", calls[1].tool)
  return calls[1].args.code, calls[1].opts, value
end

local function head(code)
  return code:match("^(.-)\n\n")
end

describe("paginators.lua", function()
  it("is what scripts/gen_paginators.py makes of this python3-botocore", function()
    if not HAS_BOTOCORE then
      pending("python3-botocore is not installed (scripts/setup.sh installs it)")
      return
    end
    local ok, generated = read_all(PYTHON .. " " .. ROOT .. "scripts/gen_paginators.py")
    assert.is_true(ok, generated)
    local file = assert(io.open(ROOT .. "bindings/lua/paginators.lua"))
    local committed = file:read("a")
    file:close()
    assert.is_true(generated == committed, "bindings/lua/paginators.lua is stale: run "
      .. "/usr/bin/python3 scripts/gen_paginators.py > bindings/lua/paginators.lua")
  end)

  it("is the table the binary carries, one line per service", function()
    assert.matches("^botocore %d+%.%d+%.%d+$", private.PAGINATORS_SOURCE)
    assert.matches(";DescribeInstances NextToken MaxResults Reservations;", private.PAGINATORS["ec2"],
      1, true)
    assert.is_string(private.PAGINATORS["sso-admin"])
    assert.is_nil(private.PAGINATORS["sts"])
  end)
end)

describe("the script mcp.paginate sends", function()
  it("writes the call, botocore's rule and max_items as literals before the fixed loop", function()
    local code, opts, value = sent({ Reservations = { 1 } }, "ec2", "DescribeInstances",
      { Filters = { { Name = "instance-state-name", Values = { "running" } } } },
      { region = "eu-west-1", timeout = 9, meta = { X = "y" } })
    assert.are.same({ Reservations = { 1 } }, value)
    assert.are.same({ region = "eu-west-1", timeout = 9, meta = { X = "y" } }, opts)
    assert.are.equal("service, operation, region = 'ec2', 'DescribeInstances', 'eu-west-1'\n"
      .. "params = {'Filters': [{'Name': 'instance-state-name', 'Values': ['running']}]}\n"
      .. "rule = {'input_token': ['NextToken'], 'output_token': ['NextToken'], "
      .. "'result_key': ['Reservations'], 'more_results': None, 'non_aggregate_keys': []}\n"
      .. "max_items = None", head(code))
    assert.matches("\nresult$", code)
    local loop = code:sub(#head(code) + 1)
    assert.are.equal(loop, select(1, sent(nil, "iam", "ListRoles")):match("\n\n.*$"))
  end)

  it("carries two tokens, several result keys and a more_results flag (s3 ListObjectVersions)", function()
    local code = sent(nil, "s3", "ListObjectVersions", { Bucket = "b" }, { region = "us-east-1" })
    assert.are.equal("service, operation, region = 's3', 'ListObjectVersions', 'us-east-1'\n"
      .. "params = {'Bucket': 'b'}\n"
      .. "rule = {'input_token': ['KeyMarker', 'VersionIdMarker'], 'output_token': "
      .. "['NextKeyMarker', 'NextVersionIdMarker'], 'result_key': ['Versions', 'DeleteMarkers', "
      .. "'CommonPrefixes'], 'more_results': 'IsTruncated', 'non_aggregate_keys': []}\n"
      .. "max_items = None", head(code))
  end)

  it("puts page_size under the limit key, a string where the API wants one, and max_items", function()
    local code = sent(nil, "cloudfront", "ListDistributions", {}, { max_items = 30, page_size = 10 })
    assert.matches("\nparams = {'MaxItems': '10'}\n", code, 1, true)
    assert.matches("'output_token': ['DistributionList.NextMarker'], 'result_key': "
      .. "['DistributionList.Items'], 'more_results': 'DistributionList.IsTruncated'", code, 1, true)
    assert.matches("\nmax_items = 30\n", code, 1, true)
    code = sent(nil, "ec2", "DescribeInstances", { MaxResults = 1000 }, { page_size = 50 })
    assert.matches("\nparams = {'MaxResults': 50}\n", code, 1, true)
  end)

  it("carries the non-aggregate keys and token expressions (kinesis, s3 ListObjects)", function()
    local code = sent(nil, "kinesis", "DescribeStream", { StreamName = "s" })
    assert.matches("'output_token': ['StreamDescription.Shards[-1].ShardId']", code, 1, true)
    assert.matches("'non_aggregate_keys': ['StreamDescription.StreamARN', 'StreamDescription.StreamName'",
      code, 1, true)
    code = sent(nil, "s3", "ListObjects", { Bucket = "b" })
    assert.matches("'output_token': ['NextMarker||Contents[-1].Key']", code, 1, true)
  end)

  it("leaves the caller's params table as it was", function()
    local params = { Bucket = "b" }
    sent(nil, "s3", "ListObjectsV2", params, { page_size = 5 })
    assert.are.same({ Bucket = "b" }, params)
  end)

  it("raises a failing script as mcp.boto3 does", function()
    local text = "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling "
      .. "the ListRoles operation: no"
    local real = opsrun.mcp.call
    opsrun.mcp.call = function()
      local envelope = { status = "error", error = text }
      return { content = {}, structured = envelope, text = cjson.encode(envelope) }
    end
    local ok, err = pcall(paginate, "iam", "ListRoles", {}, { region = "us-east-1" })
    opsrun.mcp.call = real
    assert.is_false(ok)
    assert.are.same({ "tool", "AccessDenied", text, "iam", "ListRoles", "us-east-1" },
      { err.kind, err.code, err.message, err.service, err.operation, err.region })
  end)
end)

describe("mcp.paginate's arguments", function()
  it("are checked before anything is sent, blaming the caller", function()
    local real, count = opsrun.mcp.call, 0
    opsrun.mcp.call = function() count = count + 1 end
    local function bad(message, ...)
      local args = table.pack(...)
      local ok, err = pcall(function() paginate(table.unpack(args, 1, args.n)) end)
      assert.is_false(ok)
      assert.are.equal("paginate_spec.lua:", err:match("paginate_spec%.lua:"))
      assert.are.equal(message, err:match("bad argument.*$"))
    end
    bad("bad argument #1 to 'paginate' (service name expected, got nil)")
    bad([[bad argument #1 to 'paginate' (service name must look like 'ec2', got "ec2'")]], "ec2'", "X")
    bad("bad argument #2 to 'paginate' (operation name expected, got number)", "ec2", 1)
    bad("bad argument #2 to 'paginate' (ec2 DescribeRegions has no paginator in "
      .. private.PAGINATORS_SOURCE .. "; mcp.boto3 makes one call)", "ec2", "DescribeRegions")
    bad("bad argument #2 to 'paginate' (ec2 describe_instances has no paginator in "
      .. private.PAGINATORS_SOURCE .. " (paginators are named by the PascalCase operation, e.g. "
      .. "DescribeInstances); mcp.boto3 makes one call)", "ec2", "describe_instances")
    bad("bad argument #2 to 'paginate' (nosuch ListThings has no paginator in "
      .. private.PAGINATORS_SOURCE .. "; mcp.boto3 makes one call)", "nosuch", "ListThings")
    bad("bad argument #3 to 'paginate' (params must be a table or nil, got string)", "ec2",
      "DescribeInstances", "{}")
    bad("bad argument #3 to 'paginate' (params.Name: string is not valid UTF-8 (byte 1))", "ec2",
      "DescribeInstances", { Name = "\xff" })
    bad("bad argument #4 to 'paginate' (options must be a table, got number)", "ec2",
      "DescribeInstances", {}, 5)
    bad("bad argument #4 to 'paginate' (timeout must be a positive number of seconds)", "ec2",
      "DescribeInstances", {}, { timeout = -1 })
    bad("bad argument #4 to 'paginate' (max_items must be a positive integer)", "ec2",
      "DescribeInstances", {}, { max_items = 0 })
    bad("bad argument #4 to 'paginate' (page_size must be a positive integer)", "ec2",
      "DescribeInstances", {}, { page_size = 2.5 })
    bad("bad argument #4 to 'paginate' (page_size: the operation has no limit key to set)",
      "cloudformation", "DescribeStacks", {}, { page_size = 5 })
    assert.are.equal(0, count)
    opsrun.mcp.call = real
  end)
end)

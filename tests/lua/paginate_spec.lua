-- paginate_spec.lua: mcp.paginate of the opsrun module (SPEC section 4) over a stubbed mcp.call:
-- the committed paginators.lua against scripts/gen_paginators.py, the script sent, argument
-- errors, and a CPython judge (tests/lua/check_paginate.py) that runs the scripts against canned
-- pages beside botocore's own paginator: named cases, then every paginated operation botocore
-- defines with random pages (FUZZ_SEED changes them).
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
private.require_file("paginators") -- run on demand, as the first paginate runs it
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
    local ec2 = private.PAGINATORS["ec2"]
    assert.matches(";DescribeInstances NextToken MaxResults Reservations;", ec2, 1, true)
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
    assert.are.same({ "eu-west-1", 9, { X = "y" } }, { opts.region, opts.timeout, opts.meta })
    assert.are.equal("service, operation, region = 'ec2', 'DescribeInstances', 'eu-west-1'\n"
      .. "params = {'Filters': [{'Name': 'instance-state-name', 'Values': ['running']}]}\n"
      .. "rule = {'input_token': ['NextToken'], 'output_token': ['NextToken'], "
      .. "'result_key': ['Reservations'], 'more_results': None, 'non_aggregate_keys': []}\n"
      .. "max_items = None", head(code))
    assert.matches("\nresult$", code)
    local loop = code:sub(#head(code) + 1)
    assert.are.equal(loop, select(1, sent(nil, "iam", "ListRoles")):match("\n\n.*$"))
  end)

  it("carries two tokens, result keys and a more_results flag (s3 ListObjectVersions)", function()
    local code = sent(nil, "s3", "ListObjectVersions", { Bucket = "b" }, { region = "us-east-1" })
    assert.are.equal("service, operation, region = 's3', 'ListObjectVersions', 'us-east-1'\n"
      .. "params = {'Bucket': 'b'}\n"
      .. "rule = {'input_token': ['KeyMarker', 'VersionIdMarker'], 'output_token': "
      .. "['NextKeyMarker', 'NextVersionIdMarker'], 'result_key': ['Versions', 'DeleteMarkers', "
      .. "'CommonPrefixes'], 'more_results': 'IsTruncated', 'non_aggregate_keys': []}\n"
      .. "max_items = None", head(code))
  end)

  it("puts page_size under the limit key (a string if the API says so), and max_items", function()
    local code = sent(nil, "cloudfront", "ListDistributions", {},
      { max_items = 30, page_size = 10 })
    assert.matches("\nparams = {'MaxItems': '10'}\n", code, 1, true)
    assert.matches("'output_token': ['DistributionList.NextMarker'], 'result_key': "
      .. "['DistributionList.Items'], 'more_results': 'DistributionList.IsTruncated'", code, 1, true)
    assert.matches("\nmax_items = 30\n", code, 1, true)
    code = sent(nil, "ec2", "DescribeInstances", { MaxResults = 1000 }, { page_size = 50.0 })
    assert.matches("\nparams = {'MaxResults': 50}\n", code, 1, true) -- 50.0 from json.decode is 50
  end)

  it("carries the non-aggregate keys and token expressions (kinesis, s3 ListObjects)", function()
    local code = sent(nil, "kinesis", "DescribeStream", { StreamName = "s" })
    assert.matches("'output_token': ['StreamDescription.Shards[-1].ShardId']", code, 1, true)
    assert.matches("'non_aggregate_keys': ['StreamDescription.StreamARN', "
      .. "'StreamDescription.StreamName'", code, 1, true)
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

describe("mcp.paginate under --read-only", function()
  after_each(function() private.config.read_only = false end)

  it("refuses an operation that is not a read with nothing sent, and sends one that is", function()
    private.config.read_only = true
    local real, count = opsrun.mcp.call, 0
    opsrun.mcp.call = function() count = count + 1 end
    local ok, err = pcall(paginate, "iam", "SimulatePrincipalPolicy", { PolicySourceArn = "arn" })
    opsrun.mcp.call = real
    assert.is_false(ok)
    assert.are.same({ "denied", "ReadOnly", 0 }, { err.kind, err.code, count })
    assert.matches("refused iam SimulatePrincipalPolicy: it is not a read", err.message, 1, true)
    assert.matches("call_boto3", (sent(nil, "iam", "ListRoles")))
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
    bad([[bad argument #2 to 'paginate' (operation name must look like 'DescribeInstances', got "describe_instances")]],
      "ec2", "describe_instances")
    bad("bad argument #2 to 'paginate' (nosuch ListThings has no paginator in "
      .. private.PAGINATORS_SOURCE .. "; mcp.boto3 makes one call)", "nosuch", "ListThings")
    bad("bad argument #3 to 'paginate' (params must be a table or nil, got string)", "ec2",
      "DescribeInstances", "{}")
    bad("bad argument #3 to 'paginate' (params.Name: string is not valid UTF-8 (byte 1))", "ec2",
      "DescribeInstances", { Name = "\xff" })
    bad("bad argument #4 to 'paginate' (options must be a table, got number)", "ec2",
      "DescribeInstances", {}, 5)
    bad("bad argument #4 to 'paginate' (timeout must be a positive number of seconds up to 1e9)",
      "ec2", "DescribeInstances", {}, { timeout = -1 })
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

-- The CPython judge ------------------------------------------------------------------------------

-- A case for check_paginate.py: the script mcp.paginate sends for the call, and its pages (JSON
-- text, so that an empty list stays a list) or nil for pages drawn from botocore's definition.
local function case(name, service, operation, params, opts, pages)
  opts = opts or {}
  opts.region = opts.region or "eu-west-1"
  local code = sent(nil, service, operation, params, opts)
  return { name = name, service = service, operation = operation, region = opts.region,
    params = params or {}, max_items = opts.max_items or cjson.null,
    page_size = opts.page_size or cjson.null, script = code, pages = pages or cjson.null, seed = 0 }
end

local function reservations(from, to, token)
  local items = {}
  for i = from, to do
    items[#items + 1] = string.format('{"ReservationId": "r-%d", "Instances": [{"InstanceId": '
      .. '"i-%d"}]}', i, i)
  end
  local page = '"Reservations": [' .. table.concat(items, ", ") .. "]"
  if token then page = page .. ', "NextToken": "' .. token .. '"' end
  return "{" .. page .. "}"
end

local function pages(list) return "[" .. table.concat(list, ", ") .. "]" end

local function many_pages(count)
  local list = {}
  for i = 1, count do list[i] = reservations(i, i, i < count and ("t" .. i) or nil) end
  return pages(list)
end

local function named_cases()
  local ec2 = "DescribeInstances"
  local three_pages = pages({ reservations(1, 2, "t1"), reservations(3, 4, "t2"),
    reservations(5, 5) })
  return {
    case("1 page", "ec2", ec2, {}, nil, pages({ reservations(1, 3) })),
    case("2 pages", "ec2", ec2, {}, nil, pages({ reservations(1, 2, "t1"), reservations(3, 3) })),
    case("25 pages", "ec2", ec2, {}, nil, many_pages(25)),
    case("an empty page in the middle", "ec2", ec2, {}, nil,
      pages({ reservations(1, 2, "t1"), reservations(1, 0, "t2"), reservations(3, 4) })),
    case("no result key on a page", "ec2", ec2, {}, nil,
      pages({ reservations(1, 2, "t1"), '{"NextToken": "t2"}', reservations(3, 3) })),
    case("an empty token ends it", "ec2", ec2, {}, nil,
      pages({ reservations(1, 2, ""), reservations(3, 3) })),
    case("a starting token and the limit key in params", "ec2", ec2,
      { NextToken = "start", MaxResults = 5 }, nil, three_pages),
    case("page_size as MaxResults", "ec2", ec2, {}, { page_size = 2 }, three_pages),
    case("max_items inside a page", "ec2", ec2, {}, { max_items = 3 }, three_pages),
    case("max_items on a page boundary", "ec2", ec2, {}, { max_items = 2 }, three_pages),
    case("the same token twice", "ec2", ec2, {}, nil,
      pages({ reservations(1, 1, "t1"), reservations(2, 2, "t1"), reservations(3, 3) })),
    case("IsTruncated false ends it whatever the Marker", "iam", "ListRoles", { PathPrefix = "/" },
      { region = "us-east-1" }, pages({
        '{"Roles": [{"RoleName": "a"}], "IsTruncated": true, "Marker": "m1"}',
        '{"Roles": [], "IsTruncated": true, "Marker": "m2"}',
        '{"Roles": [{"RoleName": "b"}, {"RoleName": "c"}], "IsTruncated": false, "Marker": "old"}',
        '{"Roles": [{"RoleName": "never"}]}' })),
    case("the first page's Group is kept", "iam", "GetGroup", { GroupName = "g" }, nil, pages({
      '{"Group": {"GroupName": "g", "Path": "/1/"}, "Users": [{"UserName": "a"}], '
        .. '"IsTruncated": true, "Marker": "m1"}',
      '{"Group": {"GroupName": "g", "Path": "/2/"}, "Users": [{"UserName": "b"}], '
        .. '"IsTruncated": false}' })),
    case("two tokens and three result keys", "s3", "ListObjectVersions", { Bucket = "b" }, nil,
      pages({
      '{"Versions": [{"Key": "a"}], "DeleteMarkers": [{"Key": "d"}], "IsTruncated": true, '
        .. '"NextKeyMarker": "k1", "NextVersionIdMarker": "v1"}',
      '{"Versions": [{"Key": "b"}], "CommonPrefixes": [{"Prefix": "p/"}], "IsTruncated": true, '
        .. '"NextKeyMarker": "k2"}',
      '{"DeleteMarkers": [{"Key": "e"}], "CommonPrefixes": [], "IsTruncated": false}' })),
    case("result keys that are numbers and strings are added", "s3", "ListObjectVersions", {}, nil,
      pages({
        '{"Versions": [], "DeleteMarkers": 2, "CommonPrefixes": "ab", "IsTruncated": true, '
          .. '"NextKeyMarker": "k1"}',
        '{"DeleteMarkers": 3.5, "CommonPrefixes": "cd", "IsTruncated": true, "NextKeyMarker": "k2"}',
        '{"Versions": [{"Key": "a"}], "DeleteMarkers": {"x": 1}, "IsTruncated": false}' })),
    case("the next marker or the last key", "s3", "ListObjects", { Bucket = "b" }, { max_items = 4 },
      pages({
        '{"Contents": [{"Key": "a"}, {"Key": "b"}], "IsTruncated": true}',
        '{"Contents": [{"Key": "c"}], "NextMarker": "n2", "IsTruncated": true}',
        '{"Contents": [], "IsTruncated": true}' })),
    case("nested keys and a string page size", "cloudfront", "ListDistributions", {},
      { page_size = 1, region = "us-east-1" }, pages({
        '{"DistributionList": {"Items": [{"Id": "A"}], "IsTruncated": true, "NextMarker": "d1", '
          .. '"Quantity": 1}}',
        '{"DistributionList": {"Items": [{"Id": "B"}], "IsTruncated": false, "NextMarker": "d2", '
          .. '"Quantity": 1}}' })),
    case("shards and the stream's own fields", "kinesis", "DescribeStream", { StreamName = "s" }, nil,
      pages({
        '{"StreamDescription": {"StreamName": "s", "StreamStatus": "ACTIVE", "HasMoreShards": true, '
          .. '"Shards": [{"ShardId": "shard-1"}, {"ShardId": "shard-2"}]}}',
        '{"StreamDescription": {"StreamName": "s", "StreamStatus": "UPDATING", '
          .. '"HasMoreShards": false, "Shards": [{"ShardId": "shard-3"}]}}' })),
    case("rows beside the metadata of the first page", "athena", "GetQueryResults",
      { QueryExecutionId = "q" }, nil, pages({
        '{"ResultSet": {"Rows": [{"Data": [1]}], "ResultSetMetadata": {"ColumnInfo": [1]}}, '
          .. '"UpdateCount": 0, "NextToken": "t"}',
        '{"ResultSet": {"Rows": [{"Data": [2]}], "ResultSetMetadata": {"ColumnInfo": [2]}}, '
          .. '"UpdateCount": 7}' })),
  }
end

-- One case per paginated operation botocore defines, with random options and pages.
local function fuzz_cases()
  math.randomseed(SEED)
  local cases, services = {}, {}
  for service in pairs(private.PAGINATORS) do services[#services + 1] = service end
  table.sort(services)
  for _, service in ipairs(services) do
    for entry in (private.PAGINATORS[service] .. ";"):gmatch("([^;]*);") do
      local operation, limit = entry:match("^(%S+) %S+ (%S+)")
      local opts = { max_items = math.random(4) == 1 and math.random(8) or nil,
        page_size = limit ~= "-" and math.random(6) == 1 and math.random(100) or nil }
      local params = ({ {}, { Filter = "x" }, { Extra = { 1, "two" } } })[math.random(3)]
      local fuzz = case(service .. " " .. operation, service, operation, params, opts)
      fuzz.seed = SEED + #cases
      cases[#cases + 1] = fuzz
    end
  end
  return cases
end

local function judge(cases)
  local path = os.tmpname()
  local file = assert(io.open(path, "w"))
  for _, record in ipairs(cases) do file:write(cjson.encode(record), "\n") end
  file:close()
  local ok, output = read_all(PYTHON .. " " .. JUDGE .. " " .. path)
  os.remove(path)
  return ok, output
end

describe("the scripts, run by CPython beside botocore's paginator", function()
  it("end with build_full_result()'s value after the same requests (seed " .. SEED .. ")", function()
    assert.is_true(HAS_BOTOCORE, "python3-botocore is not installed (scripts/setup.sh installs it)")
    local cases = named_cases()
    local named = #cases
    for _, fuzz in ipairs(fuzz_cases()) do cases[#cases + 1] = fuzz end
    assert.is_true(#cases > 1000, #cases .. " cases")
    local ok, output = judge(cases)
    assert.is_true(ok, output)
    assert.matches("^" .. #cases .. " scripts checked %(" .. named
      .. " with canned pages%), 0 failed\n$", output)
  end)

  it("has a judge that catches a script that differs from botocore", function()
    local cases = named_cases()
    local broken = {}
    local mutations = {
      ["two tokens and three result keys"] = { "params.pop(name, None)", "pass" },
      ["an empty token ends it"] = { "or None for name", "for name" },
      ["IsTruncated false ends it whatever the Marker"] = { "rule['more_results'] is None or ",
        "True or " },
      ["max_items inside a page"] = { "items[:max_items - total]", "items" },
      ["the first page's Group is kept"] = { "if kept is None:", "if True:" },
      ["the same token twice"] = { "if tokens == previous:", "if False:" },
      ["rows beside the metadata of the first page"] = { "key in into", "False" },
    }
    for _, c in ipairs(cases) do
      local mutation = mutations[c.name]
      if mutation then
        local from, to = mutation[1], mutation[2]
        local at = assert(c.script:find(from, 1, true), from)
        c.script = c.script:sub(1, at - 1) .. to .. c.script:sub(at + #from)
        broken[#broken + 1] = c
      end
    end
    local ok, output = judge(broken)
    assert.is_falsy(ok)
    assert.matches(#broken .. " scripts checked %(" .. #broken .. " with canned pages%), " .. #broken
      .. " failed\n$", output)
  end)
end)

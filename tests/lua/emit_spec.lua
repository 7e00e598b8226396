-- emit_spec.lua: emit(row [, columns]) of the opsrun module (SPEC section 4) in the four output
-- formats, required under stock lua5.4 from build/lua/opsrun.so. A case picks the format by
-- setting private.config.output (what -o sets in the host), catches what emit writes by pointing
-- io.stdout (which emit.lua looks up at every write) at a temporary file, and ends with
-- private.emit_flush(), as the host does when a script ends.
local cjson = require "cjson"
local opsrun = require "opsrun"
local private = debug.getregistry()["opsrun.private"]
local emit, sweep, sleep = opsrun.emit, opsrun.sweep, opsrun.sleep

-- What `fn` emits in `format`, flush included; `during(text)` may look at the output so far.
local function emitted(format, fn)
  local saved_format, saved_stdout = private.config.output, io.stdout
  local file = assert(io.tmpfile())
  local function written()
    file:flush()
    local at = file:seek()
    file:seek("set")
    local text = file:read("a")
    file:seek("set", at)
    return text
  end
  private.config.output, io.stdout = format, file
  local ok, err = pcall(fn, written)
  private.emit_flush()
  private.config.output, io.stdout = saved_format, saved_stdout
  local text = written()
  file:close()
  if not ok then error(err, 0) end
  return text
end

local function lines_of(text, separator)
  local lines = {}
  for line in text:gmatch("(.-)" .. (separator or "\n")) do lines[#lines + 1] = line end
  return lines
end

describe("emit", function()
  it("is the opsrun field the host makes a global: a callable table with columns", function()
    assert.is_table(emit)
    assert.is_function(getmetatable(emit).__call)
    assert.is_function(emit.columns)
  end)

  describe("as jsonl", function()
    it("writes each row at once, one JSON object a line", function()
      local seen = {}
      local text = emitted("jsonl", function(written)
        emit { b = 1, a = "x" }
        seen[1] = written()
        emit { a = "y" }
        seen[2] = written()
      end)
      assert.are.equal('{"a":"x","b":1}\n', seen[1])
      assert.are.equal('{"a":"x","b":1}\n{"a":"y"}\n', seen[2])
      assert.are.equal(seen[2], text)
    end)

    it("orders keys by first sight, a row's new keys as `columns` says, then sorted", function()
      local text = emitted("jsonl", function()
        emit({ state = "running", account = "1", instance = "i-1", zone = "a" }, { "instance", "account" })
        emit { zone = "b", extra = true, account = "2", alpha = 0 }
      end)
      assert.are.same({ '{"instance":"i-1","account":"1","state":"running","zone":"a"}',
        '{"account":"2","zone":"b","alpha":0,"extra":true}' }, lines_of(text))
    end)

    it("writes numbers exactly, json.null as null, strings escaped", function()
      local text = emitted("jsonl", function()
        emit { big = (1 << 53) + 1, max = math.maxinteger, tenth = 0.1, one = 1.0, nan = 0 / 0,
          inf = math.huge, null = cjson.null, yes = true, text = "a \"q\"\n\té😀" }
      end)
      assert.are.equal('{"big":9007199254740993,"inf":null,"max":9223372036854775807,"nan":null,'
        .. '"null":null,"one":1.0,"tenth":0.1,"text":"a \\"q\\"\\n\\té😀","yes":true}\n', text)
      local decoded = cjson.decode(text)
      assert.are.equal("a \"q\"\n\té😀", decoded.text)
      assert.are.equal(cjson.null, decoded.null)
    end)

    -- Every row walked every column: 20,000 rows with a key each took 4 to 11 s of CPU.
    it("costs each row its own keys, not every column seen", function()
      local cpu = os.clock()
      local text = emitted("jsonl", function()
        for i = 1, 20000 do emit { ["key" .. i] = i, account = "1" } end
      end)
      cpu = os.clock() - cpu
      local lines = lines_of(text)
      assert.are.equal(20000, #lines)
      assert.are.equal('{"account":"1","key20000":20000}', lines[20000])
      assert.is_true(cpu < 2, string.format("%.2f s of CPU", cpu))
    end)
  end)

  describe("as json", function()
    it("prints one array when the script ends, an object a line", function()
      local before
      local text = emitted("json", function(written)
        emit { n = 1, s = "a" }
        emit { n = 2 }
        before = written()
      end)
      assert.are.equal("", before)
      assert.are.equal('[\n{"n":1,"s":"a"},\n{"n":2}\n]\n', text)
      assert.are.same({ { n = 1, s = "a" }, { n = 2 } }, cjson.decode(text))
    end)

    it("prints nothing when nothing was emitted, and a second flush prints nothing", function()
      assert.are.equal("", emitted("json", function() end))
      assert.are.equal('[\n{"a":1}\n]\n', emitted("json", function()
        emit { a = 1 }
        private.emit_flush()
      end))
    end)

    it("prints [] at a script's end when it printed no array", function()
      assert.are.equal("[]\n", emitted("json", function() private.emit_finish() end))
      assert.are.equal('[\n{"a":1}\n]\n', emitted("json", function()
        emit { a = 1 }
        private.emit_finish()
      end))
    end)

    it("prints nothing at a script's end in the other formats when nothing was emitted", function()
      for _, format in ipairs({ "table", "csv", "jsonl" }) do
        assert.are.equal("", emitted(format, function() private.emit_finish() end))
      end
    end)
  end)

  describe("as table", function()
    it("prints aligned columns under a header when the script ends", function()
      local before
      local text = emitted("table", function(written)
        emit { account = "200000000001", state = "running", n = 3 }
        emit { account = "2", owner = "é-owner", n = 12345 }
        emit { n = cjson.null, state = "stopped" }
        before = written()
      end)
      assert.are.equal("", before)
      assert.are.equal(table.concat({
        "account       n      state    owner",
        "200000000001  3      running",
        "2             12345           é-owner",
        "                     stopped",
        "",
      }, "\n"), text)
    end)

    it("shortens cells wider than 60 characters with an ellipsis", function()
      local wide = string.rep("é", 59) .. "XYZ"
      local text = emitted("table", function()
        emit { id = "a", value = wide }
        emit { id = "b", value = string.rep("x", 60) }
      end)
      local lines = lines_of(text)
      assert.are.equal("id  value", lines[1])
      assert.are.equal("a   " .. string.rep("é", 59) .. "…", lines[2])
      assert.are.equal("b   " .. string.rep("x", 60), lines[3])
      assert.are.equal(utf8.len(lines[2]), utf8.len(lines[3]))
    end)

    it("shows control characters so that a row stays one line", function()
      local text = emitted("table", function() emit { a = "one\ntwo\tthree\r\0" } end)
      assert.are.equal("a\none\\ntwo\\tthree\\r\\x00\n", text)
    end)

    it("keeps the values of the moment emit was called", function()
      local text = emitted("table", function()
        local row = { k = "before" }
        emit(row)
        row.k = "after"
      end)
      assert.are.equal("k\nbefore\n", text)
    end)
  end)

  describe("as csv", function()
    it("prints RFC 4180 with the union of keys in first-seen order as the header", function()
      local text = emitted("csv", function()
        emit { name = "plain", id = 1 }
        emit { id = 2, name = 'quote " comma ,', owner = "line\nbreak" }
        emit { id = 3, cr = "a\rb", flag = false }
      end)
      assert.are.equal('id,name,owner,cr,flag\r\n1,plain,,,\r\n2,"quote "" comma ,","line\nbreak",,\r\n'
        .. '3,,,"a\rb",false\r\n', text)
    end)

    local function formulas()
      emit({ ["=k"] = "=HYPERLINK(\"http://x\")", a = "+1", b = "-2", c = "@SUM(A1)", d = "\tx",
        e = "\rx", f = "a=b", n = -5, z = "\0x" }, { "=k", "a", "b", "c", "d", "e", "f", "n", "z" })
    end

    it("keeps text that a spreadsheet would take for a formula as it is, by default", function()
      assert.are.equal('=k,a,b,c,d,e,f,n,z\r\n"=HYPERLINK(""http://x"")",+1,-2,@SUM(A1),\tx,"\rx",'
        .. 'a=b,-5,\0x\r\n', emitted("csv", formulas))
    end)

    it("puts a quote before it with --csv-safe (OWASP), numbers left alone", function()
      private.config.csv_safe = true
      local ok, text = pcall(emitted, "csv", formulas)
      private.config.csv_safe = false
      assert(ok, text)
      assert.are.equal('\'=k,a,b,c,d,e,f,n,z\r\n"\'=HYPERLINK(""http://x"")",\'+1,\'-2,\'@SUM(A1),'
        .. '\'\tx,"\'\rx",a=b,-5,\'\0x\r\n', text)
    end)
  end)

  it("never leaves a row half written, whatever the tasks' order", function()
    local text = emitted("jsonl", function()
      sweep((function()
        local items = {}
        for i = 1, 60 do items[i] = i end
        return items
      end)(), function(i)
        sleep(math.random() * 0.02)
        emit { task = i, text = string.rep("x", i * 50) }
      end, { concurrency = 60 })
    end)
    local seen = {}
    for _, line in ipairs(lines_of(text)) do
      local row = cjson.decode(line)
      assert.are.equal(string.rep("x", row.task * 50), row.text)
      seen[row.task] = (seen[row.task] or 0) + 1
    end
    for i = 1, 60 do assert.are.equal(1, seen[i]) end
  end)

  describe("row order", function()
    -- Tasks that finish in the reverse of input order, each emitting two rows, between rows of
    -- the script itself; the second sweep runs over regions too, and its first task sweeps again.
    local function reversed_sweeps()
      emit { step = "first" }
      sweep({ 1, 2, 3 }, function(i)
        sleep((4 - i) * 0.03)
        emit { task = i, row = 1 }
        sleep(0.01)
        emit { task = i, row = 2 }
      end, { concurrency = 3 })
      emit { step = "between" }
      sweep({ "a", "b" }, function(item, region)
        sleep(item == "a" and 0.08 or 0)
        emit { task = item, region = region }
        if item == "a" and region == "eu-west-1" then
          sweep({ 1, 2 }, function(i)
            sleep((3 - i) * 0.02)
            emit { task = "a" .. i }
          end)
          emit { task = "a after its sweep" }
        end
      end, { concurrency = 4, regions = { "us-east-1", "eu-west-1" } })
      emit { step = "last" }
    end
    it("is input order in json: item x region, then emit order within a task", function()
      assert.are.same({
        { step = "first" },
        { task = 1, row = 1 }, { task = 1, row = 2 },
        { task = 2, row = 1 }, { task = 2, row = 2 },
        { task = 3, row = 1 }, { task = 3, row = 2 },
        { step = "between" },
        { task = "a", region = "us-east-1" },
        { task = "a", region = "eu-west-1" }, { task = "a1" }, { task = "a2" }, { task = "a after its sweep" },
        { task = "b", region = "us-east-1" }, { task = "b", region = "eu-west-1" },
        { step = "last" },
      }, cjson.decode(emitted("json", reversed_sweeps)))
    end)

    it("is input order in table and csv", function()
      local text = emitted("csv", reversed_sweeps)
      local lines = lines_of(text, "\r\n")
      assert.are.same({ "step,row,task,region", "first,,,", ",1,1,", ",2,1,", ",1,2,", ",2,2,",
        ",1,3,", ",2,3,", "between,,,", ",,a,us-east-1", ",,a,eu-west-1", ",,a1,", ",,a2,",
        ",,a after its sweep,", ",,b,us-east-1", ",,b,eu-west-1", "last,,," }, lines)
      local table_text = emitted("table", reversed_sweeps)
      local tasks = {}
      for line in table_text:gmatch("[^\n]+") do tasks[#tasks + 1] = line:gsub("%s+", " ") end
      assert.are.same({ "step row task region", "first", " 1 1", " 2 1", " 1 2", " 2 2", " 1 3",
        " 2 3", "between", " a us-east-1", " a eu-west-1", " a1", " a2", " a after its sweep",
        " b us-east-1", " b eu-west-1", "last" }, tasks)
    end)

    it("is completion order in jsonl, which streams", function()
      local tasks = {}
      local text = emitted("jsonl", function()
        sweep({ 1, 2, 3 }, function(i)
          sleep((4 - i) * 0.03)
          emit { task = i }
        end, { concurrency = 3 })
      end)
      for _, line in ipairs(lines_of(text)) do tasks[#tasks + 1] = cjson.decode(line).task end
      assert.are.same({ 3, 2, 1 }, tasks)
    end)
  end)

  describe("columns", function()
    local function with_columns(cli, stated, format, fn)
      private.config.columns = cli
      local ok, text = pcall(emitted, format, function()
        if stated then emit.columns(stated) end
        fn()
      end)
      private.config.columns = nil
      emit.columns {}
      assert(ok, text)
      return text
    end
    local function rows()
      emit { region = "us-east-1", id = "i-1", account = "1" }
      emit { account = "2", extra = true }
    end

    it("come as emit.columns states them, then the rest as before", function()
      assert.are.equal("id,account,region,extra\r\ni-1,1,us-east-1,\r\n,2,,true\r\n",
        with_columns(nil, { "id", "account" }, "csv", rows))
      assert.are.equal('{"id":"i-1","account":"1","region":"us-east-1"}\n{"account":"2","extra":true}\n',
        with_columns(nil, { "id", "account" }, "jsonl", rows))
    end)

    it("come as --columns names them first, then emit.columns's, even when no row has one", function()
      assert.are.equal("owner,region,id,account,extra\r\n,us-east-1,i-1,1,\r\n,,,2,true\r\n",
        with_columns("owner,region", { "id", "region" }, "csv", rows))
      assert.are.equal("owner  region     id   account  extra\n       us-east-1  i-1  1\n"
        .. "                       2        true\n", with_columns("owner,region", { "id" }, "table", rows))
      assert.are.equal('[\n{"region":"us-east-1","id":"i-1","account":"1"},\n{"account":"2","extra":true}\n]\n',
        with_columns("owner,region", { "id" }, "json", rows))
    end)

    it("checks what emit.columns is given, blaming the caller", function()
      local ok, err = pcall(function() emit.columns("account") end)
      assert.is_false(ok)
      assert.are.equal("emit_spec.lua:", err:match("emit_spec%.lua:"))
      assert.matches("bad argument #1 to 'emit.columns' (names must be an array of strings, got string)",
        err, 1, true)
      ok, err = pcall(emit.columns, { "a", 2 })
      assert.is_false(ok)
      assert.matches("(names[2] must be a string)", err, 1, true)
    end)
  end)

  describe("json.encode", function()
    local encode = opsrun.json.encode

    it("leaves / as it is, where lua-cjson writes \\/", function()
      assert.are.equal('"arn:aws:sts::1:assumed-role/R/s"', encode("arn:aws:sts::1:assumed-role/R/s"))
      assert.are.equal('{"path":"/a/b"}', encode({ path = "/a/b" }))
      assert.are.equal('["a\\/b"]', cjson.encode({ "a/b" })) -- what it mends
    end)

    it("keeps every backslash next to a slash, and decodes back to the same value", function()
      local values = { "\\/", "\\\\/", "\\\\\\/", "/\\", "\\//\\", "a\\/b/c\\\\/d", "\"/\"",
        "\n/\t", "\\u002f", "é/😀" }
      for _, value in ipairs(values) do
        local text = encode(value)
        assert.is_nil(text:find("\\/", 1, true) and text:gsub("\\\\", ""):find("\\/", 1, true),
          "an escaped slash in " .. text)
        assert.are.equal(value, cjson.decode(text))
      end
      assert.are.equal('"\\\\/"', encode("\\/"))
      assert.are.equal('"\\\\\\\\/"', encode("\\\\/"))
      assert.are.same({ k = { "a\\/b", "/" } }, cjson.decode(encode({ k = { "a\\/b", "/" } })))
    end)

    it("is the json global's, and the rest is lua-cjson's", function()
      assert.are.equal(cjson.null, opsrun.json.null)
      assert.are.equal(cjson.decode, opsrun.json.decode)
    end)
  end)

  it("checks its arguments, blaming the caller", function()
    local function bad(message, ...)
      local args = table.pack(...)
      local ok, err = pcall(function() emit(table.unpack(args, 1, args.n)) end)
      assert.is_false(ok)
      assert.are.equal("emit_spec.lua:", err:match("emit_spec%.lua:"))
      assert.are.equal(message, err:match("bad argument.*$"))
    end
    emitted("jsonl", function()
      bad("bad argument #1 to 'emit' (row must be a table, got string)", "row")
      bad("bad argument #1 to 'emit' (row keys must be strings, got number key 1)", { "a" })
      bad("bad argument #1 to 'emit' (row.tags is a table; a row is flat: strings, numbers, "
        .. "booleans or json.null (json.encode a nested value))", { tags = {} })
      bad("bad argument #1 to 'emit' (row.f is a function; a row is flat: strings, numbers, "
        .. "booleans or json.null (json.encode a nested value))", { f = print })
      bad("bad argument #2 to 'emit' (columns must be an array of names, got string)", { a = 1 }, "a")
      bad("bad argument #2 to 'emit' (columns[2] must be a string)", { a = 1 }, { "a", 2 })
    end)
  end)
end)

-- sweep.lua: sweep(list, fn [, opts]) runs fn for every item (and region) as its own task, at most
-- `concurrency` at once, each under a deadline, runs again those that failed for a passing reason
-- (opts.retries), logs each failure and returns the results in input order. With regions =
-- "enabled" (in opts, or an account's own from the registry) an account's regions are those it has
-- enabled, looked up by a task of the sweep (regions.lua) before its region tasks start. Tasks
-- start in turn across accounts (fair_queue.lua), whatever the order of items and regions. Uses
-- the engine's groups (bindings/lua_engine.c) for the tasks, opsrun.log for failures,
-- private.notice for the summary.
local opsrun, private = ...
local engine, config = private, private.config

local ENABLED = "enabled" -- regions = "enabled": each account's enabled Regions
local ACCOUNT_ID = "^%d%d%d%d%d%d%d%d%d%d%d%d$"

local PROGRESS_INTERVAL = 0.1 -- seconds between redraws of the progress line
local MAX_RETRIES = 100 -- opts.retries; each retry also makes up to AWS_MAX_ATTEMPTS attempts

-- The error kinds after which opts.retries runs a task again: the estate was busy or unreachable
-- for a while, and the whole task may do better later. (The retry policy already sent the failed
-- request again up to AWS_MAX_ATTEMPTS times; those are attempts of one request, these of a task.)
local RETRIED_KINDS = { throttled = true, transport = true, timeout = true }

-- Each account's jobs not yet ended, in all the sweeps under way (a task can sweep too). When an
-- account's last one ends, no task of a sweep can need the MCP sessions of its roles any more:
-- they are closed then (private.mcp.release; DELETEs overlap the other accounts' work) rather
-- than all at exit. Any later call as one of those roles simply opens a new session.
local unfinished = {}

-- Places in use by the sweeps of served tool calls (`opsrun serve`, whose tasks have a scope):
-- concurrent calls share one -j. A sweep always has one task running, whatever the others hold,
-- so that a sweep inside a sweep task, or a call that comes while another holds every place,
-- goes on rather than waiting for places that only its own end would free.
local shared_places_in_use = 0

-- Counts `change` more (or fewer) jobs of `account` unfinished, in all sweeps and in `held` (the
-- sweep's own count); releases the account's sessions when none is left.
local function count_unfinished(held, account, change)
  held[account] = (held[account] or 0) + change
  local left = (unfinished[account] or 0) + change
  unfinished[account] = left > 0 and left or nil
  if left == 0 then private.mcp.release(account) end
end

-- Returns the options, or nil and what is wrong with them.
local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then return nil, "options must be a table, got " .. type(opts) end
  local c = opts.concurrency
  if c ~= nil and (math.type(c) ~= "integer" or c < 1 or c > 1024) then
    return nil, "concurrency must be an integer from 1 to 1024, got " .. tostring(c)
  end
  local t = opts.timeout
  if t ~= nil and not (type(t) == "number" and t > 0 and t <= engine.MAX_SECONDS) then
    return nil, "timeout must be a positive number of seconds up to 1e9, got " .. tostring(t)
  end
  if opts.regions ~= nil and opts.regions ~= ENABLED then
    if type(opts.regions) ~= "table" or #opts.regions == 0 then
      return nil, 'regions must be a non-empty array of region names or "enabled"'
    end
    for i, region in ipairs(opts.regions) do
      if type(region) ~= "string" then return nil, "regions[" .. i .. "] must be a string" end
      if not private.identity.is_region(region) then
        return nil, string.format("regions[%d] must be a region name such as 'us-east-1', got %s",
          i, (string.format("%q", region):gsub("\\\n", "\\n")))
      end
    end
  end
  local r = opts.retries
  if r ~= nil and (math.type(r) ~= "integer" or r < 0 or r > MAX_RETRIES) then
    return nil, "retries must be an integer from 0 to " .. MAX_RETRIES .. ", got " .. tostring(r)
  end
  if opts.on_result ~= nil and type(opts.on_result) ~= "function" then
    return nil, "on_result must be a function, got " .. type(opts.on_result)
  end
  return opts
end

-- The account a task acts for, in its log lines and errors: an account table's id, or the item
-- itself when it is a string (a list of account ids).
local function account_of(item)
  if type(item) == "table" then return type(item.id) == "string" and item.id or nil end
  return type(item) == "string" and item or nil
end

-- A job of `held`'s sweep begins (change 1) or ends for good (-1): see count_unfinished.
local function count_job(held, job, change)
  local account = account_of(job.item)
  if account then count_unfinished(held, account, change) end
end

-- Whose job it is, for sharing the sweep's places among accounts (fair_queue.lua): its item's
-- account, else (an item that names none) its item's position in the list.
local function share_key(job)
  return account_of(job.item) or math.floor(job.place)
end

-- Whether an item runs in its account's enabled Regions: opts.regions says so, or, without
-- opts.regions, the account's own `regions` (from the registry) does.
local function wants_enabled(item, regions)
  if regions ~= nil then return regions == ENABLED end
  return type(item) == "table" and item.regions == ENABLED
end

-- nil, or what is wrong with an item whose enabled Regions are to be looked up: it must be an
-- account (a table with an account id, or an id).
local function lookup_problem(list, regions)
  for i, item in ipairs(list) do
    local id = account_of(item)
    if wants_enabled(item, regions) and not (id and id:match(ACCOUNT_ID)) then
      return string.format('regions = "enabled" needs account items (an account table or a '
        .. "12-digit account id); list[%d] is %s", i,
        type(item) == "table" and "a table without one" or "a " .. type(item))
    end
  end
end

-- Returns the options, or nil and what is wrong with the arguments.
local function check_arguments(list, fn, opts)
  if type(list) ~= "table" then return nil, "list must be a table, got " .. type(list) end
  if type(fn) ~= "function" then return nil, "fn must be a function, got " .. type(fn) end
  local problem
  opts, problem = check_options(opts)
  if not opts then return nil, problem end
  problem = lookup_problem(list, opts.regions)
  if problem then return nil, problem end
  return opts
end

-- An item's task in each of `regions`. A task's place orders the results and the rows: its
-- item's position in the list, then its region's rank among the item's regions, as a fraction.
local function region_jobs(item, position, regions)
  local jobs = {}
  for k, region in ipairs(regions) do
    jobs[k] = { item = item, region = region, place = position + (k - 1) / #regions }
  end
  return jobs
end

-- The jobs a sweep starts with, in input order: an item's task in each region (opts.regions, or
-- its account's enabled Regions when they are known already), its one task without a region, or
-- the lookup of its account's enabled Regions: one per account, `waiting` holding the items (and
-- their places) it will expand into tasks. Also returns how many results they will give so far.
local function initial_jobs(list, regions)
  local jobs, lookups, expected = {}, {}, 0
  local function add(job) jobs[#jobs + 1] = job end
  for position, item in ipairs(list) do
    local id = account_of(item)
    local item_regions = regions
    if wants_enabled(item, regions) then item_regions = private.known_enabled_regions(id) end
    if item_regions then
      for _, job in ipairs(region_jobs(item, position, item_regions)) do add(job) end
      expected = expected + #item_regions
    elseif wants_enabled(item, regions) then
      if not lookups[id] then
        lookups[id] = { item = item, lookup = id, waiting = {} }
        add(lookups[id])
      end
      table.insert(lookups[id].waiting, { item = item, place = position })
      expected = expected + 1
    else
      add({ item = item, place = position })
      expected = expected + 1
    end
  end
  return jobs, expected
end

-- The results, filed by place, in input order.
local function in_input_order(by_place)
  local places = {}
  for place in pairs(by_place) do places[#places + 1] = place end
  table.sort(places)
  local results = {}
  for i, place in ipairs(places) do results[i] = by_place[place] end
  return results
end

local function failure_kind(err)
  return type(err) == "table" and err.kind or "error"
end

-- A problem every task would hit (no credentials at all, an SSO sign-in to renew with `aws sso
-- login`, a bad setting, an invalid registry, the caller's own credentials refused): a sweep
-- stops at it, and main.c, which asks private.is_configuration_error of the script's own error,
-- reports it once and exits 2. assume() and
-- whoami() sign with the caller's credentials, the same for every account, so STS refusing them
-- there, or the caller's credential_process failing, is the caller's problem. A refusal for one
-- account (AccessDenied; a role's ExpiredToken at the MCP server) is not one.
local CALLER_PHASES = { assume = true, whoami = true }
local CALLER_REFUSED = { InvalidClientTokenId = true, SignatureDoesNotMatch = true,
  IncompleteSignature = true, MissingAuthenticationToken = true, ExpiredToken = true,
  CredentialProcessError = true }

local function is_configuration_error(err)
  if type(err) ~= "table" then return false end
  return err.kind == "config" or err.kind == "registry"
    or (err.kind == "credentials" and (err.code == "NoCredentials" or err.code == "SSOTokenNotUsable"
      or (CALLER_PHASES[err.phase] == true and CALLER_REFUSED[err.code] == true)))
end
private.is_configuration_error = is_configuration_error

local function first_line(text)
  return (text:match("^[^\n]*"))
end

-- "200000000002 in eu-west-1" (the region only with opts.regions)
local function task_name(job)
  local name = account_of(job.item) or tostring(job.item)
  if job.lookup then return name .. " (looking up its enabled Regions)" end
  return job.region and name .. " in " .. job.region or name
end

-- Logs a failed task as it ends, so a long sweep shows its failures early (the log writes its
-- lines above the progress line): one line with the account, region, kind and message; for an
-- error raised by the playbook's own Lua, the traceback too, once per distinct message (`shown`).
-- Warnings: shown by default and with -q, as SPEC asks of every failed task; -qq hides them.
local function log_failure(job, err, traceback, shown)
  local message = first_line(tostring(err))
  opsrun.log.warn("sweep: %s failed (%s): %s", task_name(job), failure_kind(err), message)
  local own = failure_kind(err) == "error" -- the playbook's, not an API error object
  if not own or type(traceback) ~= "string" or shown[message] then return end
  shown[message] = true
  opsrun.log.warn("sweep: traceback of the first task that failed with this error:")
  local frames = traceback:match("stack traceback:\n(.*)$") or traceback -- the message is above
  for line in frames:gmatch("[^\n]+") do opsrun.log.warn("  %s", (line:gsub("\t", "  "))) end
end

local function is_retried(err)
  return type(err) == "table" and RETRIED_KINDS[err.kind] == true
end

-- "sweep: 400 tasks in 12.3 s: 398 ok, 2 failed (1 timeout, 1 denied)", then with retries
-- "; 12 retries, 9 tasks recovered"
local function summary(results, seconds)
  local failed, by_kind, kinds, retries, recovered = 0, {}, {}, 0, 0
  for _, r in ipairs(results) do
    retries = retries + r.attempts - 1
    if r.ok and r.attempts > 1 then recovered = recovered + 1 end
    if not r.ok then
      failed = failed + 1
      local kind = failure_kind(r.error)
      if not by_kind[kind] then kinds[#kinds + 1] = kind end
      by_kind[kind] = (by_kind[kind] or 0) + 1
    end
  end
  local line = string.format("sweep: %d task%s in %.1f s: %d ok, %d failed", #results,
    #results == 1 and "" or "s", seconds, #results - failed, failed)
  if failed > 0 then
    table.sort(kinds)
    local parts = {}
    for _, kind in ipairs(kinds) do parts[#parts + 1] = by_kind[kind] .. " " .. kind end
    line = line .. " (" .. table.concat(parts, ", ") .. ")"
  end
  if retries > 0 then
    line = string.format("%s; %d retr%s, %d task%s recovered", line, retries,
      retries == 1 and "y" or "ies", recovered, recovered == 1 and "" or "s")
  end
  return line, failed
end

-- Calls on_result(result); an error in it must not stop the others' reporting, so it is logged
-- at once (with the item) and the first is kept in `errors` to be raised when the sweep ends.
local function report(on_result, result, errors)
  local ok, err = pcall(on_result, result)
  if ok then return end
  local item = account_of(result.item) or tostring(result.item)
  opsrun.log.error("sweep: on_result failed for %s%s: %s", item,
    result.region and " in " .. result.region or "", tostring(err))
  errors.count = errors.count + 1
  if errors.count == 1 then errors.first = err end
end

local function progress_line(done, total, running, failed, seconds)
  return string.format("sweep %d/%d · %d running · %d failed · %.1f s", done, total, running,
    failed, seconds)
end

function opsrun.sweep(list, fn, opts)
  local problem
  opts, problem = check_arguments(list, fn, opts)
  if not opts then error("bad argument to 'sweep' (" .. problem .. ")", 2) end
  local concurrency = opts.concurrency or config.concurrency
  local timeout = opts.timeout or config.timeout
  local retries = opts.retries or 0
  local jobs, expected = initial_jobs(list, opts.regions) -- expected: results, as far as known
  local by_place, attempts = {}, {}
  local group = engine.group()
  local placed = private.row_order() -- emit keeps the tasks' rows in input order
  local started, done, failed = engine.clock(), 0, 0
  -- Job indexes to start, shared fairly among accounts (fair_queue.lua): every job (a lookup's
  -- tasks join it once it ends), then the retries, held back until no other job waits.
  local queue, retry_queue = private.fair_queue(), {}
  local held = {} -- account -> its jobs of this sweep not yet ended
  for index, job in ipairs(jobs) do
    queue:add(share_key(job), index)
    count_job(held, job, 1)
  end
  local drawn = -math.huge
  local report_errors = { count = 0 }
  local tracebacks_shown = {}
  local fatal -- the first configuration error: no task is started after it
  local shares_places = engine.scope() ~= 0 -- a served call's sweep shares -j with the others

  -- A retried job keeps its index: its result and rows stay in its place in the input order. A
  -- lookup is a task like the others: it takes a place among `concurrency` and its deadline.
  local function start_next()
    local index = queue:take()
    local job = jobs[index]
    attempts[index] = (attempts[index] or 0) + 1
    if shares_places then shared_places_in_use = shared_places_in_use + 1 end
    local account = account_of(job.item)
    if job.lookup then
      group:spawn(index, timeout, account, private.enabled_regions, job.item, job.lookup)
    elseif job.region then
      group:spawn(index, timeout, account, placed(job.place, fn), job.item, job.region)
    else
      group:spawn(index, timeout, account, placed(job.place, fn), job.item)
    end
  end

  -- A lookup found `regions`: the items waiting on it become their account's tasks.
  local function expand(lookup, regions)
    local added = 0
    for _, waiting in ipairs(lookup.waiting) do
      for _, job in ipairs(region_jobs(waiting.item, waiting.place, regions)) do
        jobs[#jobs + 1] = job
        queue:add(share_key(job), #jobs)
        count_job(held, job, 1)
        added = added + 1
      end
    end
    expected = expected + added - #lookup.waiting
    count_job(held, lookup, -1) -- after its tasks are counted: the account is not done
  end

  -- The retries join the queue once nothing else waits in it, still shared among accounts.
  local function queue_retries()
    if not queue:is_empty() then return end
    for _, index in ipairs(retry_queue) do queue:add(share_key(jobs[index]), index) end
    retry_queue = {}
  end

  local function may_start()
    queue_retries()
    if queue:is_empty() or fatal or group:pending() >= concurrency then return false end
    if shares_places and engine.interrupted() then return false end -- the served call was cancelled
    return not shares_places or group:pending() == 0 or shared_places_in_use < config.concurrency
  end

  local function show_progress(force)
    if not config.progress then return end
    local now = engine.clock()
    if force or now - drawn >= PROGRESS_INTERVAL then
      drawn = now
      engine.status(progress_line(done, expected, group:pending(), failed, now - started))
    end
  end

  -- Returns true when the failed job goes back in the queue instead of being a result.
  local function queued_again(index, err)
    if attempts[index] > retries or not is_retried(err) or engine.interrupted() then return false end
    opsrun.log.info("sweep: %s failed (%s), to run again after the others (attempt %d of %d): %s",
      task_name(jobs[index]), failure_kind(err), attempts[index] + 1, retries + 1,
      first_line(tostring(err)))
    retry_queue[#retry_queue + 1] = index
    return true
  end

  -- Files the result of the job at `index`: a task's, or a failed lookup's, one for each item
  -- that waited on it (with no region).
  local function file(index, ok, seconds, traceback, value)
    local job = jobs[index]
    count_job(held, job, -1)
    local ended = job.lookup and job.waiting or { job }
    if not ok then
      failed = failed + #ended
      if is_configuration_error(value) then
        fatal = fatal or value
      elseif not fatal and not engine.interrupted() then -- the summary tells of an interrupt
        log_failure(job, value, traceback, tracebacks_shown)
      end
    end
    for _, each in ipairs(ended) do
      local result = { item = each.item, region = each.region, ok = ok, seconds = seconds,
        attempts = attempts[index] }
      if ok then result.value = value else result.error = value end
      by_place[each.place] = result
      done = done + 1
      if opts.on_result and not fatal then report(opts.on_result, result, report_errors) end
      if private.observe_sweep then private.observe_sweep(result, done, expected) end
    end
  end

  while may_start() do start_next() end
  show_progress(true)
  while group:pending() > 0 do
    local index, ok, seconds, traceback, _, value = group:next()
    if shares_places then shared_places_in_use = shared_places_in_use - 1 end
    queue:ended(share_key(jobs[index]))
    if ok and jobs[index].lookup then
      expand(jobs[index], value)
    elseif ok or not queued_again(index, value) then
      file(index, ok, seconds, traceback, value)
    end
    while may_start() do start_next() end
    show_progress(false)
  end
  if config.progress then engine.status(nil) end
  -- Jobs never started (after a configuration error or an interrupt) end with the sweep.
  for account, left in pairs(held) do
    if left > 0 then count_unfinished(held, account, -left) end
  end
  if fatal then error(fatal, 0) end -- reported once by main.c (exit 2), not task by task

  local results = in_input_order(by_place)
  local line, failures = summary(results, engine.clock() - started)
  if engine.interrupted() then
    local words = engine.interruption() -- "interrupted by SIGTERM"; opsrun adds no line of its own
    engine.notice(line .. ", " .. words)
    error(private.error({ code = "Interrupted", message = words }, "cancelled"), 2)
  end
  engine.notice(line)
  -- exit status 3 for a script's failed tasks; a served call's failures are in its result
  if failures > 0 and engine.scope() == 0 then engine.note_failure(failures) end
  if report_errors.count > 0 then error(report_errors.first, 0) end
  return results
end

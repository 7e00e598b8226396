-- fair_queue.lua: private.fair_queue(), the jobs a sweep has still to start, handed out so that a
-- free place goes to the account with the fewest tasks running (the one that has waited longest
-- among equals), and within an account in the order its jobs were added. The hosted MCP server
-- allows each account a few requests a second (opsrun paces to 3): a sweep that started its tasks
-- item by item would fill its places with one account's regions, each waiting its turn at that
-- account's pace, while the other accounts sat idle. Used by sweep.lua alone.
local _, private = ...

local Queue = {}
Queue.__index = Queue

-- A job is filed under a key (its account); each key with jobs waiting sits, in arrival order,
-- in the bucket of its running tasks' count. Buckets are lists linked through before/after.
function private.fair_queue()
  return setmetatable({
    jobs = {},      -- key -> { first = i, last = j, [i..j] = its waiting jobs }
    running = {},   -- key -> its tasks running (nil: none)
    buckets = {},   -- count -> { head = key, tail = key }
    bucket_of = {}, -- key -> the count of the bucket it sits in
    before = {}, after = {},
    lowest = 0,     -- no bucket below it has a key
    waiting = 0,
  }, Queue)
end

function Queue:link(key)
  local count = self.running[key] or 0
  local bucket = self.buckets[count]
  if not bucket then
    bucket = {}
    self.buckets[count] = bucket
  end
  self.bucket_of[key] = count
  self.before[key] = bucket.tail
  if bucket.tail then self.after[bucket.tail] = key else bucket.head = key end
  bucket.tail = key
  if count < self.lowest then self.lowest = count end
end

function Queue:unlink(key)
  local bucket = self.buckets[self.bucket_of[key]]
  local before, after = self.before[key], self.after[key]
  if before then self.after[before] = after else bucket.head = after end
  if after then self.before[after] = before else bucket.tail = before end
  self.bucket_of[key], self.before[key], self.after[key] = nil, nil, nil
end

-- Adds `job` after the others of `key`.
function Queue:add(key, job)
  local jobs = self.jobs[key]
  if not jobs then
    jobs = { first = 1, last = 0 }
    self.jobs[key] = jobs
    self:link(key)
  end
  jobs.last = jobs.last + 1
  jobs[jobs.last] = job
  self.waiting = self.waiting + 1
end

function Queue:is_empty()
  return self.waiting == 0
end

-- The next job to start and its key, counted as running; nil when none waits.
function Queue:take()
  if self.waiting == 0 then return nil end
  while not (self.buckets[self.lowest] and self.buckets[self.lowest].head) do
    self.lowest = self.lowest + 1
  end
  local key = self.buckets[self.lowest].head
  self:unlink(key)
  local jobs = self.jobs[key]
  local job = jobs[jobs.first]
  jobs[jobs.first] = nil
  jobs.first = jobs.first + 1
  self.waiting = self.waiting - 1
  self.running[key] = (self.running[key] or 0) + 1
  if jobs.first > jobs.last then self.jobs[key] = nil else self:link(key) end
  return job, key
end

-- A task of `key` has ended: its account moves down a bucket, behind those already there.
function Queue:ended(key)
  local count = self.running[key] - 1
  self.running[key] = count > 0 and count or nil
  if self.jobs[key] then
    self:unlink(key)
    self:link(key)
  end
end

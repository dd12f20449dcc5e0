-- wrk script for bench/serve.sh: POSTs a JSON file, stops each wrk thread after its share of the
-- requests (so the load is bounded by count, and by wrk's -d in time), and prints the figures as
-- one JSON line. Arguments after `--`: <requests per thread> <body file> <wrk threads> <done file>.
--
-- wrk runs to the end of -d even when every thread stopped early, and its duration says so. So
-- each thread times itself with the monotonic clock (through LuaJIT's ffi), done() takes the
-- span, and the last thread to finish (counted in the done file) ends wrk with SIGINT.

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } cortex_timespec;
  int clock_gettime(int clock, cortex_timespec *now);
  int getpid(void);
  int kill(int pid, int sig);
]]
local SIGINT = 2
local CLOCK_MONOTONIC = 1

local function now_us()
  local t = ffi.new("cortex_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
  return tonumber(t.tv_sec) * 1000000 + tonumber(t.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

answered, limit, started_us, finished_us = 0, 0, 0, 0
local thread_count, done_file = 1, nil

function init(args)
  limit = tonumber(args[1])
  thread_count = tonumber(args[3])
  done_file = args[4]
  local file = assert(io.open(args[2], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  wrk.headers["Content-Type"] = "application/json"
  file:close()
  started_us = now_us()
end

function response(status, headers, body)
  answered = answered + 1
  if answered == limit then
    finished_us = now_us()
    wrk.thread:stop()
    local file = assert(io.open(done_file, "a"))
    file:write("done\n")
    file:close()
    local finished = 0
    for _ in io.lines(done_file) do finished = finished + 1 end
    if finished >= thread_count then
      ffi.C.kill(ffi.C.getpid(), SIGINT)
    end
  end
end

function done(summary, latency, requests)
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    first = math.min(first, thread:get("started_us"))
    local finished = thread:get("finished_us")
    if finished == 0 then finished = first + summary.duration end  -- stopped by -d instead
    last = math.max(last, finished)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, last - first, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

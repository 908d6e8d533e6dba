-- wrk script for command writes (Tests/scale/throughput.py): each request registers a new dataset
-- (POST /v1/datasets), a command that takes the write turn, plans on the core, commits its records and
-- audit entry in one transaction and applies them.
--
-- Environment:
--   COMMANDS_TOKEN  the bearer token of the holder that registers the datasets
--   COMMANDS_RUN    a number that makes this run's titles and fingerprints its own
--
-- At the end it prints one machine-readable line:
--   RESULT requests=… duration_us=… rps=… p50_us=… p99_us=… max_us=… non2xx=… socket_errors=…

local threadCount = 0

function setup(thread)
  threadCount = threadCount + 1
  thread:set("id", threadCount)
end

local headers
local run
local counter = 0

function init(args)
  local token = os.getenv("COMMANDS_TOKEN")
  assert(token and token ~= "", "COMMANDS_TOKEN must hold the bearer token")
  run = tonumber(os.getenv("COMMANDS_RUN") or "0")
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  local name = string.format("%d-%d-%d", run, id, counter)
  -- A fingerprint unique to this request: 64 hex digits.
  local fingerprint = string.format("%016x%016x%032x", run, id, counter)
  local body = string.format(
    '{"title":"Command %s","description":"A dataset registered by the command benchmark","grade":"general",' ..
    '"piLevel":"none","individualsCovered":0,"region":"CN-BJ","fingerprint":"%s","format":"csv",' ..
    '"updateCycle":"daily","sizeBytes":1024,"tags":["bench"]}', name, fingerprint)
  return wrk.format("POST", "/v1/datasets", headers, body)
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local result = dofile(here .. "lib/wrk-result.lua")

function done(summary, latency, requests)
  io.write(result.line(summary, latency))
end

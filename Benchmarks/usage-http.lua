-- wrk script of the usage benchmark (Benchmarks/usage-http.sh): batched, durable usage events (R26–R28).
--
-- Every request is a `POST /v1/usage` with a fresh body of USAGE_BATCH events (1 token each, dated now,
-- a key never sent before), sent by one of the parties listed in USAGE_TARGETS with its own bearer key,
-- about that party's grants taken round-robin. Parties take turns request by request, so several of
-- them have requests in the same group commit.
--
-- Environment:
--   USAGE_TARGETS  a file with one line per sending party: `<bearer token> <grant number> <grant number> …`
--   USAGE_BATCH    events per request (default 1000; the server takes up to 4096)
--   USAGE_RUN      a nonce that makes this run's keys unique (default: the time); keys are
--                  `<run>.<thread>.<counter>`, unique across threads and runs
--
-- Every response is counted: requests answered 200 and the events they acknowledged, split into
-- accepted and denied from the leading `{"accepted":N,"denied":M,"replayed":R` of the answer; other
-- statuses are counted by code (the first body of each is kept to be printed). At the end it prints one
-- machine-readable line, read by the shell script:
--   RESULT requests=… ok=… non200=… duration_us=… rps=… events=… events_per_s=… accepted=… denied=…
--          replayed=… unparsed=… p50_us=… p90_us=… p99_us=… max_us=… socket_errors=… timeouts=… batch=…

local threads = {}

-- Runs in the main Lua state once per thread: numbers the threads (part of every key).
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

-- Per thread state (each wrk thread has its own Lua state; `done` reads these through thread:get).
requests = 0
ok = 0
non200 = 0
events = 0
accepted = 0
denied = 0
replayed = 0
unparsed = 0
statuses = ""
first_error = ""

local parties = {}     -- { headers = …, grants = { prefix strings }, next = index }
local party_count = 0
local next_party = 1
local batch = 1000
local key_prefix = ""
local counter = 0
local stamp_second = -1
local stamp = ""
local parts = {}
local status_counts = {}

function init(args)
  local path = os.getenv("USAGE_TARGETS")
  assert(path and path ~= "", "USAGE_TARGETS must name a file of `<token> <grant> …` lines")
  batch = tonumber(os.getenv("USAGE_BATCH") or "") or 1000
  assert(batch >= 1 and batch <= 4096, "USAGE_BATCH must be 1 to 4096")
  local run = os.getenv("USAGE_RUN")
  if not run or run == "" then run = tostring(os.time()) end
  key_prefix = run .. "." .. tostring(thread_index or 0) .. "."
  for line in io.lines(path) do
    local fields = {}
    for field in line:gmatch("%S+") do table.insert(fields, field) end
    if #fields >= 2 then
      local grants = {}
      for index = 2, #fields do
        -- Everything of an event up to its time: only the time and the key change per event.
        grants[#grants + 1] = '{"grant":"' .. fields[index] .. '","tokens":1,"at":"'
      end
      party_count = party_count + 1
      parties[party_count] = {
        headers = { ["Authorization"] = "Bearer " .. fields[1], ["Content-Type"] = "application/json" },
        grants = grants,
        next = 1 + ((thread_index or 0) * 7) % #grants,
      }
    end
  end
  assert(party_count > 0, "no `<token> <grant> …` lines in " .. path)
  -- Threads start on different parties, so that the first requests of a run are spread too.
  next_party = 1 + ((thread_index or 1) - 1) % party_count
end

function request()
  -- The time is refreshed once a second, not per event.
  local second = os.time()
  if second ~= stamp_second then
    stamp_second = second
    stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", second) .. '","key":"' .. key_prefix
  end
  local party = parties[next_party]
  next_party = next_party % party_count + 1
  local grants = party.grants
  local grant_count = #grants
  local g = party.next
  local n = 1
  parts[1] = '{"events":['
  for index = 1, batch do
    counter = counter + 1
    n = n + 1
    parts[n] = grants[g]
    n = n + 1
    parts[n] = stamp
    n = n + 1
    parts[n] = counter
    n = n + 1
    parts[n] = (index < batch) and '"},' or '"}]}'
    g = g % grant_count + 1
  end
  party.next = g
  return wrk.format("POST", "/v1/usage", party.headers, table.concat(parts, "", 1, n))
end

function response(status, headers, body)
  requests = requests + 1
  if status == 200 then
    ok = ok + 1
    local a, d, r = string.match(body, '^{"accepted":(%d+),"denied":(%d+),"replayed":(%d+)')
    if a then
      a, d, r = tonumber(a), tonumber(d), tonumber(r)
      accepted = accepted + a
      denied = denied + d
      replayed = replayed + r
      events = events + a + d
    else
      unparsed = unparsed + 1
    end
  else
    non200 = non200 + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    local text = {}
    for code, count in pairs(status_counts) do text[#text + 1] = code .. ":" .. count end
    statuses = table.concat(text, ",")
    if first_error == "" then first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300) end
  end
end

function done(summary, latency, _)
  local totals = { requests = 0, ok = 0, non200 = 0, events = 0, accepted = 0, denied = 0, replayed = 0, unparsed = 0 }
  local status_text, error_text = {}, ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do totals[name] = totals[name] + (thread:get(name) or 0) end
    local s = thread:get("statuses")
    if s and s ~= "" then status_text[#status_text + 1] = s end
    local e = thread:get("first_error")
    if error_text == "" and e and e ~= "" then error_text = e end
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  if error_text ~= "" then
    io.write("FIRST_ERROR ", (error_text:gsub("[\r\n]", " ")), "\n")
  end
  io.write(string.format(
    "RESULT requests=%d ok=%d non200=%d duration_us=%d rps=%.1f events=%d events_per_s=%.1f accepted=%d denied=%d replayed=%d "
      .. "unparsed=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d socket_errors=%d timeouts=%d batch=%d statuses=%s\n",
    totals.requests, totals.ok, totals.non200, summary.duration, totals.ok / seconds, totals.events, totals.events / seconds,
    totals.accepted, totals.denied, totals.replayed, totals.unparsed, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect + errors.read + errors.write, errors.timeout,
    tonumber(os.getenv("USAGE_BATCH") or "") or 1000,
    (#status_text > 0) and table.concat(status_text, ",") or "none"))
end

-- wrk script of the HTTP decision benchmark (Benchmarks/decisions-http.sh).
--
-- Every request is a GET of a path picked at random from a file, with the same bearer token, so that the
-- server answers a realistic mix of decisions instead of one cached path. The same script drives the
-- bare baseline (its file holds the one path `/v1/decisions`), so the client does the same work per
-- request against both servers.
--
-- Environment:
--   DECISIONS_URLS   a file with one request path per line
--   DECISIONS_TOKEN  the bearer token sent as `Authorization: Bearer …`
--
-- At the end it prints one machine-readable line, read by the shell script:
--   RESULT requests=… duration_us=… rps=… p50_us=… p99_us=… max_us=… non2xx=… socket_errors=…

local threadCount = 0

-- Runs in the main Lua state once per thread: gives each thread its own seed.
function setup(thread)
  threadCount = threadCount + 1
  thread:set("seed", threadCount)
end

local prepared = {}
local preparedCount = 0

-- Runs in each thread's own Lua state: formats every request once, so that a request costs a table
-- index, not a string build.
function init(args)
  local path = os.getenv("DECISIONS_URLS")
  local token = os.getenv("DECISIONS_TOKEN")
  assert(path and path ~= "", "DECISIONS_URLS must name a file of request paths")
  assert(token and token ~= "", "DECISIONS_TOKEN must hold the bearer token")
  local headers = { ["Authorization"] = "Bearer " .. token }
  for line in io.lines(path) do
    if line ~= "" then
      preparedCount = preparedCount + 1
      prepared[preparedCount] = wrk.format("GET", line, headers)
    end
  end
  assert(preparedCount > 0, "no request paths in " .. path)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  return prepared[math.random(preparedCount)]
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local result = dofile(here .. "lib/wrk-result.lua")

function done(summary, latency, requests)
  io.write(result.line(summary, latency))
end

-- The RESULT line the request-rate wrk scripts print at the end (decisions-http.lua, commands-http.lua),
-- read by the shell and Python drivers:
--   RESULT requests=… duration_us=… rps=… p50_us=… p99_us=… max_us=… non2xx=… socket_errors=…
-- Loaded with dofile from the script's own directory, so it works from any working directory.
local result = {}

function result.line(summary, latency)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  return string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / seconds, latency:percentile(50), latency:percentile(99),
    latency.max, errors.status, errors.connect + errors.read + errors.write + errors.timeout)
end

return result

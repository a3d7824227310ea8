-- Shared wrk hooks: optional pacing (CDP_BENCH_RATE requests/s over all connections) and a
-- JSON summary line on stdout that bench/collector.py parses.
local rate = tonumber(os.getenv("CDP_BENCH_RATE") or "0")
local conns = tonumber(os.getenv("CDP_BENCH_CONNS") or "32")
local latency_ms = tonumber(os.getenv("CDP_BENCH_LATENCY_MS") or "0")

if rate > 0 then
  -- each connection waits between its requests so that all together send `rate` per
  -- second; the expected response time is taken off the wait (wrk has no open-loop mode).
  -- The waits are drawn at random (exponentially, mean `interval`): with one fixed wait the
  -- connections stay in step and send in bursts of `conns` at once, which measures the
  -- bursts' queueing rather than the pace
  local interval = math.max(0, conns * 1000 / rate - latency_ms)
  math.randomseed(os.time())
  delay = function() return -math.log(1 - math.random()) * interval end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

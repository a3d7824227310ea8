-- 50 events per request to /v1/batch, Basic auth with the bench key.
dofile(os.getenv("CDP_BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. os.getenv("CDP_BENCH_AUTH")
local n = 0
request = function()
  local events = {}
  for i = 1, 50 do
    n = n + 1
    events[i] = '{"type":"page","anonymousId":"5d2f1c3e-0000-4000-8000-' .. string.format("%012d", n % 50000) ..
      '","name":"Pricing","properties":{"path":"/pricing"},"context":{"page":{"url":' ..
      '"https://www.example.com/pricing?utm_source=google&utm_medium=cpc&gclid=abc' .. i .. '"}}}'
  end
  return wrk.format(nil, nil, nil, '{"batch":[' .. table.concat(events, ",") .. ']}')
end

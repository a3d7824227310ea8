-- One track event per request (a realistic ~300-byte body), Basic auth with the bench key.
dofile(os.getenv("CDP_BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. os.getenv("CDP_BENCH_AUTH")
local n = 0
request = function()
  n = n + 1
  local body = '{"type":"track","event":"Video Progress","anonymousId":"5d2f1c3e-0000-4000-8000-' .. string.format("%012d", n % 50000) ..
    '","properties":{"percent":50,"title":"Product tour"},"context":{"page":{"url":' ..
    '"https://www.example.com/tour?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4"}}}'
  return wrk.format(nil, nil, nil, body)
end

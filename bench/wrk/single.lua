-- One track event per request, Basic auth with the bench write key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. (os.getenv("CDP_BENCH_AUTH") or "")
local n = 0
request = function()
  n = n + 1
  local body = '{"type":"track","event":"Video Progress","anonymousId":"bench-' .. (n % 50000) ..
    '","properties":{"percent":50,"title":"Product tour"},"context":{"page":{"url":"https://www.example.com/tour?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4"}}}'
  return wrk.format(nil, nil, nil, body)
end

-- Pixel GETs as an email client or an ad server would fetch them.
dofile(os.getenv("CDP_BENCH_DIR") .. "/report.lua")
local key = os.getenv("CDP_BENCH_KEY")
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/pixel/v1/track?writeKey=" .. key .. "&anonymousId=5d2f1c3e-0000-4000-8000-" .. string.format("%012d", n % 50000) ..
    "&event=Email%20Opened&properties.campaign=november-newsletter&context.campaign.source=newsletter")
end

-- GET /v1/personalize for known visitors, round robin over the anonymous ids in
-- CDP_BENCH_AIDS_FILE (one per line), with the write key and one slot.
dofile(os.getenv("CDP_BENCH_DIR") .. "/report.lua")
local aids = {}
for line in io.lines(os.getenv("CDP_BENCH_AIDS_FILE")) do aids[#aids + 1] = line end
local key, slot = os.getenv("CDP_BENCH_KEY"), os.getenv("CDP_BENCH_SLOT")
local n = 0
request = function()
  n = n + 1
  local path = "/v1/personalize?anonymousId=" .. aids[(n % #aids) + 1] .. "&writeKey=" .. key .. "&slot=" .. slot
  return wrk.format("GET", path)
end

-- The ceiling: the same POST to an ASGI app that answers 204 and does nothing.
dofile(os.getenv("CDP_BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"track","event":"Video Progress","anonymousId":"bench-1","properties":{"percent":50}}'

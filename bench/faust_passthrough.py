"""faust's own cost: the enricher's wiring (take_events, send, await acks) with no work.

Usage: CDP_BENCH_IN=... CDP_BENCH_OUT=... CDP_BENCH_GROUP=... python bench/faust_passthrough.py worker
"""

from __future__ import annotations

import asyncio
import os

import faust

app = faust.App(
    os.environ.get("CDP_BENCH_GROUP", "bench-faust-passthrough"),
    broker="kafka://127.0.0.1:9092",
    web_enabled=False,
    topic_disable_leader=True,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=1.0,
    producer_acks=-1,
    producer_linger_ms=5,
    producer_max_batch_size=256 * 1024,
    stream_buffer_maxsize=4096,
    consumer_max_fetch_size=4 * 1024 * 1024,
    key_serializer="raw",
    value_serializer="raw",
)
source = app.topic(os.environ.get("CDP_BENCH_IN", "cdp.bench.in"), key_type=bytes, value_type=bytes)
OUT = os.environ.get("CDP_BENCH_OUT", "cdp.bench.out")


@app.agent(source)
async def forward(stream):  # type: ignore[no-untyped-def]
    async for events in stream.take_events(2000, within=0.05):
        futures = [await app.producer.send(OUT, e.message.key, e.message.value, None, None, None) for e in events]
        await asyncio.gather(*futures)


if __name__ == "__main__":
    app.main()

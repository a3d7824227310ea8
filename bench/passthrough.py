"""Ceiling for stream processors: a raw aiokafka consume-and-produce loop doing no work.
Same delivery discipline as the services: take a batch, send it, await every ack, commit.

Usage: passthrough.py INPUT OUTPUT GROUP
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def run(src: str, dst: str, group: str, bootstrap: str = "127.0.0.1:9092") -> None:
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            futures = [await producer.send(dst, r.value, key=r.key) for records in batches.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    uvloop.run(run(*sys.argv[1:4]))

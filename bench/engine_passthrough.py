"""The engine's ceiling: a processor that emits every record unchanged, run by the stream
engine with the client in CDP_KAFKA_CLIENT. Usage: engine_passthrough.py INPUT OUTPUT GROUP"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from cdp_common import stream
from cdp_common.settings import CommonSettings
from cdp_common.stream import Emit, Output, Publish, Record


class Passthrough:
    stage = "enricher"
    rejected_topic = "cdp.hits.rejected"

    def __init__(self, out: str) -> None:
        self.out = out

    async def start(self, publish: Publish) -> None:
        pass

    async def process(self, batch: Sequence[Record]) -> Output:
        out = self.out
        return Output(emits=[Emit(out, r.key, r.value or b"") for r in batch])

    async def stop(self) -> None:
        pass


if __name__ == "__main__":
    src, dst, group = sys.argv[1:4]
    options = stream.StreamOptions(group_id=group, input_topic=src, batch_size=2000, batch_within_s=0.05)
    stream.run(Passthrough(dst), CommonSettings(), options, CollectorRegistry())

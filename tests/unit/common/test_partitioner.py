"""The cached partitioner places every key exactly where Kafka's default one does."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner

from cdp_common.partitioner import CachedDefaultPartitioner


def test_same_partition_as_the_default_for_many_keys_and_counts() -> None:
    ours, theirs = CachedDefaultPartitioner(), DefaultPartitioner()
    keys = [str(uuid.uuid4()).encode() for _ in range(2000)] + [b"", b"a", b"bench-1", "é".encode()]
    for n in (1, 3, 4, 12):
        parts = list(range(n))
        for key in keys + keys:  # second round is served from the cache
            assert ours(key, parts, parts) == theirs(key, parts, parts)


def test_no_key_picks_an_available_partition() -> None:
    assert CachedDefaultPartitioner()(None, [0, 1, 2], [2]) == 2

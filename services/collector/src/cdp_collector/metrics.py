"""The collector's Prometheus collectors, built from the shared metric names."""

from __future__ import annotations

from typing import cast

from prometheus_client import CollectorRegistry, Counter, Histogram

from cdp_common.metrics import M, build


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = cast(Counter, build(M.HTTP_REQUESTS, self.registry))
        self.accepted = cast(Counter, build(M.EVENTS_ACCEPTED, self.registry))
        self.rejected = cast(Counter, build(M.EVENTS_REJECTED, self.registry))
        self.produce_latency = cast(Histogram, build(M.PRODUCE_LATENCY, self.registry))
        self.produce_failures = cast(Counter, build(M.PRODUCE_FAILURES, self.registry))
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._accepted_children: dict[str, Counter] = {}
        self._rejected_children: dict[str, Counter] = {}

    # labelled children are cached: .labels() costs more than .inc() on the hot path
    def request(self, route: str, status: int) -> None:
        child = self._request_children.get((route, status))
        if child is None:
            child = self._request_children[(route, status)] = self.requests.labels(route, str(status))
        child.inc()

    def accept(self, event_type: str, n: int = 1) -> None:
        child = self._accepted_children.get(event_type)
        if child is None:
            child = self._accepted_children[event_type] = self.accepted.labels(event_type)
        child.inc(n)

    def reject(self, reason: str, n: int = 1) -> None:
        child = self._rejected_children.get(reason)
        if child is None:
            child = self._rejected_children[reason] = self.rejected.labels(reason)
        child.inc(n)

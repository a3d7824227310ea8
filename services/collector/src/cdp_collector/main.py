"""``cdp-collector``: serve the collector with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from cdp_collector.api import create_app
from cdp_collector.edge import Edge
from cdp_common.logs import configure_logging
from cdp_common.settings import CollectorSettings, CommonSettings


def app_factory() -> Edge:
    common = CommonSettings()
    configure_logging(env=common.env, level=common.log_level)
    return create_app(common, CollectorSettings())


def main() -> None:
    common = CommonSettings()
    settings = CollectorSettings()
    configure_logging(env=common.env, level=common.log_level)
    uvicorn.run(
        "cdp_collector.main:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop=common.kafka_access().event_loop(aiokafka=common.kafka_client == "aiokafka"),
        http="httptools",
        access_log=False,
        log_level=common.log_level.lower(),
        proxy_headers=False,  # X-Forwarded-For is handled by the edge, for trusted proxies only
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()

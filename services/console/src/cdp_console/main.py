"""``cdp-console``: the console API and pages on ``CDP_CONSOLE_HOST:CDP_CONSOLE_PORT``."""

from __future__ import annotations

import uvicorn

from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, ConsoleSettings
from cdp_console.app import create_app


def main() -> None:
    common = CommonSettings()
    settings = ConsoleSettings()
    configure_logging(env=common.env, level=common.log_level)
    # the console's Kafka client is aiokafka (the rejects view, erasures)
    loop = common.kafka_access().event_loop(aiokafka=True)
    uvicorn.run(create_app(common, settings), host=settings.host, port=settings.port, log_level="warning", loop=loop)


if __name__ == "__main__":
    main()

"""``cdp-enricher``: run one enricher worker (add more processes to scale out).

``CDP_ENRICHER_RUNNER`` picks the runner: ``faust`` (default) or ``aiokafka``."""

from __future__ import annotations

from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, EnricherSettings
from cdp_enricher.service import EnricherService


def main() -> None:
    common = CommonSettings()
    settings = EnricherSettings()
    configure_logging(env=common.env, level=common.log_level)
    service = EnricherService(common, settings)
    if settings.runner == "aiokafka":
        from cdp_enricher import runner_aiokafka

        runner_aiokafka.run(service)
    else:
        from cdp_enricher import runner_faust

        runner_faust.run(service)


if __name__ == "__main__":
    main()

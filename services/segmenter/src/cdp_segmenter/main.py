"""``cdp-segmenter``: run one segmenter worker (add more processes to scale out; they
share the work by Kafka partition and never corrupt a profile, see docs/segmenter.md).

``CDP_SEGMENTER_RUNNER`` picks the runner: ``faust`` (default) or ``aiokafka``."""

from __future__ import annotations

from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, SegmenterSettings
from cdp_segmenter.service import SegmenterService


def main() -> None:
    common = CommonSettings()
    settings = SegmenterSettings()
    configure_logging(env=common.env, level=common.log_level)
    service = SegmenterService(common, settings)
    if settings.runner == "aiokafka":
        from cdp_segmenter import runner_aiokafka

        runner_aiokafka.run(service)
    else:
        from cdp_segmenter import runner_faust

        runner_faust.run(service)


if __name__ == "__main__":
    main()

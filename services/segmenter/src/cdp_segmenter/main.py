"""``cdp-segmenter``: run one segmenter worker (add more processes to scale out; they
share the work by Kafka partition and never corrupt a profile, see docs/segmenter.md).
``CDP_SEGMENTER_RUNNER``: ``engine`` (default) or ``faust``."""

from __future__ import annotations

from cdp_common import stream
from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, SegmenterSettings
from cdp_segmenter.processor import SegmenterProcessor


def main() -> None:
    common = CommonSettings()
    settings = SegmenterSettings()
    configure_logging(env=common.env, level=common.log_level)
    processor = SegmenterProcessor(common, settings)
    options = stream.options_of(settings)
    stream.run(processor, common, options, processor.registry)


if __name__ == "__main__":
    main()

"""``cdp-enricher``: run one enricher worker (add more processes to scale out: they share
the input's partitions). ``CDP_ENRICHER_RUNNER``: ``engine`` (default) or ``faust``."""

from __future__ import annotations

from cdp_common import stream
from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, EnricherSettings
from cdp_enricher.processor import EnricherProcessor


def main() -> None:
    common = CommonSettings()
    settings = EnricherSettings()
    configure_logging(env=common.env, level=common.log_level)
    processor = EnricherProcessor(common, settings)
    options = stream.options_of(
        settings,
        read_committed=False,  # the collector does not write transactionally
    )
    stream.run(processor, common, options, processor.registry)


if __name__ == "__main__":
    main()

"""``cdp-syncer``: deliver qualified leads to the destinations in ``CDP_SYNC_DESTINATIONS``.
``CDP_SYNC_RUNNER``: ``engine`` (default) or ``faust``."""

from __future__ import annotations

from cdp_common import stream
from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, SyncerSettings
from cdp_syncer.processor import SyncerProcessor


def main() -> None:
    common = CommonSettings()
    settings = SyncerSettings()
    configure_logging(env=common.env, level=common.log_level)
    processor = SyncerProcessor(common, settings)
    options = stream.options_of(
        settings,
        # erasure requests, forwarded to every destination; segment changes, for audiences
        extra_topics=(settings.erasures_topic, settings.segments_topic),
    )
    stream.run(processor, common, options, processor.registry)


if __name__ == "__main__":
    main()

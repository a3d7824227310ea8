"""``cdp-syncer``: deliver qualified leads to the destinations in ``CDP_SYNC_DESTINATIONS``."""

from __future__ import annotations

from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, SyncerSettings
from cdp_syncer.runner import run
from cdp_syncer.service import SyncerService


def main() -> None:
    common = CommonSettings()
    settings = SyncerSettings()
    configure_logging(env=common.env, level=common.log_level)
    run(SyncerService(common, settings))


if __name__ == "__main__":
    main()

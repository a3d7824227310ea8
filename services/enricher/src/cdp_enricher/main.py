"""``cdp-enricher``: run one enricher worker (add more processes to scale out)."""

from __future__ import annotations

import faust

from cdp_common.logs import configure_logging
from cdp_common.settings import CommonSettings, EnricherSettings
from cdp_enricher.app import create_app


def main() -> None:
    common = CommonSettings()
    configure_logging(env=common.env, level=common.log_level)
    app = create_app(common, EnricherSettings())
    worker = faust.Worker(app, loglevel=common.log_level.lower(), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()

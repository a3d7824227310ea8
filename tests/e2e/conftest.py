"""Fixtures shared with the integration suites: infrastructure, a collector process with
its own source, topic tails, Postgres and the syncer's sandbox."""

from tests.integration.conftest import collector, collector_source, enriched  # noqa: F401
from tests.integration.segmenter.conftest import definitions, pg  # noqa: F401
from tests.integration.syncer.conftest import sandbox  # noqa: F401

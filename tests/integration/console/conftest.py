"""The segmenter's fixtures (private input topic, producer, Postgres, Redis, demo
definitions) and the tag tests' headless Chromium, for the console tests."""

from tests.integration.segmenter.conftest import definitions, input_topic, pg, producer, redis  # noqa: F401
from tests.integration.tag.conftest import browser  # noqa: F401

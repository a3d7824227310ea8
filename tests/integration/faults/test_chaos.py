"""`make chaos` in its short form: the whole platform on private infrastructure, each fault
once under steady traffic, every invariant checked exactly (see tests/chaos)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_the_fault_suite_holds_every_invariant() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.chaos", "--short"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1200,
    )
    print(done.stdout)  # the tables, in the test log
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
    assert "VIOLATED" not in done.stdout and "NOT RECOVERED" not in done.stdout
    assert done.stdout.count("| ok |") == 10, done.stdout

"""`make chaos` in its short form: the whole platform on private infrastructure, each fault
once under steady traffic, every invariant checked exactly (see tests/chaos)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


@pytest.mark.timeout(1500)  # the whole platform, ten faults: minutes, not the suite's 300 s
def test_the_fault_suite_holds_every_invariant() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.chaos", "--short"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the run tears its private platform down
        out, err = proc.communicate(timeout=120)
    print(out)  # the tables, in the test log
    assert proc.returncode == 0, out[-6000:] + err[-4000:]
    assert "VIOLATED" not in out and "NOT RECOVERED" not in out
    assert out.count("| ok |") == 10, out

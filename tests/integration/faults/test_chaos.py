"""`make chaos` in its short form: the whole platform on private infrastructure, each fault
once under steady traffic, every invariant checked exactly (see tests/chaos)."""

from __future__ import annotations

import pytest

from tests.chaos import run_short

pytestmark = pytest.mark.integration


@pytest.mark.timeout(1500)  # the whole platform, ten faults: minutes, not the suite's 300 s
def test_the_fault_suite_holds_every_invariant() -> None:
    code, out, err = run_short()
    assert code == 0, out[-6000:] + err[-4000:]
    assert "VIOLATED" not in out and "NOT RECOVERED" not in out
    assert out.count("| ok |") == 10, out

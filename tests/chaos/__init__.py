"""The fault suite (``python -m tests.chaos``) and a way for tests to run it."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def run_short(*extra: str, timeout_s: float = 1200) -> tuple[int, str, str]:
    """``python -m tests.chaos --short [extra]`` as a subprocess: (exit code, stdout, stderr).
    On a timeout it is sent SIGTERM, on which it tears its private platform down."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.chaos", "--short", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=120)
    print(out)  # the tables, in the test log
    return proc.returncode, out, err

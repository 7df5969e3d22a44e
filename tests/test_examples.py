"""The README's main example runs end to end on the real kernel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.kernel
def test_load_balancer_example_runs():
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "load_balancer.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "ok"
    assert any(line.startswith("bpfmaps batch file: processed 9 commands") for line in lines), (
        r.stdout
    )
    assert any("batch failed as expected: applied=1 index=1" in line for line in lines), r.stdout

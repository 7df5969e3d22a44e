"""The control-plane examples run end to end on the real kernel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.kernel
def test_xdp_drop_list_example():
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "xdp_drop_list.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert out[-1] == "ok"
    assert "192.0.2.66: PASS (empty drop list)" in out
    assert any(
        line.startswith("192.0.2.66: DROP after drop_list update (1000 drops") for line in out
    )
    assert "192.0.2.66: PASS after delete" in out

"""The API reference builds from the docstrings with no pdoc warning (.ci/api-docs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("pdoc", reason="pdoc is in the [dev] extra (CI installs it)")
    r = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "api-docs"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "bpfmaps" / "maps.html").exists()
    assert "update_many" in (tmp_path / "bpfmaps" / "maps.html").read_text()

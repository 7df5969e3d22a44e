"""Static types.

* ``mypy`` with the project's configuration (``[tool.mypy]`` in pyproject.toml: --strict
  on the typed API and on examples/) reports nothing;
* mypy reveals the types and reports the errors that tests/typing/map_types.py announces
  in its comments, and nothing else (a wrong key or value type is caught).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the [test] extra")

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "typing" / "map_types.py"


def _expected() -> tuple[dict[int, str], dict[int, set[str]]]:
    reveals: dict[int, str] = {}
    errors: dict[int, set[str]] = {}
    for n, line in enumerate(CASE.read_text().splitlines(), 1):
        m = re.search(r"#\s*R:\s*(.+?)\s*$", line)
        if m:
            reveals[n] = m.group(1)
        codes = set(re.findall(r"#\s*E:\s*([\w-]+)", line))
        if codes:
            errors[n] = codes
    return reveals, errors


def test_map_types_are_inferred_and_misuse_is_reported():
    out, err, _status = api.run(
        [
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--show-error-codes",
            "--no-error-summary",
            "--hide-error-context",
            str(CASE),
        ]
    )
    assert not err, err
    reveals, errors = _expected()
    got_reveals: dict[int, str] = {}
    got_errors: dict[int, set[str]] = {}
    for line in out.splitlines():
        m = re.match(r".*map_types\.py:(\d+): (\w+): (.*)$", line)
        if not m:
            continue
        n, kind, msg = int(m.group(1)), m.group(2), m.group(3)
        if kind == "note" and msg.startswith("Revealed type is"):
            got_reveals[n] = msg.split('"', 1)[1].rsplit('"', 1)[0]
        elif kind == "error":
            code = re.search(r"\[([\w-]+)\]$", msg)
            got_errors.setdefault(n, set()).add(code.group(1) if code else msg)
    problems = []
    for n, want in reveals.items():
        if got_reveals.get(n) != want:
            problems.append(f"line {n}: revealed {got_reveals.get(n)!r}, expected {want!r}")
    for n in sorted(set(errors) | set(got_errors)):
        if errors.get(n, set()) != got_errors.get(n, set()):
            problems.append(
                f"line {n}: errors {sorted(got_errors.get(n, set()))}, "
                f"expected {sorted(errors.get(n, set()))}"
            )
    assert not problems, "\n".join(problems) + "\n--- mypy output:\n" + out


def test_mypy_strict_passes_on_the_configured_files(monkeypatch):
    monkeypatch.chdir(ROOT)  # [tool.mypy] files are relative to the checkout
    out, err, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", "--cache-dir=/dev/null"]
    )
    assert status == 0, out + err

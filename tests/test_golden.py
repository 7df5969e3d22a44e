"""Golden outputs: every case in tests/golden/cases reproduces its recorded stdout,
stderr, exit status and final map contents byte for byte, on the fake and on the
kernel.

The cases and the placeholder rules (``{a}`` = id of map ``a``, ``{a.name}``,
``{fs}`` = a private bpffs, ``{dir}``) are described in tests/golden/record.py.

When an output changes ON PURPOSE, regenerate the expected files with ONE command
(as root, so the kernel side is recorded too) and review the diff::

    .venv/bin/python tests/golden/record.py            # all cases
    .venv/bin/python tests/golden/record.py NAME ...   # only these cases
    git diff tests/golden/expected

Per-CPU cases on a kernel whose possible CPU count differs from the recorded one
(``ncpus`` in the expected file) are compared with a fresh run on a fake with the
kernel's CPU count instead (the outputs are the same except for the number of
per-CPU values).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

_HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
_spec = importlib.util.spec_from_file_location("golden_record", os.path.join(_HERE, "record.py"))
assert _spec is not None and _spec.loader is not None
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

CASES = golden.case_names()


def test_every_case_has_an_expected_file():
    expected = {f[: -len(".json")] for f in os.listdir(golden.EXPECTED) if f.endswith(".json")}
    assert expected == set(CASES), "run tests/golden/record.py (see this module's docstring)"
    assert len(CASES) >= 60


def _diff(got: dict, exp: dict) -> str:
    lines = []
    for k in ("status", "stdout", "stderr", "maps"):
        if got.get(k) != exp.get(k):
            lines.append(f"{k}:\n  expected {exp.get(k)!r}\n  got      {got.get(k)!r}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", CASES)
def test_golden_fake(name):
    exp = golden.expected_for(golden.load_expected(name), "fake")
    got = golden.run_case(golden.Case(name), "fake")
    assert got == exp, f"{name} (fake) differs; see tests/test_golden.py to regenerate\n" + _diff(
        got, exp
    )


@pytest.mark.kernel
@pytest.mark.parametrize("name", CASES)
def test_golden_kernel(name, kernel_backend):
    case = golden.Case(name)
    recorded = golden.load_expected(name)
    ncpus = kernel_backend.possible_cpus()
    if case.percpu and ncpus != recorded["ncpus"]:
        exp = golden.run_case(case, "fake", ncpus=ncpus)
    else:
        exp = golden.expected_for(recorded, "kernel")
    got = golden.run_case(case, "kernel")
    assert got == exp, f"{name} (kernel) differs; see tests/test_golden.py to regenerate\n" + _diff(
        got, exp
    )

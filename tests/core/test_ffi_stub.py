"""bpfmaps/_ffi.pyi (the type stub of the compiled module) is generated from the C
headers by ``python build_ffi.py --stub``: it must match them, so a changed prototype
cannot leave mypy/pyright checking calls against a stale signature."""

from __future__ import annotations

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _builder():
    spec = importlib.util.spec_from_file_location("build_ffi", os.path.join(ROOT, "build_ffi.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stub_is_generated_from_the_headers():
    with open(os.path.join(ROOT, "bpfmaps", "_ffi.pyi")) as f:
        current = f.read()
    assert current == _builder().stub_text(), "run: python build_ffi.py --stub"


def test_stub_declares_every_function_of_the_compiled_module():
    from bpfmaps._ffi import lib

    text = _builder().stub_text()
    declared = {
        line.split("(")[0].split()[-1] for line in text.splitlines() if " def bpfm_" in line
    }
    compiled = {n for n in dir(lib) if n.startswith("bpfm_")}
    assert declared == compiled

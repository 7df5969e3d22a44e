"""The pure-Python parts import where the compiled extension is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import bpfmaps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bpfmaps.__file__)))


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
    )


def test_import_without_compiled_extension():
    r = _run(
        """
        import importlib, importlib.util, sys
        sys.modules["bpfmaps._ffi"] = None  # "import bpfmaps._ffi" now raises ImportError
        mods = ["bpfmaps", "bpfmaps.codecs", "bpfmaps.errors", "bpfmaps.types",
                "bpfmaps.backend", "bpfmaps.maps"]
        for opt in ("bpfmaps.testing", "bpfmaps.bpftool"):
            if importlib.util.find_spec(opt) is not None:
                mods.append(opt)
        for m in mods:
            importlib.import_module(m)
        import bpfmaps
        from bpfmaps import Map, codecs, CodecError
        assert codecs.U32.decode(codecs.U32.encode(7)) == 7
        try:
            codecs.Raw(4).encode(b"x")
        except CodecError:
            pass
        else:
            raise SystemExit("no CodecError")
        # the kernel backend is what needs the extension, and says so
        try:
            bpfmaps.kernel_backend()
        except ImportError:
            pass
        else:
            raise SystemExit("kernel backend imported without the extension")
        assert "bpfmaps.kernel" not in sys.modules or sys.modules["bpfmaps.kernel"] is None
        print("OK", " ".join(mods))
        """
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK")
    for m in ("bpfmaps.codecs", "bpfmaps.errors", "bpfmaps.types"):
        assert m in r.stdout


def test_import_bpfmaps_does_not_load_the_extension():
    r = _run(
        """
        import sys, bpfmaps, bpfmaps.codecs, bpfmaps.errors, bpfmaps.types
        print("bpfmaps._ffi" in sys.modules)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"

"""The lower layers import cheaply (issue 11: ``bpfmaps batch file`` of a small file must
start within 1.5x a bare ``python -c pass``, which leaves about 5 ms for everything).

A fresh interpreter imports ``bpfmaps``, ``bpfmaps.kernel``, ``bpfmaps.loops`` and
``bpfmaps.engine`` (and, on the kernel, opens a map and applies a batch through them):
none of the FORBIDDEN standard modules may get loaded (each costs 1-10 ms, ``typing``
alone about 10 ms with the ``re`` and ``collections`` it pulls in), the other standard
modules it loads must be in STDLIB_ALLOWED, and the bpfmaps modules in BPFMAPS_ALLOWED.
A module that is really needed is added to a list here, with its reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import bpfmaps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bpfmaps.__file__)))

#: standard modules the lower layers must not load at import (defer them to the
#: function that needs them: threading only for a parallel apply, enum only when a
#: user reads a MapType, ...)
FORBIDDEN = frozenset(
    {
        "typing",
        "re",
        "enum",
        "collections",
        "functools",
        "contextlib",
        "dataclasses",
        "threading",
        "warnings",
        "importlib",
        "importlib.util",
        "inspect",
        "operator",
        "mmap",
        "signal",
        "ast",
        "tokenize",
        "linecache",
        "weakref",
        "struct",  # an extension module (~0.4 ms): the op records are types.OP's, on builtins
    }
)
#: the only other standard modules they may load, beyond what ``python -c pass`` has
STDLIB_ALLOWED = {
    "__future__": "every module's `from __future__ import annotations` imports it",
    "errno": "built in: errno names",
    "_cffi_backend": "the compiled extension's runtime",
    "_collections": "built in: _tuplegetter for the records (bpfmaps._record)",
}
#: the bpfmaps modules that importing the four loads (and nothing else of bpfmaps)
BPFMAPS_ALLOWED = {
    "bpfmaps",
    "bpfmaps._record",
    "bpfmaps._errbase",
    "bpfmaps.errors",
    "bpfmaps.types",
    "bpfmaps._ffi",
    "bpfmaps._ffi.lib",
    "bpfmaps._cbuf",
    "bpfmaps._loopbase",
    "bpfmaps._kloops",
    "bpfmaps.kernel",
    "bpfmaps.loops",
    "bpfmaps.chunks",
    "bpfmaps._cpus",
    "bpfmaps.parallel",
    "bpfmaps.engine",
}

_IMPORTS = "import bpfmaps, bpfmaps.kernel, bpfmaps.loops, bpfmaps.engine\n"

#: on the kernel: what the batch-file executor does with the lower layers (open two
#: maps, read their info, one packed UPDATE_BATCH through the engine, an op stream
#: through the C loops, stop flag on and off)
_APPLY = """
from bpfmaps.backend import default_backend
from bpfmaps.engine import FdTarget, update_packed
from bpfmaps.kernel import stop_install, stop_set, stop_uninstall
from bpfmaps.loops import OP_SIZE, OP_UPDATE, of
be = default_backend()
fd = be.map_create(1, 8, 32, 64, 0, b"import_cost")
assert fd >= 0, fd
try:
    rc, info = be.map_info(fd)
    assert rc == 0 and info.raw_type == 1 and not info.is_percpu, (rc, info)
    t = FdTarget(be, fd, info, 32)
    keys = b"".join(i.to_bytes(8, "little") for i in range(16))
    res = update_packed(t, keys, bytes(32 * 16))
    assert res.applied == 16, res
    op = (OP_UPDATE).to_bytes(4, "little") + bytes(4 * 5) + bytes(8)
    rc, n = of(be).exec_ops(op, 1, [fd], [8], [32], bytes(8), bytes(32))
    assert (rc, n) == (0, 1), (rc, n)
    assert stop_install(2) == 0
    stop_set(0)
    assert stop_uninstall(2) == 0
    assert len(op) == OP_SIZE
finally:
    be.close(fd)
"""


def _child(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run in a fresh interpreter with this tree on the path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
    )


def _loaded(code: str) -> tuple[list[str], list[str]]:
    """(standard modules, bpfmaps modules) that ``code`` loads in a fresh interpreter,
    beyond those loaded before it ran."""
    script = (
        "import sys\n_before = set(sys.modules)\n"
        + code
        + "\nprint(' '.join(sorted(set(sys.modules) - _before)))\n"
    )
    r = _child(script)
    assert r.returncode == 0, r.stdout + r.stderr
    new = r.stdout.strip().splitlines()[-1].split()
    ours = [m for m in new if m == "bpfmaps" or m.startswith("bpfmaps.")]
    return [m for m in new if m not in ours], ours


def _check(std: list[str], ours: list[str]) -> None:
    bad = sorted(set(std) & FORBIDDEN)
    assert not bad, f"the lower layers load {bad} (defer each to the function needing it)"
    extra = sorted(set(std) - set(STDLIB_ALLOWED))
    assert not extra, f"new standard modules loaded (list them with a reason): {extra}"
    more = sorted(set(ours) - BPFMAPS_ALLOWED)
    assert not more, f"more bpfmaps modules loaded than listed: {more}"


def _runs_ok(code: str) -> None:
    """``code`` runs in a fresh interpreter and prints OK."""
    r = _child(code)
    assert r.returncode == 0 and r.stdout.strip() == "OK", r.stdout + r.stderr


def test_lower_layers_import_no_heavy_module():
    std, ours = _loaded(_IMPORTS)
    _check(std, ours)
    # and each of the four is really there
    assert {"bpfmaps.kernel", "bpfmaps.loops", "bpfmaps.engine"} <= set(ours)


def test_lists_are_exact():
    """Every listed module is still loaded (the lists shrink as the layers get cheaper)."""
    std, ours = _loaded(_IMPORTS)
    assert set(ours) == BPFMAPS_ALLOWED
    assert set(std) == set(STDLIB_ALLOWED)


@pytest.mark.kernel
def test_lower_layers_apply_a_batch_without_heavy_modules(kernel_backend):
    """Opening maps, reading their info and applying through the engine and the C loops
    (what ``batch file`` does) builds no enum and loads nothing more."""
    std, ours = _loaded(_IMPORTS + textwrap.dedent(_APPLY))
    ours = [m for m in ours if m != "bpfmaps.backend"]  # default_backend(), imported here
    _check(std, ours)


#: on the kernel: a run long enough for the in-kernel program, applied in one part (the
#: serial apply: what ``batch file`` does when no second CPU is free)
_PROG_ONE_PART = """
import sys
from bpfmaps._kloops import PROG_MIN_ANY, KernelLoops
from bpfmaps.backend import default_backend
be = default_backend()
n = PROG_MIN_ANY
fd = be.map_create(1, 8, 8, n, 0, b"import_cost")
assert fd >= 0, fd
try:
    rc, info = be.map_info(fd)
    assert rc == 0, rc
    keys = b"".join(i.to_bytes(8, "little") for i in range(n))
    out = KernelLoops().update_prog(fd, info, keys, keys, 8, [(0, n)], 0)
    assert out == [(0, n)], out
finally:
    be.close(fd)
"""


@pytest.mark.kernel
def test_program_apply_in_one_part_loads_no_threading(kernel_backend):
    """The in-kernel program's serial apply (one part) runs in this thread: it loads
    neither threading nor what threading pulls in (collections, functools: ~2 ms of a
    200k-line batch file's run)."""
    std, ours = _loaded(textwrap.dedent(_PROG_ONE_PART))
    assert "bpfmaps._kprog" in ours  # the program really ran the part
    bad = sorted(set(std) & {"threading", "collections", "functools", "operator"})
    assert not bad, f"a one-part program apply loads {bad}"


def test_public_names_still_whole():
    """The enums, sets and protocols users rely on are there, built on first use."""
    code = textwrap.dedent(
        """
        import enum, sys, typing
        import bpfmaps.types as t, bpfmaps.backend as b
        assert issubclass(t.MapType, enum.IntEnum) and t.MapType.HASH == 1
        assert t.MapType.parse("lru_hash") is t.MapType.LRU_HASH
        assert t.MapType.PERCPU_HASH.bpftool_name == "percpu_hash"
        assert issubclass(t.MapFlags, enum.IntFlag) and issubclass(t.UpdateFlags, enum.IntFlag)
        assert repr(t.OpenFlags.RDONLY) == "<OpenFlags.RDONLY: 8>"
        assert t.MapType.__module__ == "bpfmaps.types" and t.MapType.__qualname__ == "MapType"
        assert t.MAP_TYPE.HASH == t.MapType.HASH and type(t.MAP_TYPE.HASH) is int
        assert t.PERCPU_TYPES == t.PERCPU_INTS and all(
            isinstance(x, t.MapType) for x in t.PERCPU_TYPES
        )
        info = t.MapInfo.make(5, id=1, key_size=4, value_size=8, max_entries=2)
        assert info.type is t.MapType.PERCPU_HASH and info.is_percpu and info.raw_type == 5
        assert "type=<MapType.PERCPU_HASH: 5>" in repr(info)
        assert t.MapInfo.make(999, id=1, key_size=4, value_size=8, max_entries=2).type == 999
        assert info._replace(name="x").name == "x" and info._fields[1] == "type"
        import pickle
        assert pickle.loads(pickle.dumps(info)) == info
        assert pickle.loads(pickle.dumps(t.MapType.HASH)) is t.MapType.HASH
        assert isinstance(b.Backend, type) and isinstance(b.RingReader, type)
        from bpfmaps.testing import FakeKernel
        assert isinstance(FakeKernel(), b.Backend)
        from bpfmaps import Map, MapType, Backend
        assert MapType is t.MapType and Backend is b.Backend
        print("OK")
        """
    )
    _runs_ok(code)


def test_runner_default_backend_without_backend_module():
    """The bpftool runner's default backend (``RunState(backend=None)``) is the
    process-wide kernel backend, taken from bpfmaps.kernel while nothing has imported
    bpfmaps.backend (start-up); once it is imported, the default is its
    ``default_backend()``: the same kernel backend, or the fake kernel made the default
    by ``use_backend`` / ``fake_kernel``."""
    code = textwrap.dedent(
        """
        import sys
        from bpfmaps.bpftool.state import RunState
        import bpfmaps.kernel as k
        r = RunState()
        assert "bpfmaps.backend" not in sys.modules, "state loaded bpfmaps.backend"
        assert type(r.backend) is k.KernelBackend and r.backend is k.shared()
        assert RunState().backend is r.backend
        import bpfmaps.backend as b
        assert b.kernel_backend() is r.backend and b.default_backend() is r.backend
        from bpfmaps.testing import FakeKernel, fake_kernel
        with fake_kernel() as fk:
            assert RunState().backend is fk
        fk2 = FakeKernel()
        with b.use_backend(fk2):
            assert RunState().backend is fk2
            assert RunState(k.shared()).backend is r.backend
        assert RunState().backend is r.backend
        print("OK")
        """
    )
    _runs_ok(code)

"""The in-kernel exec program in the batch-file runner (``BlockExecutor._exec_prog``):
a block whose exec loop gets at least ``EXEC_MIN`` update/delete ops builds ONE program,
every update/delete op of the mixed benchmark shape goes through it, and the reports
(stdout, stderr, exit status) and map contents are those without it; a short file
does not build it; no fd is left open after a run, a failure or an interrupt."""

from __future__ import annotations

import errno
import importlib.util
import io
import os
import re

import pytest

from bpfmaps import _kexec, _kloops
from bpfmaps._ffi import lib
from bpfmaps.kernel import KernelBackend, stop_set

pytestmark = pytest.mark.kernel

KB = KernelBackend()
_ZERO_SEED = 1 << 6


def _bench():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "bench_batch_file.py")
    spec = importlib.util.spec_from_file_location("bench_batch_file", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Spy:
    """The programs :func:`bpfmaps._kexec.open_for` built."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.progs: list[_kexec.ExecProg] = []
        real = _kexec.open_for

        def open_for(*a, **kw):
            p = real(*a, **kw)
            if p is not None:
                self.progs.append(p)
            return p

        mp.setattr(_kexec, "open_for", open_for)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _dump(fd: int) -> dict:
    kbuf, vbuf = KB.alloc(8), KB.alloc(32)
    key, out = KB.NULL, {}
    while KB.map_get_next_key(fd, key, kbuf) == 0:
        key = KB.tobytes(kbuf, 8)
        assert KB.map_lookup_elem(fd, key, vbuf, 0) == 0
        out[key] = KB.tobytes(vbuf, 32)
    return out


def _run(tmp_path, text_of, n_maps=2, max_entries=1 << 16):
    """(rc, stdout, stderr, contents) of a batch file ``text_of(*map ids)``."""
    from bpfmaps.bpftool.runner import Runner

    # BPF_F_ZERO_SEED: the same hash order in both runs (getnext prints the next key)
    fds = [KB.map_create(1, 8, 32, max_entries, _ZERO_SEED, b"pexec_t") for _ in range(n_maps)]
    assert min(fds) >= 0
    try:
        mids = [KB.map_info(fd)[1].id for fd in fds]
        path = tmp_path / "f.txt"
        path.write_text(text_of(*mids))
        out, err = io.StringIO(), io.StringIO()
        rc = Runner(stdout=out, stderr=err).run_file(str(path))
        e = err.getvalue().replace(str(tmp_path), "DIR")
        for i, mid in enumerate(mids):
            e = re.sub(rf"\b{mid}\b", f"M{i}", e)
        o = out.getvalue()
        for i, mid in enumerate(mids):
            o = re.sub(rf"\b{mid}\b", f"M{i}", o)
        return rc, o, e, [_dump(fd) for fd in fds]
    finally:
        for fd in fds:
            KB.close(fd)


def _both(tmp_path, monkeypatch, text_of, **kw):
    """The run with the program (and its spy) and the run without it."""
    spy = _Spy(monkeypatch)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    got = _run(tmp_path / "a", text_of, **kw)
    monkeypatch.setattr(_kloops, "EXEC_MIN", 1 << 40)
    want = _run(tmp_path / "b", text_of, **kw)
    return got, want, spy


def test_mixed_shape_goes_through_the_program(tmp_path, monkeypatch):
    bench = _bench()
    n = 20000
    got, want, spy = _both(tmp_path, monkeypatch, lambda a, b: bench.make_file("mixed", n, a, b))
    assert got == want and got[0] == 0
    assert len(spy.progs) == 1
    p = spy.progs[0]
    getnexts = n // 100
    assert p.applied == n - getnexts  # every update/delete line, none by syscall
    assert p.runs == getnexts + 1 - (n % 100 == 0)  # one run a segment between getnexts
    assert not p.broken
    assert lib.bpfm_pexec_current() == _kexec.ffi.NULL


def test_a_failure_late_in_the_file_has_the_same_report(tmp_path, monkeypatch):
    bench = _bench()
    n = 12000

    def text(a, b):
        lines = bench.make_file("mixed", n, a, b).splitlines(keepends=True)
        # line 9004 (a noexist update of key 4503 into map a, never deleted) again as
        # line 9999:
        lines.insert(9998, lines[9003])
        return "".join(lines)

    got, want, spy = _both(tmp_path, monkeypatch, text)
    assert got == want
    assert got[0] != 0 and ":9999:" in got[2] and "File exists" in got[2]
    assert len(spy.progs) == 1 and spy.progs[0].applied > 9000


def test_a_full_map_fails_at_the_same_line(tmp_path, monkeypatch):
    bench = _bench()
    got, want, spy = _both(
        tmp_path, monkeypatch, lambda a, b: bench.make_file("mixed", 10000, a, b), max_entries=300
    )
    assert got == want and got[0] != 0 and "Argument list too long" in got[2]
    assert len(spy.progs) == 1


def test_a_short_file_does_not_build_it(tmp_path, monkeypatch):
    bench = _bench()
    spy = _Spy(monkeypatch)
    rc = _run(tmp_path, lambda a, b: bench.make_file("user", 0, a, b))[0]
    assert rc == 0 and spy.progs == []
    rc = _run(tmp_path, lambda a, b: bench.make_file("mixed", 3000, a, b))[0]
    assert rc == 0 and spy.progs == []


def test_no_fd_left_after_success_failure_or_interrupt(tmp_path, monkeypatch):
    bench = _bench()
    text = lambda a, b: bench.make_file("mixed", 10000, a, b)  # noqa: E731
    _run(tmp_path, text)  # (the runner's own one-time fds)
    before = _fds()
    _run(tmp_path, text)
    assert _fds() == before
    _run(tmp_path, text, max_entries=300)
    assert _fds() == before
    spy = _Spy(monkeypatch)
    real_run = lib.bpfm_exec_print

    class _Lib:
        def __getattr__(self, name):
            return getattr(lib, name)

        def bpfm_exec_print(self, *a):
            raise KeyboardInterrupt  # as a signal handler's exception would, mid-block

    from bpfmaps.bpftool import scan

    monkeypatch.setattr(scan.Printer, "lib", _Lib(), raising=False)
    orig_init = scan.Printer.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.lib = _Lib()

    monkeypatch.setattr(scan.Printer, "__init__", init)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, text)
    assert len(spy.progs) == 1 and spy.progs[0]._p.prog_fd == -1  # closed
    assert _fds() == before
    assert lib.bpfm_pexec_current() == _kexec.ffi.NULL
    assert real_run is lib.bpfm_exec_print


def test_a_stop_signal_stops_before_the_next_run(tmp_path):
    from bpfmaps._kloops import KernelLoops

    fd = KB.map_create(1, 8, 32, 64, 0, b"pexec_t")
    try:
        info = KB.map_info(fd)[1]
        import struct

        rec = struct.Struct("=IIIIIIQ")
        ops = b"".join(rec.pack(1, 0, 0, i + 1, 8 * i, 32 * i, 0) for i in range(10))
        keys = b"".join(i.to_bytes(8, "little") for i in range(10))
        values = bytes(320)
        with _kexec.open_for([fd], [info]) as p:
            stop_set(2)  # as if SIGINT had been caught
            try:
                rc = KernelLoops().exec_ops(ops, 10, [fd], [8], [32], keys, values)
            finally:
                stop_set(0)
            assert rc == (-errno.EINTR, 0) and p.runs == 0
            assert KernelLoops().exec_ops(ops, 10, [fd], [8], [32], keys, values) == (0, 10)
            assert p.runs == 1
        assert len(_dump(fd)) == 10
    finally:
        KB.close(fd)


def test_updates_between_lookups_do_not_build_it(tmp_path, monkeypatch):
    """The lookup shape: every update alone between two lookups (each would be a
    one-op segment, which keeps its syscall), so the program is not worth building."""
    bench = _bench()
    spy = _Spy(monkeypatch)
    rc = _run(tmp_path, lambda a, b: bench.make_file("lookup", 10000, a, b))[0]
    assert rc == 0 and spy.progs == []


def test_a_block_of_runs_is_not_counted(tmp_path, monkeypatch):
    """A block whose ops are all in runs (the batch engine's) leaves the exec loop
    nothing: the ops are not even counted (a pass over 200k records, ~1 ms), and a
    block with enough ops outside runs still is."""
    counted: list[int] = []
    real = _kexec.count_ops
    monkeypatch.setattr(_kexec, "count_ops", lambda ops, n: counted.append(n) or real(ops, n))
    monkeypatch.setattr(_kloops, "EXEC_MIN", 64)
    bench = _bench()
    rc = _run(tmp_path, lambda a, b: bench.make_file("increasing", 20000, a, b))[0]
    assert rc == 0 and counted == []
    (tmp_path / "m").mkdir()
    rc = _run(tmp_path / "m", lambda a, b: bench.make_file("mixed", 3000, a, b))[0]
    assert rc == 0 and counted  # the mixed shape's segments reach the exec loop

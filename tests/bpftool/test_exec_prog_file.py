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
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _dump(fd: int, value_size: int = 32) -> dict:
    kbuf, vbuf = KB.alloc(8), KB.alloc(value_size)
    key, out = KB.NULL, {}
    while KB.map_get_next_key(fd, key, kbuf) == 0:
        key = KB.tobytes(kbuf, 8)
        assert KB.map_lookup_elem(fd, key, vbuf, 0) == 0
        out[key] = KB.tobytes(vbuf, value_size)
    return out


def _run(tmp_path, text_of, n_maps=2, max_entries=1 << 16, value_size=32, json=False, pretty=False):
    """(rc, stdout, stderr, contents) of a batch file ``text_of(*map ids)`` on hash
    maps of 8-byte keys and ``value_size``-byte values (``json``: ``-j``)."""
    from bpfmaps.bpftool.runner import Runner

    # BPF_F_ZERO_SEED: the same hash order in both runs (getnext prints the next key)
    fds = [
        KB.map_create(1, 8, value_size, max_entries, _ZERO_SEED, b"pexec_t") for _ in range(n_maps)
    ]
    assert min(fds) >= 0
    try:
        mids = [KB.map_info(fd)[1].id for fd in fds]
        path = tmp_path / "f.txt"
        path.write_text(text_of(*mids))
        out, err = io.StringIO(), io.StringIO()
        rc = Runner(stdout=out, stderr=err, json=json, pretty=pretty).run_file(str(path))
        e = err.getvalue().replace(str(tmp_path), "DIR")
        for i, mid in enumerate(mids):
            e = re.sub(rf"\b{mid}\b", f"M{i}", e)
        o = out.getvalue()
        for i, mid in enumerate(mids):
            o = re.sub(rf"\b{mid}\b", f"M{i}", o)
        return rc, o, e, [_dump(fd, value_size) for fd in fds]
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

    from bpfmaps.bpftool import cprint

    monkeypatch.setattr(cprint.Printer, "lib", _Lib(), raising=False)
    orig_init = cprint.Printer.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.lib = _Lib()

    monkeypatch.setattr(cprint.Printer, "__init__", init)
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


def test_the_lookup_shape_goes_through_the_program(tmp_path, monkeypatch):
    """The lookup shape (an update, a lookup of its key, ...): every line through ONE
    program, the lookups' entries printed from the values it copied, byte for byte the
    output of the syscall path."""
    bench = _bench()
    n = 20000
    got, want, spy = _both(tmp_path, monkeypatch, lambda a, b: bench.make_file("lookup", n, a, b))
    assert got == want and got[0] == 0
    assert got[1].count("value:") == n // 2
    assert len(spy.progs) == 1
    p = spy.progs[0]
    assert (p.applied, p.looked) == (n, n // 2)  # every line, none by syscall
    assert p.runs <= n // 1024 and not p.broken


def _lookups(mid, mid2, n, value_size=32, miss_at=None):
    """n pairs "update key i; lookup key i" on map mid, a lookup of a key never written
    at pair ``miss_at``, a getnext of mid's first key every 500 pairs (a query the
    program does not take: it ends a segment)."""
    out = []
    vwords = " ".join(str((7 * j) & 0xFF) for j in range(value_size))
    for i in range(n):
        k = " ".join(str(b) for b in i.to_bytes(8, "little"))
        out.append(f"map update id {mid} key {k} value {vwords}\n")
        miss = " ".join(str(b) for b in (i + 10**9).to_bytes(8, "little"))
        out.append(f"map lookup id {mid} key {miss if i == miss_at else k}\n")
        if i % 500 == 499:
            out.append(f"map getnext id {mid}\n")
    return "".join(out)


def test_a_lookup_that_finds_nothing_has_the_same_report(tmp_path, monkeypatch):
    got, want, spy = _both(
        tmp_path, monkeypatch, lambda a, b: _lookups(a, b, 6000, miss_at=5000), n_maps=2
    )
    assert got == want and got[0] != 0
    assert "No such file or directory" in got[2]
    assert got[1].count("value:") == 5000  # the ones before it
    assert len(spy.progs) == 1 and spy.progs[0].looked == 5000


def test_big_values_fill_the_output_buffer_between_runs(tmp_path, monkeypatch):
    """256-byte values (the largest a program looks up): ~930 printed entries fill the
    printer's 1 MiB buffer, so segments end there and the output is the same."""
    got, want, spy = _both(
        tmp_path, monkeypatch, lambda a, b: _lookups(a, b, 6000, 256), n_maps=2, value_size=256
    )
    assert got == want and got[0] == 0
    assert len(spy.progs) == 1 and spy.progs[0].looked == 6000
    assert spy.progs[0].runs > 6000 * 1100 // (1 << 20)


def test_larger_values_keep_the_lookups_syscall(tmp_path, monkeypatch):
    """Values over LOOKUP_MAX are not copied by a program, and their updates, alone
    between two lookups, do not pay for one."""
    got, want, spy = _both(
        tmp_path, monkeypatch, lambda a, b: _lookups(a, b, 6000, 264), n_maps=2, value_size=264
    )
    assert got == want and got[0] == 0
    assert len(spy.progs) == 0  # single updates between syscall lookups: not worth it


@pytest.mark.parametrize("pretty", [False, True])
def test_json_lookups_go_through_the_program(tmp_path, monkeypatch, pretty):
    """-j and -jp: the lookups run in the program too (their values copied; the JSON
    writer formats the items, in C when compact), with the syscall path's output."""
    got, want, spy = _both(
        tmp_path,
        monkeypatch,
        lambda a, b: _lookups(a, b, 6000, miss_at=5500),
        n_maps=2,
        json=True,
        pretty=pretty,
    )
    assert got == want and got[0] == 254  # (-ENOENT: as bpftool -j, the item's output null)
    assert got[1].count('"value":' if not pretty else '"value": [') == 5500
    assert len(spy.progs) == 1 and spy.progs[0].looked == 5500


def test_a_block_of_runs_is_not_counted(tmp_path, monkeypatch):
    """A block whose ops are all in runs (the batch engine's) leaves the exec loop
    nothing: the ops are not even counted (a pass over 200k records, ~1 ms), and a
    block with enough ops outside runs still is."""
    counted: list[int] = []
    real = _kexec.count_ops
    monkeypatch.setattr(
        _kexec, "count_ops", lambda ops, n, look=None: counted.append(n) or real(ops, n, look)
    )
    monkeypatch.setattr(_kloops, "EXEC_MIN", 64)
    bench = _bench()
    rc = _run(tmp_path, lambda a, b: bench.make_file("increasing", 20000, a, b))[0]
    assert rc == 0 and counted == []
    (tmp_path / "m").mkdir()
    rc = _run(tmp_path / "m", lambda a, b: bench.make_file("mixed", 3000, a, b))[0]
    assert rc == 0 and counted  # the mixed shape's segments reach the exec loop


# --------------------------------------------------------------- hypothesis: any file
_HASH_VS, _ARR_VS = 12, 40


def _hex(n: int, size: int) -> str:
    return " ".join(f"{b:02x}" for b in n.to_bytes(size, "little"))


_line = st.one_of(
    st.tuples(st.just("hupd"), st.integers(0, 15), st.integers(0, 255), st.sampled_from(["", " noexist", " exist"])),
    st.tuples(st.just("hdel"), st.integers(0, 15)),
    st.tuples(st.just("hlook"), st.integers(0, 17)),
    st.tuples(st.just("aupd"), st.integers(0, 66), st.integers(0, 255)),
    st.tuples(st.just("alook"), st.integers(0, 66)),
    st.tuples(st.just("anext"), st.integers(0, 63)),
)  # fmt: skip


def _text(lines, h: int, a: int) -> str:
    out = []
    for ln in lines:
        kind = ln[0]
        if kind == "hupd":
            out.append(
                f"map update id {h} key hex {_hex(ln[1], 8)} value hex {_hex(ln[2] * 7, _HASH_VS)}{ln[3]}"
            )
        elif kind == "hdel":
            out.append(f"map delete id {h} key hex {_hex(ln[1], 8)}")
        elif kind == "hlook":
            out.append(f"map lookup id {h} key hex {_hex(ln[1], 8)}")
        elif kind == "aupd":
            out.append(
                f"map update id {a} key hex {_hex(ln[1], 4)} value hex {_hex(ln[2] * 3, _ARR_VS)}"
            )
        elif kind == "alook":
            out.append(f"map lookup id {a} key hex {_hex(ln[1], 4)}")
        else:
            out.append(f"map getnext id {a} key hex {_hex(ln[1], 4)}")
    return "\n".join(out) + "\n"


def _run_pair(text_of, exec_min: int, fast=True, **opts):
    """(rc, stdout, stderr, contents) on a fresh hash map and array, EXEC_MIN set
    (``fast=False``: the reference parser and executor; ``opts``: json, pretty)."""
    from bpfmaps.bpftool.runner import Runner

    h = KB.map_create(1, 8, _HASH_VS, 16, _ZERO_SEED, b"pexec_h")
    a = KB.map_create(2, 4, _ARR_VS, 64, 0, b"pexec_a")
    assert h >= 0 and a >= 0
    import tempfile

    try:
        ids = [KB.map_info(fd)[1].id for fd in (h, a)]
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(text_of(*ids))
            f.flush()
            out, err = io.StringIO(), io.StringIO()
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(_kloops, "EXEC_MIN", exec_min)
                rc = Runner(stdout=out, stderr=err, fast=fast, **opts).run_file(f.name)
        o, e = out.getvalue(), err.getvalue()
        for i, mid in enumerate(ids):
            o = re.sub(rf"\b{mid}\b", f"M{i}", o)
            e = re.sub(rf"\b{mid}\b", f"M{i}", e)
        vbuf = KB.alloc(_ARR_VS)
        arr = []
        for i in range(64):
            assert KB.map_lookup_elem(a, i.to_bytes(4, "little"), vbuf, 0) == 0
            arr.append(KB.tobytes(vbuf, _ARR_VS))
        return rc, o, e.replace(f.name, "F"), _dump(h, _HASH_VS), arr
    finally:
        KB.close(h)
        KB.close(a)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(_line, min_size=1, max_size=60),
    mode=st.sampled_from([{}, {"json": True}, {"json": True, "pretty": True}]),
)
def test_any_file_prints_and_applies_as_without_the_program(lines, mode):
    """Updates (any, noexist, exist; an array index out of range), deletes, lookups
    (hits and misses on both maps) and getnext in any order, plain, -j or -jp: with the
    exec program (EXEC_MIN 2: built for every such file) and without it (the exec loop's
    syscalls; in JSON mode the lookups' values copied for the C writer) the exit status,
    stdout, stderr and both maps' contents are those of the reference executor (every
    lookup through Python)."""
    text = lambda h, a: _text(lines, h, a)  # noqa: E731
    want = _run_pair(text, 1 << 40, fast=False, **mode)
    assert _run_pair(text, 2, **mode) == want
    assert _run_pair(text, 1 << 40, **mode) == want


@pytest.mark.parametrize("opts", [[], ["-j"], ["-j", "-p"]])
def test_lookups_through_the_program_print_what_bpftool_prints(
    tmp_path, bpftool_bin, monkeypatch, opts
):
    """The oracle: 12000 lines of updates and lookups (a hash map and an array, values
    of 4, 24 and 40 bytes: one-line, two-line and multi-row entries) go through one
    program with every lookup in it; stdout is bpftool's byte for byte, plain, -j and
    -jp (in JSON mode the program copies the values and the writer formats the items)."""
    import subprocess

    spy = _Spy(monkeypatch)
    maps = [(1, 8, 4), (2, 4, 24), (1, 8, 40)]  # (type, key size, value size)
    fds = [KB.map_create(t, ks, vs, 4096, 0, b"pexec_o") for t, ks, vs in maps]
    assert min(fds) >= 0
    try:
        ids = [KB.map_info(fd)[1].id for fd in fds]
        lines = []
        for i in range(2000):
            for (_t, ks, vs), mid in zip(maps, ids):
                k = _hex(i % 4096, ks)
                lines.append(
                    f"map update id {mid} key hex {k} value hex {_hex(i * 2654435761 % (1 << 8 * vs), vs)}"
                )
                lines.append(f"map lookup id {mid} key hex {k}")
        path = tmp_path / "f.txt"
        path.write_text("\n".join(lines) + "\n")
        want = subprocess.run(
            [bpftool_bin, *opts, "batch", "file", str(path)], capture_output=True, text=True
        )
        assert want.returncode == 0, want.stderr
        from bpfmaps.bpftool.runner import Runner

        out, err = io.StringIO(), io.StringIO()
        r = Runner(stdout=out, stderr=err, json="-j" in opts, pretty="-p" in opts)
        assert r.run_file(str(path)) == 0, err.getvalue()
        assert out.getvalue() == want.stdout
        assert len(spy.progs) == 1 and spy.progs[0].looked == 6000
    finally:
        for fd in fds:
            KB.close(fd)


def test_a_map_the_program_may_not_read_keeps_the_updates_in_it(tmp_path, monkeypatch):
    """BPF_F_WRONLY_PROG: the verifier refuses the program's lookup copy, so the program
    is built again without lookups (the updates and deletes still go in it) and the
    lookups keep their syscall; the output is the syscall path's."""
    spy = _Spy(monkeypatch)
    wronly_prog = 1 << 8
    fd = KB.map_create(1, 8, 32, 1 << 14, wronly_prog, b"pexec_w")
    assert fd >= 0
    try:
        mid = KB.map_info(fd)[1].id
        lines = []
        for i in range(3000):
            k = _hex(i, 8)
            lines += [f"map update id {mid} key hex {k} value hex {_hex(i, 32)}"] * 2
            lines.append(f"map lookup id {mid} key hex {k}")
        path = tmp_path / "f.txt"
        path.write_text("\n".join(lines) + "\n")
        from bpfmaps.bpftool.runner import Runner

        out, err = io.StringIO(), io.StringIO()
        assert Runner(stdout=out, stderr=err).run_file(str(path)) == 0, err.getvalue()
        assert out.getvalue().count("value:") == 3000
        assert len(spy.progs) == 1
        p = spy.progs[0]
        assert (p.applied, p.looked, p.runs) == (6000, 0, 3000)  # each pair in one run
    finally:
        KB.close(fd)

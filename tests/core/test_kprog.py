"""bpfmaps._kprog: the in-kernel apply of long update runs gives exactly the syscall's
result (same (rc, applied), same map contents) on the real kernel, is taken only where
that holds, and is what the engine and the batch-file runner use for long runs."""

from __future__ import annotations

import ctypes
import errno
import io
import os
import re
import struct

import pytest
from _kmaps import contents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import _kloops, _kprog, engine, parallel
from bpfmaps._ffi import ffi
from bpfmaps.chunks import FdTarget
from bpfmaps.errors import BatchError
from bpfmaps.kernel import KernelBackend, KernelLoops, stop_set
from bpfmaps.types import MapFlags, MapType

pytestmark = pytest.mark.kernel

KB = KernelBackend()
LOOPS = KernelLoops()


def _create(t, ks, vs, n, flags=0):
    fd = KB.map_create(int(t), ks, vs, n, int(flags), b"kprog_t")
    assert fd >= 0, os.strerror(-fd)
    return fd


def _info(fd):
    rc, info = KB.map_info(fd)
    assert rc == 0
    return info


def _contents(fd, ks, vs):
    return contents(KB, fd, ks, vs)


def _syscall_apply(fd, keys, values, ks, vs, n, flags):
    """What the engine does without the program: UPDATE_BATCH for BPF_ANY (in chunks,
    as bpfm_update_batch_part), one UPDATE_ELEM an element otherwise."""
    if flags == 0:
        return LOOPS.update_batch_parts(fd, keys, values, ks, vs, [(0, n)], 0, 5)[0]
    return LOOPS.update_elems(fd, keys, ks, values, vs, n, flags)


# ----------------------------------------------------------------------------- eligible
@pytest.mark.parametrize(
    "t, flags, ok",
    [
        (MapType.HASH, 0, True),
        (MapType.HASH, MapFlags.NO_PREALLOC, True),
        (MapType.ARRAY, 0, True),
        (MapType.PERCPU_HASH, 0, False),  # the helper writes one CPU's value only
        (MapType.LRU_HASH, 0, False),
        (MapType.HASH, MapFlags.RDONLY, False),  # the syscall refuses writes (EPERM)
    ],
)
def test_eligible_by_type_and_flags(t, flags, ok):
    fd = _create(t, 4 if t == MapType.ARRAY else 8, 16, 64, flags)
    try:
        assert _kprog.eligible(fd, _info(fd), 0) is ok
        p = _kprog.open_for(fd, _info(fd), 0)
        assert (p is not None) is ok
        if p is not None:
            p.close()
    finally:
        KB.close(fd)


def test_not_eligible_frozen_readonly_fd_or_lock_flag():
    fd = _create(MapType.HASH, 8, 16, 64)
    ro = -1
    try:
        info = _info(fd)
        assert _kprog.eligible(fd, info, 0)
        assert not _kprog.eligible(fd, info, 4)  # BPF_F_LOCK: not taken
        ro = KB.map_get_fd_by_id(info.id, 1 << 3)  # BPF_F_RDONLY open flag
        assert ro >= 0
        assert not _kprog.eligible(ro, info, 0)
        assert KB.map_freeze(fd) == 0
        assert not _kprog.eligible(fd, info, 0)
        # and what the syscall says there, which the engine then reports itself
        rc, cnt = _syscall_apply(fd, b"\0" * 8, b"\0" * 16, 8, 16, 1, 0)
        assert rc == -errno.EPERM and cnt == 0
    finally:
        if ro >= 0:
            KB.close(ro)
        KB.close(fd)


# ----------------------------------------------------------------------------- same result
_KIND = st.sampled_from(
    [(MapType.HASH, 0), (MapType.HASH, MapFlags.NO_PREALLOC), (MapType.ARRAY, 0)]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=_KIND,
    flags=st.sampled_from([0, 1, 2]),
    cap=st.integers(1, 9),
    pre=st.lists(st.integers(0, 23), max_size=12),
    ops=st.lists(st.tuples(st.integers(0, 23), st.integers(0, 255)), min_size=1, max_size=40),
)
def test_same_result_as_the_syscall(kind, flags, cap, pre, ops):
    """Both paths on two identical maps: the same (rc, applied) and contents, including
    E2BIG on a full hash map or an index past an array's end, EEXIST (NOEXIST on a
    present key; always on arrays) and ENOENT (EXIST on an absent key)."""
    t, mflags = kind
    ks, vs, maxe = (4, 12, 16) if t == MapType.ARRAY else (8, 12, 10)
    pack = (lambda k: struct.pack("<I", k)) if ks == 4 else (lambda k: struct.pack("<Q", k))
    fds = [_create(t, ks, vs, maxe, mflags) for _ in range(2)]
    try:
        for fd in fds:
            for k in pre:
                KB.map_update_elem(fd, pack(k), bytes([k]) * vs, 0)
        keys = b"".join(pack(k) for k, _ in ops)
        values = b"".join(bytes([v]) * vs for _, v in ops)
        n = len(ops)
        p = _kprog.open_for(fds[0], _info(fds[0]), flags, cap=cap)
        assert p is not None
        with p:
            got = p.part(keys, values, vs, 0, n, ffi.new("int *"))
        want = _syscall_apply(fds[1], keys, values, ks, vs, n, flags)
        assert got == want
        assert _contents(fds[0], ks, vs) == _contents(fds[1], ks, vs)
    finally:
        for fd in fds:
            KB.close(fd)


_STORE_VS = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 12, 15, 32, 36, 255, 256, 257])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    vs=_STORE_VS,
    maxe=st.integers(1, 20),
    flags=st.sampled_from([0, 1, 2]),
    cap=st.one_of(st.integers(1, 9), st.sampled_from([4, 8, 8192])),  # 4k: groups of 4
    pre=st.lists(st.integers(0, 19), max_size=8),
    ops=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 28), st.sampled_from([2**31, 2**32 - 1])),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_array_store_same_as_update_batch(vs, maxe, flags, cap, pre, ops):
    """The array program that stores values itself (store_eligible: BPF_ANY/EXIST,
    values up to STORE_MAX bytes) against UPDATE_BATCH (BPF_ANY; UPDATE_ELEM for
    EXIST/NOEXIST, which UPDATE_BATCH refuses) on two identical arrays: the same
    (rc, applied) with indices in and out of range (E2BIG at the first past the end;
    EEXIST for NOEXIST), the same contents, padding of odd value sizes untouched."""
    fds = [_create(MapType.ARRAY, 4, vs, maxe) for _ in range(2)]
    try:
        for fd in fds:
            for k in pre:
                KB.map_update_elem(fd, struct.pack("<I", k), bytes([k | 1]) * vs, 0)
        keys = b"".join(struct.pack("<I", k) for k, _ in ops)
        values = b"".join(bytes([(v + j) & 0xFF for j in range(vs)]) for _, v in ops)
        n = len(ops)
        info = _info(fds[0])
        p = _kprog.open_for(fds[0], info, flags, cap=cap)
        assert p is not None
        with p:
            assert p.store is (flags != 1 and vs <= _kprog.STORE_MAX)
            assert p.store is _kprog.store_eligible(info, flags)
            got = p.part(keys, values, vs, 0, n, ffi.new("int *"))
        if flags == 0:
            want = KB.map_update_batch(fds[1], keys, values, n, 0)
            if want[0] < 0 and want[1] >= n:
                want = (want[0], 0)
        else:
            want = LOOPS.update_elems(fds[1], keys, 4, values, vs, n, flags)
        assert got == tuple(want)
        assert _contents(fds[0], 4, vs) == _contents(fds[1], 4, vs)
    finally:
        for fd in fds:
            KB.close(fd)


def test_array_store_taken_for_the_benchmark_shape_only():
    """update_many / m.batch() into a plain array (key 4, value 32, BPF_ANY), as
    benchmarks/bench_batch.py: the engine's program is the storing one; NOEXIST,
    values above STORE_MAX, a per-CPU array, a map with a BTF value type (it may hold
    special fields) keep the update call."""
    from bpfmaps import Map
    from bpfmaps import codecs as C
    from bpfmaps.btf.fromcodec import bpf_spin_lock

    n = 1000
    fd = _create(MapType.ARRAY, 4, 32, n)
    try:
        up = LOOPS.open_update_prog(fd, _info(fd), 0, _kloops.PROG_MIN_ANY)
        assert up is not None
        try:
            assert up._prog.store is True
        finally:
            up.close()
        for flags, store in ((2, True), (1, False)):
            with _kprog.open_for(fd, _info(fd), flags) as p:
                assert p.store is store
    finally:
        KB.close(fd)
    big = _create(MapType.ARRAY, 4, _kprog.STORE_MAX + 8, 4)
    try:
        with _kprog.open_for(big, _info(big), 0) as p:
            assert p.store is False
    finally:
        KB.close(big)
    info = _info_of_new(MapType.PERCPU_ARRAY)
    assert not _kprog.store_eligible(info, 0)

    class Locked(ctypes.Structure):
        _fields_ = [("lock", bpf_spin_lock), ("hits", ctypes.c_uint64)]

    m = Map.create("array", 4, ctypes.sizeof(Locked), 4, key=C.U32, value=Locked, btf=True)
    try:
        assert m.info.btf_value_type_id
        assert not _kprog.store_eligible(m.info, 0)
        with _kprog.open_for(m.fileno(), m.info, 0) as p:
            assert p.store is False
    finally:
        m.close()


@pytest.mark.parametrize(
    "vs, cap, group",
    [(32, 0, 4), (64, 8, 4), (36, 4, 4), (65, 8, 1), (32, 6, 1), (32, 1, 1), (256, 0, 1)],
)
def test_array_store_steps_over_groups_where_they_fit(vs, cap, group):
    """The storing program takes groups of 4 elements a step (one lookup of each
    staging array a group, _papply.h's BPFM_STORE_GROUP) for values of at most 64
    bytes and a cap that is a multiple of 4 (the benchmark's shape: value 32, cap
    8192); else one element a step.  Seen in the staging arrays' shape: an element per
    group, the group's bytes at the same offsets as single elements (the results are
    test_array_store_same_as_update_batch's)."""
    fd = _create(MapType.ARRAY, 4, vs, 64)
    try:
        with _kprog.open_for(fd, _info(fd), 0, cap=cap) as p:
            assert p.store is True
            keys, values = _info(p._p.keys_fd), _info(p._p.values_fd)
            assert keys.value_size == (8 * group if group > 1 else 4)
            assert values.value_size == (((vs + 7) & ~7) * group if group > 1 else vs)
            assert keys.max_entries == values.max_entries == p._p.cap // group
    finally:
        KB.close(fd)


def _info_of_new(t):
    """The MapInfo of a fresh map of type ``t`` (closed again)."""
    fd = _create(t, 4, 8, 4)
    try:
        return _info(fd)
    finally:
        KB.close(fd)


def test_part_offsets_and_value_stride():
    """start/count select a slice; a value stride above value_size skips the padding."""
    fd = _create(MapType.HASH, 8, 5, 64)
    try:
        keys = b"".join(struct.pack("<Q", i) for i in range(10))
        values = b"".join(bytes([i]) * 5 + b"\xee" * 3 for i in range(10))
        with _kprog.open_for(fd, _info(fd), 0, cap=3) as p:
            assert p.part(keys, values, 8, 4, 5, ffi.new("int *")) == (0, 5)
        want = {struct.pack("<Q", i): bytes([i]) * 5 for i in range(4, 9)}
        assert _contents(fd, 8, 5) == want
    finally:
        KB.close(fd)


def test_stop_signal_and_stop_flag():
    fd = _create(MapType.HASH, 8, 8, 64)
    try:
        keys = b"".join(struct.pack("<Q", i) for i in range(20))
        with _kprog.open_for(fd, _info(fd), 0, cap=4) as p:
            stop_set(2)  # as if SIGINT had been caught
            try:
                assert p.part(keys, keys, 8, 0, 20, ffi.new("int *")) == (-errno.EINTR, 0)
            finally:
                stop_set(0)
            flag = ffi.new("int *", 1)  # another part failed: nothing more, no error
            assert p.part(keys, keys, 8, 0, 20, flag) == (0, 0)
        assert _contents(fd, 8, 8) == {}
    finally:
        KB.close(fd)


# ----------------------------------------------------------------------------- engine
def _noid(text):
    return re.sub(r"map id \d+", "map id N", text)


class _ProgSpy:
    """The in-kernel apply, watched: ``calls`` holds the ``(rc, applied)`` of every
    ``ProgApply.part``; ``paths()`` yields True (the engine may take the program), then
    False (its run-length thresholds raised past any run: the syscall path), with
    ``calls`` emptied before each."""

    def __init__(self, monkeypatch):
        self.calls = []  # the (rc, applied) of every ProgApply.part
        self.spec = []  # the (rc, applied, not_undone) of every ProgApply.speculate
        self._mp = monkeypatch
        for name, seen in (("part", self.calls), ("speculate", self.spec)):
            monkeypatch.setattr(
                _kprog.ProgApply, name, self._watch(getattr(_kprog.ProgApply, name), seen)
            )

    @staticmethod
    def _watch(real, seen):
        def watched(this, *a):
            r = real(this, *a)
            seen.append(r)
            return r

        return watched

    def paths(self):
        for use_prog in (True, False):
            if not use_prog:
                self._mp.setattr(_kloops, "PROG_MIN_ANY", 1 << 40)
                self._mp.setattr(_kloops, "PROG_MIN_FLAGS", 1 << 40)
            self.calls.clear()
            yield use_prog


@pytest.fixture
def prog(monkeypatch):
    return _ProgSpy(monkeypatch)


@pytest.mark.parametrize("flags", [0, 1])
def test_engine_takes_it_for_long_runs_with_the_same_report(prog, flags):
    """update_packed of a long run: the program applies it (the spy sees it), and a
    failure in the middle (the map is full / a key is present) gives the same
    BatchError as the syscall path."""
    n = max(_kloops.PROG_MIN_ANY, _kloops.PROG_MIN_FLAGS)
    keys = b"".join(struct.pack("<Q", i) for i in range(n))
    values = b"".join(struct.pack("<Q", i * 3) for i in range(n))
    reports = []
    for use_prog in prog.paths():
        fd = _create(MapType.HASH, 8, 8, n - 100)  # the last 100 inserts cannot fit
        try:
            KB.map_update_elem(fd, keys[8 * 7 : 8 * 8], b"\0" * 8, 0)  # key 7 present
            t = FdTarget(KB, fd, _info(fd), 8)
            with pytest.raises(BatchError) as ei:
                engine.update_packed(t, keys, values, flags=flags)
            e = ei.value
            reports.append(
                (e.index, e.cause.errno, e.applied, e.key, _noid(str(e)), _contents(fd, 8, 8))
            )
            assert (len(prog.calls) == 1) is use_prog
        finally:
            KB.close(fd)
    assert reports[0] == reports[1]
    index, err = reports[0][0], reports[0][1]
    assert (index, err) == ((7, errno.EEXIST) if flags else (n - 100, errno.E2BIG))


def test_engine_success_through_the_program(prog):
    n = _kloops.PROG_MIN_ANY + 5
    fd = _create(MapType.ARRAY, 4, 8, n)
    try:
        keys = b"".join(struct.pack("<I", i) for i in range(n))
        values = b"".join(struct.pack("<Q", i + 1) for i in range(n))
        res = engine.update_packed(FdTarget(KB, fd, _info(fd), 8), keys, values)
        assert res.applied == n and prog.calls == [(0, n)]
        got = _contents(fd, 4, 8)
        assert got == {struct.pack("<I", i): struct.pack("<Q", i + 1) for i in range(n)}
    finally:
        KB.close(fd)


def test_short_runs_and_the_fake_do_not_build_it(prog):
    from bpfmaps.testing import FakeKernel

    fd = _create(MapType.HASH, 8, 8, 64)
    try:
        keys = b"".join(struct.pack("<Q", i) for i in range(10))
        engine.update_packed(FdTarget(KB, fd, _info(fd), 8), keys, keys)
    finally:
        KB.close(fd)
    fk = FakeKernel()
    n = _kloops.PROG_MIN_ANY
    ffd = fk.map_create(int(MapType.HASH), 8, 8, n, 0, b"f")
    keys = b"".join(struct.pack("<Q", i) for i in range(n))
    rc, info = fk.map_info(ffd)
    assert engine.update_packed(FdTarget(fk, ffd, info, 8), keys, keys).applied == n
    assert prog.calls == []


# ----------------------------------------------------------------------------- batch files
def _run_file(path):
    from bpfmaps.bpftool.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    rc = Runner(stdout=out, stderr=err).run_file(path)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("tail", ["", " noexist"])
def test_batch_file_report_is_the_same(tmp_path, prog, tail):
    """A long batch file into a map that fills up: the same stdout, stderr, status and
    map contents with and without the program, and the program was used."""
    n = _kloops.PROG_MIN_ANY + 50
    results = []
    for use_prog in prog.paths():
        fd = _create(MapType.HASH, 8, 4, n - 20)
        try:
            mid = _info(fd).id
            path = tmp_path / ("prog" if use_prog else "syscall") / "f.txt"
            path.parent.mkdir()
            with open(path, "w") as f:
                for i in range(n):
                    k = " ".join(str(b) for b in struct.pack(">Q", i))
                    f.write(f"map update id {mid} key {k} value {i % 256} 0 0 1{tail}\n")
            rc, out, err = _run_file(str(path))
            err = _noid(err).replace(str(mid), "ID").replace(str(path.parent), "DIR")
            results.append((rc, out, err, _contents(fd, 8, 4)))
            assert (len(prog.calls) == 1) is use_prog
        finally:
            KB.close(fd)
    assert results[0] == results[1]
    rc, out, err, contents = results[0]
    assert rc != 0 and len(contents) == n - 20
    assert f":{n - 20 + 1}:" in err  # the line of the first update that did not fit


def test_parts_in_slots_run_at_once(prog, monkeypatch):
    """KernelLoops.update_prog with two parts (two threads, one slot each): every part
    applied, the contents those of the serial apply; the engine's parallel apply of a
    hash map is one speculative apply (its threads are C threads: no part)."""
    n = _kloops.PROG_MIN_ANY * 2
    keys = b"".join(struct.pack("<Q", i * 7919) for i in range(n))
    values = b"".join(struct.pack("<Q", i) for i in range(n))
    fds = [_create(MapType.HASH, 8, 8, n) for _ in range(2)]
    try:
        parts = [(0, n // 2), (n // 2, n - n // 2)]
        got = LOOPS.update_prog(fds[0], _info(fds[0]), keys, values, 8, parts, 0)
        assert got == [(0, n // 2), (0, n - n // 2)]
        assert sorted(prog.calls) == sorted(got)  # one program part a slot
        assert _syscall_apply(fds[1], keys, values, 8, 8, n, 0) == (0, n)
        assert _contents(fds[0], 8, 8) == _contents(fds[1], 8, 8)
    finally:
        for fd in fds:
            KB.close(fd)
    prog.calls.clear()
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now
    fd = _create(MapType.HASH, 8, 8, n)
    try:
        res = engine.update_packed(FdTarget(KB, fd, _info(fd), 8), keys, values, parallel=True)
        assert res.applied == n
        assert res.parallel is (parallel._threads() >= 2)
        if res.parallel:
            assert (prog.spec, prog.calls) == ([(0, n, [])], [])
        else:
            assert (prog.spec, len(prog.calls)) == ([], 1)
        assert len(_contents(fd, 8, 8)) == n
    finally:
        KB.close(fd)


def test_forced_fallback_does_not_use_it(prog):
    """bulk.forced_fallback() stands for a kernel without batch commands (older than
    the program's 5.17 too): the per-element loop applies the run, not the program."""
    from bpfmaps.chunks import forced_fallback

    n = _kloops.PROG_MIN_ANY
    fd = _create(MapType.HASH, 8, 8, n)
    try:
        keys = b"".join(struct.pack("<Q", i) for i in range(n))
        with forced_fallback():
            res = engine.update_packed(FdTarget(KB, fd, _info(fd), 8), keys, keys)
        assert res.applied == n and res.fallback and prog.calls == []
    finally:
        KB.close(fd)


def test_interrupted_join_still_joins_every_part(monkeypatch):
    """A KeyboardInterrupt raised in the first join (a signal handler's exception) does
    not leave a part running on the program's arrays, which update_prog then closes:
    every thread is joined, then the interrupt is raised (before the fix: SIGSEGV)."""
    import threading

    real_join = threading.Thread.join
    state = {"raised": False}

    def join(self, timeout=None):
        if not state["raised"]:
            state["raised"] = True
            raise KeyboardInterrupt
        return real_join(self, timeout)

    n = _kloops.PROG_MIN_ANY * 8
    keys = b"".join(struct.pack("<Q", i) for i in range(n))
    fd = _create(MapType.HASH, 8, 8, n)
    try:
        monkeypatch.setattr(threading.Thread, "join", join)
        parts = [(0, n // 2), (n // 2, n - n // 2)]
        with pytest.raises(KeyboardInterrupt):
            LOOPS.update_prog(fd, _info(fd), keys, keys, 8, parts, 0)
        monkeypatch.undo()
        assert state["raised"]
        assert [t for t in threading.enumerate() if t is not threading.main_thread()] == []
        assert len(_contents(fd, 8, 8)) == n  # both parts ran to their end
    finally:
        KB.close(fd)


def test_spec_slots_is_the_c_bound():
    """``_kprog.SPEC_SLOTS`` (the most threads Python asks of a speculative apply) is
    ``BPFM_SPEC_SLOTS`` of ``_papply.h``, which sizes the C driver's per-slot arrays:
    a larger Python value would be refused by the driver, a smaller one would waste
    threads the C side has room for."""
    import re

    header = os.path.join(os.path.dirname(_kprog.__file__), "_papply.h")
    with open(header) as f:
        m = re.search(r"^#define BPFM_SPEC_SLOTS (\d+)$", f.read(), re.M)
    assert m, "BPFM_SPEC_SLOTS not found in _papply.h"
    assert int(m.group(1)) == _kprog.SPEC_SLOTS

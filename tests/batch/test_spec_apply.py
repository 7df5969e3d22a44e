"""The speculative parallel apply (``_papply.c``'s ``bpfm_papply_spec`` through
``engine.run(parallel=True)``): any run of updates into a preallocated hash map, in
threads, with exactly the serial result (applied count, failing index and errno,
final contents), whatever the keys (duplicates, present or absent), the flags and the
map's room; a stop signal leaves a serial prefix; what could not be undone is reported.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import BatchError, MapFlags, MapFullError, MapType, _kloops, _kprog, engine
from bpfmaps import parallel as par
from bpfmaps.engine import FdTarget
from bpfmaps.loops import GenericLoops
from bpfmaps.testing import FakeKernel

pytestmark = pytest.mark.kernel

EPROTO = 71


@pytest.fixture
def kb(kernel_backend):
    return kernel_backend


def _k(i: int) -> bytes:
    return struct.pack(">Q", i)


def _v(i: int) -> bytes:
    return struct.pack("<Q", i) * 4


def _create(kb, n, flags=0, mtype=MapType.HASH, ks=8, vs=32):
    fd = kb.map_create(int(mtype), ks, vs, n, int(flags), b"spec_test")
    assert fd >= 0, os.strerror(-fd)
    return fd


def _contents(be, fd, ks=8, vs=32):
    """Every {key: value} of map ``fd`` (GET_NEXT_KEY walk, then LOOKUP_ELEM)."""
    kbuf, vbuf = be.alloc(ks), be.alloc(vs)
    key, out = be.NULL, {}
    while be.map_get_next_key(fd, key, kbuf) == 0:
        key = be.tobytes(kbuf, ks)
        assert key not in out
        assert be.map_lookup_elem(fd, key, vbuf, 0) == 0
        out[key] = be.tobytes(vbuf, vs)
    return out


def _target(kb, fd):
    return FdTarget(kb, fd, kb.map_info(fd)[1], 32)


def _apply(kb, fd, keys, values, flags, parallel):
    """(applied, failing index or None, cause type or None, contents, parallel)."""
    try:
        r = engine.update_packed(_target(kb, fd), keys, values, flags=flags, parallel=parallel)
        return r.applied, None, None, _contents(kb, fd), r.parallel
    except BatchError as e:
        assert e.also_applied == []
        return e.applied, e.index, type(e.__cause__), _contents(kb, fd), None


@pytest.fixture
def small_rounds(monkeypatch):
    """Programs for any run length, 64 elements a slot and round (many rounds, undo in
    late rounds), three threads (the third slot shares the machine's two cores)."""
    monkeypatch.setattr(_kloops, "PROG_MIN_ANY", 1)
    monkeypatch.setattr(_kloops, "PROG_MIN_FLAGS", 1)
    monkeypatch.setattr(_kprog, "CAP", 64)
    monkeypatch.setattr(par, "_running_tasks", lambda: 1)  # whatever else runs now


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n=st.integers(1, 700),
    flags=st.sampled_from([0, 0, 1, 2]),
    threads=st.sampled_from([2, 3]),
)
def test_same_result_as_serial(kb, small_rounds, monkeypatch, data, n, flags, threads):
    """Random runs (keys from a small domain: duplicates; some present before; a map
    with little room: E2BIG; NOEXIST/EXIST: EEXIST/ENOENT anywhere): the speculative
    apply's report and contents equal the serial apply's."""
    monkeypatch.setattr(par, "_threads", lambda: threads)
    monkeypatch.setattr(par, "_running_tasks", lambda: 1)
    domain = data.draw(st.integers(1, 2 * n + 1))
    idx = data.draw(st.lists(st.integers(0, domain - 1), min_size=n, max_size=n))
    pre = data.draw(st.sets(st.integers(0, domain - 1), max_size=domain))
    room = data.draw(st.integers(len(pre) + 1, len(pre) + n + 1))
    keys = b"".join(_k(i) for i in idx)
    values = b"".join(_v(j * 7 + i) for j, i in enumerate(idx))
    got = []
    for parallel in (True, False):
        fd = _create(kb, room)
        try:
            for i in pre:
                assert kb.map_update_elem(fd, _k(i), _v(i), 0) == 0
            got.append(_apply(kb, fd, keys, values, flags, parallel))
        finally:
            os.close(fd)
    spec, serial = got
    assert spec[:4] == serial[:4]
    if spec[1] is None:
        assert spec[4] is True  # it was the speculative apply


def test_full_map_fails_where_serial_fails(kb):
    """A populated, nearly full map and 40k upserts of which the 1001st new key does
    not fit: BatchError at that element, the serial prefix applied, nothing after it
    (the threads' later elements were undone)."""
    n, present = 40_000, 20_000
    fd = _create(kb, present + 1000)
    try:
        order = list(range(n))
        random.Random(3).shuffle(order)
        pre = set(range(present))
        kb.map_update_batch(
            fd, b"".join(_k(i) for i in sorted(pre)), _v(0) * present, present, 0, 0
        )
        keys = b"".join(_k(i) for i in order)
        values = b"".join(_v(i + 1) for i in order)
        new = [j for j, i in enumerate(order) if i not in pre]
        fail = new[1000]
        with pytest.raises(BatchError) as ei:
            engine.update_packed(_target(kb, fd), keys, values, parallel=True)
        assert (ei.value.index, ei.value.applied) == (fail, fail)
        expect = {_k(i): _v(0) for i in pre}
        expect.update({_k(i): _v(i + 1) for i in order[:fail]})
        assert _contents(kb, fd) == expect
    finally:
        os.close(fd)


def test_populated_and_duplicates_in_threads(kb, monkeypatch):
    """A populated map (every key present) and duplicate keys: applied in two threads,
    the last value of each key wins, as serially."""
    monkeypatch.setattr(par, "_threads", lambda: 2)
    monkeypatch.setattr(par, "_running_tasks", lambda: 1)
    n = 50_000
    fd = _create(kb, n)
    try:
        kb.map_update_batch(fd, b"".join(_k(i) for i in range(n)), _v(0) * n, n, 0, 0)
        rnd = random.Random(5)
        idx = [rnd.randrange(n) for _ in range(n)]
        keys = b"".join(_k(i) for i in idx)
        values = b"".join(_v(j) for j in range(n))
        r = engine.update_packed(_target(kb, fd), keys, values, parallel=True)
        assert (r.applied, r.parallel) == (n, True)
        expect = {_k(i): _v(0) for i in range(n)}
        for j, i in enumerate(idx):
            expect[_k(i)] = _v(j)
        assert _contents(kb, fd) == expect
    finally:
        os.close(fd)


def test_stop_signal_leaves_a_serial_prefix(kb):
    """The stop flag set while a long speculative apply runs (from another thread, as a
    signal handler would): -EINTR between rounds, the applied elements are exactly the
    first ones, nothing after them."""
    n = 600_000
    fd = _create(kb, n)
    info = kb.map_info(fd)[1]
    prog = _kprog.open_for(fd, info, 0, slots=2, spec=True)
    assert prog is not None
    keys = b"".join(_k(i * 2654435761 % (1 << 40)) for i in range(n))
    values = _v(9) * n
    timer = threading.Timer(0.004, _kloops.stop_set, (signal.SIGINT,))
    try:
        timer.start()
        rc, applied, kept = prog.speculate(keys, values, 32, 0, n)
        timer.join()
        assert (rc, kept) == (-4, []) and 0 < applied < n  # EINTR
        got = _contents(kb, fd)
        assert got == {keys[8 * j : 8 * j + 8]: _v(9) for j in range(applied)}
    finally:
        timer.cancel()
        _kloops.stop_set(0)
        prog.close()
        os.close(fd)


@pytest.mark.parametrize(
    "mtype,flags",
    [
        (MapType.ARRAY, 0),
        (MapType.LRU_HASH, 0),
        (MapType.HASH, MapFlags.NO_PREALLOC),
        (MapType.HASH, MapFlags.ZERO_SEED),
    ],
)
def test_only_where_undo_is_exact(kb, mtype, flags):
    """No speculative program for arrays (no gain), LRU maps (evictions cannot be
    undone), NO_PREALLOC (approximate full check), ZERO_SEED (observable bucket order),
    nor for one thread; a plain HASH map gets one."""
    ks = 4 if mtype == MapType.ARRAY else 8
    fd = _create(kb, 100, flags, mtype, ks=ks)
    try:
        info = kb.map_info(fd)[1]
        assert _kprog.open_for(fd, info, 0, slots=2, spec=True) is None
    finally:
        os.close(fd)
    fd = _create(kb, 100)
    try:
        info = kb.map_info(fd)[1]
        assert _kprog.open_for(fd, info, 0, slots=1, spec=True) is None
        p = _kprog.open_for(fd, info, 0, slots=2, spec=True)
        assert p is not None
        p.close()
    finally:
        os.close(fd)


def test_no_fd_left(kb, small_rounds):
    """Success and failure both close the program and its four arrays."""
    before = len(os.listdir("/proc/self/fd"))
    fd = _create(kb, 300)
    try:
        keys = b"".join(_k(i) for i in range(500))
        with pytest.raises(BatchError):
            engine.update_packed(_target(kb, fd), keys, _v(1) * 500, parallel=True)
        r = engine.update_packed(_target(kb, fd), keys[: 8 * 300], _v(2) * 300, parallel=True)
        assert r.parallel is True
    finally:
        os.close(fd)
    assert len(os.listdir("/proc/self/fd")) == before


class _KeptProg:
    """A speculative program that applies 0..9 and 15, 16, 20, then reports that the
    undo of 15, 16 and 20 was refused (as another writer could make it)."""

    spec_slots = 2

    def __init__(self, fk, fd):
        self.fk, self.fd = fk, fd

    def speculate(self, keys, values, stride, count):
        for i in list(range(10)) + [15, 16, 20]:
            k = bytes(keys[8 * i : 8 * i + 8])
            assert self.fk.map_update_elem(self.fd, k, bytes(values[32 * i : 32 * i + 32]), 0) == 0
        return -EPROTO, 10, [15, 16, 20]

    def apply(self, keys, values, stride, parts):
        return [(-EPROTO, 0)]  # the syscall path does the rest

    def close(self):
        pass


class _KeptLoops(GenericLoops):
    def open_update_prog(self, fd, info, flags, total, slots=1, spec=False):
        return _KeptProg(self.be, fd) if spec else None


class _KeptFake(FakeKernel):
    @property
    def loops(self):
        return _KeptLoops(self)


def test_not_undone_elements_are_reported(monkeypatch):
    """The engine after a speculative stop: the rest applied serially from the prefix;
    a later failure's BatchError lists the elements after it that stayed applied."""
    monkeypatch.setattr(par, "_threads", lambda: 2)
    monkeypatch.setattr(par, "_running_tasks", lambda: 1)
    fk = _KeptFake()
    fd = fk.map_create(int(MapType.HASH), 8, 32, 100, 0, b"kept")
    keys = b"".join(_k(i) for i in range(30))
    values = b"".join(_v(i) for i in range(30))
    fk.inject(7, "map_update_batch", count=1, when=lambda ctx: ctx.key == _k(12))
    with pytest.raises(BatchError) as ei:
        engine.update_packed(_target(fk, fd), keys, values, parallel=True)
    e = ei.value
    assert (e.index, e.applied) == (12, 12)
    assert isinstance(e.__cause__, MapFullError)
    assert e.also_applied == [(15, 17), (20, 21)]
    assert "also applied #15..#16, #20..#20" in str(e)


@pytest.mark.parametrize(
    "cpus,running,threads", [(2, 1, 2), (2, 2, 1), (2, 7, 1), (4, 2, 3), (1, 1, 1)]
)
def test_threads_leave_busy_cpus_alone(monkeypatch, cpus, running, threads):
    """The speculative apply takes only the CPUs the tasks running now leave free (a
    second thread on a busy core costs more than it gives)."""
    monkeypatch.setattr(par, "_threads", lambda: cpus)
    monkeypatch.setattr(par, "_running_tasks", lambda: running)
    assert par._free_threads() == threads


def test_busy_machine_applies_serially(kb, monkeypatch):
    """With every CPU busy the run is applied by the serial program: not parallel, same
    contents."""
    monkeypatch.setattr(par, "_threads", lambda: 2)
    monkeypatch.setattr(par, "_running_tasks", lambda: 3)
    n = 20_000
    fd = _create(kb, n)
    try:
        keys = b"".join(_k(i) for i in range(n))
        r = engine.update_packed(_target(kb, fd), keys, _v(4) * n, parallel=True)
        assert (r.applied, r.parallel) == (n, False)
        assert len(_contents(kb, fd)) == n
    finally:
        os.close(fd)


@settings(max_examples=200, deadline=None)
@given(
    ks=st.integers(1, 9),
    keys=st.lists(st.binary(min_size=9, max_size=9), max_size=30),
    sort=st.booleans(),
)
def test_keys_ascending_c_equals_python(ks, keys, sort):
    """bpfm_keys_ascending and the plain-Python reference agree (strict bytewise order)."""
    from bpfmaps.backend import kernel_backend
    from bpfmaps.loops import of

    ks_keys = [k[:ks] for k in keys]
    if sort:
        ks_keys = sorted(set(ks_keys))
    buf = b"".join(ks_keys)
    kbe = kernel_backend()
    expect = all(a < b for a, b in zip(ks_keys, ks_keys[1:]))
    assert of(kbe).keys_ascending(buf, ks, len(ks_keys)) is expect
    assert GenericLoops(kbe).keys_ascending(buf, ks, len(ks_keys)) is expect


@pytest.mark.parametrize("ascending", [True, False])
def test_ascending_keys_into_an_empty_map_skip_the_speculation(kb, monkeypatch, spy, ascending):
    """Ascending distinct keys into an empty map are proven in one pass: contiguous
    parts through the run's program, no speculation; other orders speculate."""
    monkeypatch.setattr(par, "_threads", lambda: 2)
    monkeypatch.setattr(par, "_running_tasks", lambda: 1)
    calls: list = []
    spy(_kprog.ProgApply, "speculate", lambda a, r: calls.append(a[-1]))
    n = 40_000
    order = list(range(n)) if ascending else random.Random(2).sample(range(n), n)
    fd = _create(kb, n)
    try:
        keys = b"".join(_k(i) for i in order)
        r = engine.update_packed(_target(kb, fd), keys, _v(3) * n, parallel=True)
        assert (r.applied, r.parallel) == (n, True)
        assert calls == ([] if ascending else [n])
        assert _contents(kb, fd) == {_k(i): _v(3) for i in range(n)}
    finally:
        os.close(fd)

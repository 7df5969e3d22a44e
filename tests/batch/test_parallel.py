"""Parallel apply of packed upserts (bulk.update_packed / update_many(parallel=True)):
used only where provably identical to the serial apply, exact reports when it fails."""

from __future__ import annotations

import errno
import random

import pytest
from batch_helpers import k8, v32

from bpfmaps import BatchError, Map, MapFlags, MapFullError, UpdateFlags, bulk, engine, parallel
from bpfmaps.engine import FdTarget
from bpfmaps.loops import GenericLoops
from bpfmaps.testing import FakeKernel

N = bulk.PARALLEL_MIN + 1000


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    # the decision must not depend on the CPUs of the test machine
    monkeypatch.setattr(parallel, "_threads", lambda: 2)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)


def contents(m):
    raw = m.raw
    return {k: raw[k] for k in raw}


def packed(n, seed=1, dup=False):
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    if dup:
        idx[-1] = idx[0]
    return b"".join(k8(i) for i in idx), b"".join(v32(i) for i in idx), idx


@pytest.mark.parametrize("mtype", ["hash", "percpu_hash"])
def test_parallel_equals_serial(mk, mtype):
    keys, vals, idx = packed(N)
    a = mk(mtype, 8, 32, N)
    b = mk(mtype, 8, 32, N)
    vbs = a.value_buf_size
    if mtype == "percpu_hash":
        vals = b"".join(v32(i) * (vbs // 32) for i in idx)
    ra = a.raw.update_many(keys, vals, parallel=True)
    rb = b.raw.update_many(keys, vals)
    assert (ra.parallel, rb.parallel) == (True, False)
    assert (ra.applied, rb.applied) == (N, N)
    assert contents(a) == contents(b)
    assert len(contents(a)) == N


@pytest.mark.parametrize(
    "case",
    ["lru", "no_prealloc", "zero_seed", "duplicate", "not_empty", "too_many", "noexist", "small"],
)
def test_parallel_only_when_provably_identical(mk, backend, case):
    """Runs too short for the in-kernel program (BPF_ANY: under PROG_MIN_ANY) take the
    proof path (empty map, distinct keys, room for all); a NOEXIST run of N takes the
    speculative apply on the kernel (tests/batch/test_spec_apply.py), which needs no
    proof."""
    n = N
    mtype, flags, dup = "hash", 0, False
    if case == "lru":
        mtype = "lru_hash"
    elif case == "no_prealloc":
        flags = MapFlags.NO_PREALLOC
    elif case == "zero_seed":
        flags = MapFlags.ZERO_SEED
    elif case == "duplicate":
        dup = True
    elif case == "small":
        n = bulk.PARALLEL_MIN - 1
    keys, vals, idx = packed(n, dup=dup)
    m = mk(mtype, 8, 32, n - 1 if case == "too_many" else n + 1, flags=flags)
    if case == "not_empty":
        m.raw[k8(10**9)] = v32(1)
    kw = {"flags": UpdateFlags.NOEXIST} if case == "noexist" else {}
    if case == "too_many":
        with pytest.raises(BatchError) as ei:
            m.raw.update_many(keys, vals, parallel=True, **kw)
        assert ei.value.applied == n - 1 and ei.value.also_applied == []
        return
    r = m.raw.update_many(keys, vals, parallel=True, **kw)
    speculative = case == "noexist" and not isinstance(backend, FakeKernel)
    assert r.parallel is speculative and r.applied == n
    expect = {k8(i): v32(i) for i in idx}
    if case == "not_empty":
        expect[k8(10**9)] = v32(1)
    if case != "lru":  # LRU maps evict before they are full
        assert contents(m) == expect


def test_parallel_needs_stop_mode(mk):
    m = mk("hash", 8, 32, 10)
    with pytest.raises(ValueError):
        m.raw.update_many(b"", b"", parallel=True, on_error="rollback")


class _ReversedLoops(GenericLoops):
    def update_batch_parts(self, fd, keys, values, ks, vs, parts, elem_flags=0, chunk=8192):
        out = super().update_batch_parts(fd, keys, values, ks, vs, parts[::-1], elem_flags, chunk)
        return out[::-1]


class ReversedFake(FakeKernel):
    """Runs the parts last-first: a legal schedule of the kernel's threads (later
    parts may finish before an earlier one fails)."""

    @property
    def loops(self):
        return _ReversedLoops(self)


def _fail_at(fk, key, err=7):
    fk.inject(err, "map_update_batch", count=1, when=lambda ctx: ctx.key == key)


def test_parallel_failure_in_first_part_reports_later_parts():
    fk = ReversedFake()
    keys, vals, idx = packed(N)
    half = N // 2
    with Map.create("hash", 8, 32, N, backend=fk) as m:
        _fail_at(fk, k8(idx[100]))
        with pytest.raises(BatchError) as ei:
            m.raw.update_many(keys, vals, parallel=True)
        e = ei.value
        assert isinstance(e.__cause__, MapFullError)
        assert (e.index, e.applied, e.key) == (100, 100, k8(idx[100]))
        assert e.also_applied == [(half, N)]
        assert f"also applied #{half}..#{N - 1}" in str(e)
        assert [k for _, _, k in e.not_attempted] == [k8(i) for i in idx[101:half]]
        assert set(contents(m)) == {k8(i) for i in idx[:100] + idx[half:]}


def test_parallel_failure_in_last_part_completes_earlier_parts():
    # the failing part ran first and stopped the others: they are completed in order,
    # so the report is the serial one (a prefix)
    fk = ReversedFake()
    keys, vals, idx = packed(N)
    at = N - 10
    with Map.create("hash", 8, 32, N, backend=fk) as m:
        _fail_at(fk, k8(idx[at]))
        with pytest.raises(BatchError) as ei:
            m.raw.update_many(keys, vals, parallel=True)
        e = ei.value
        assert (e.index, e.applied, e.also_applied) == (at, at, [])
        assert set(contents(m)) == {k8(i) for i in idx[:at]}


@pytest.mark.parametrize("schedule", ["in_order", "reversed"])
def test_parallel_apply_refused_falls_back_to_serial(schedule):
    """No UPDATE_BATCH for the map (EOPNOTSUPP at the first element of every call, as a
    kernel before 5.6 answers): whichever part sees the refusal first stops the others
    before they begin, the parallel apply gives up as a whole, and the serial path
    applies the run element by element, with a serial result."""
    fk = FakeKernel() if schedule == "in_order" else ReversedFake()
    keys, vals, idx = packed(N)
    with Map.create("hash", 8, 32, N, backend=fk) as m:
        fault = fk.inject(
            errno.EOPNOTSUPP, "map_update_batch", count=None, when=lambda c: c.index == 0
        )
        r = m.raw.update_many(keys, vals, parallel=True)
        assert fault.hits == 2  # one part's refusal, then the serial UPDATE_BATCH's
        assert (r.applied, r.parallel, r.fallback) == (N, False, True)
        assert contents(m) == {k8(i): v32(i) for i in idx}


def test_parallel_apply_failing_in_every_part_reports_the_first():
    """Every part fails at its first element: the report is the serial one (operation 0,
    nothing applied, nothing also applied) and the map is unchanged."""
    fk = FakeKernel()
    keys, vals, idx = packed(N)
    with Map.create("hash", 8, 32, N, backend=fk) as m:
        fk.inject(errno.EPERM, "map_update_batch", count=None, when=lambda c: c.index == 0)
        with pytest.raises(BatchError) as ei:
            m.raw.update_many(keys, vals, parallel=True)
        e = ei.value
        assert (e.index, e.applied, e.key, e.also_applied) == (0, 0, k8(idx[0]), [])
        assert isinstance(e.__cause__, PermissionError)
        assert len(e.not_attempted) == N - 1
        assert contents(m) == {}


def test_fd_target_and_keyless_maps(backend):
    # the engine's entry used by the bpftool runner: (backend, fd, info), no codecs;
    # bulk.update_packed forwards a Target to engine.update_packed
    with Map.create("hash", 8, 32, 100, backend=backend) as m:
        t = FdTarget(backend, m.fileno(), m.info, m.value_buf_size)
        r = bulk.update_packed(t, k8(1) + k8(2), v32(1) + v32(2))
        assert r.applied == 2 and contents(m) == {k8(1): v32(1), k8(2): v32(2)}
        m.raw[k8(3)] = v32(3)
        with pytest.raises(BatchError) as ei:
            bulk.update_packed(t, k8(4) + k8(3), v32(4) + v32(3), flags=UpdateFlags.NOEXIST)
        assert (ei.value.applied, ei.value.index, ei.value.key) == (1, 1, k8(3))
    with Map.create("queue", 0, 4, 3, backend=backend) as q:
        t = FdTarget(backend, q.fileno(), q.info, q.value_buf_size)
        with pytest.raises(BatchError) as ei:
            bulk.update_packed(t, None, b"".join(i.to_bytes(4, "little") for i in range(5)))
        assert (ei.value.applied, ei.value.index) == (3, 3)
        assert [q.pop() for _ in range(3)] == [i.to_bytes(4, "little") for i in range(3)]


def test_engine_packed_entries(backend):
    """engine.update_packed / delete_packed: the raw API the bpftool executor uses."""
    with Map.create("hash", 8, 32, 100, backend=backend) as m:
        t = FdTarget(backend, m.fileno(), m.info, m.value_buf_size)
        r = engine.update_packed(t, k8(1) + k8(2) + k8(3), v32(1) + v32(2) + v32(3))
        assert (r.applied, r.total) == (3, 3)
        r = engine.delete_packed(t, k8(1) + k8(3))
        assert r.applied == 2 and contents(m) == {k8(2): v32(2)}
        with pytest.raises(BatchError) as ei:
            engine.delete_packed(t, k8(2) + k8(9) + k8(5))
        e = ei.value
        assert (e.applied, e.index, e.key, e.total) == (1, 1, k8(9), 3)
        assert [k for _, _, k in e.not_attempted] == [k8(5)]
        assert engine.delete_packed(t, k8(9), missing_ok=True).missing == 1
        with pytest.raises(ValueError):
            engine.update_packed(t, k8(1), v32(1) + v32(2))
        with pytest.raises(TypeError):
            engine.update_packed(t, [k8(1)], [v32(1)])

"""update_many / delete_many / lookup_many / pop_many / pop_all / items / clear."""

from __future__ import annotations

import array
import tracemalloc

import numpy as np
import pytest
from batch_helpers import k8, v32

from bpfmaps import BatchError, CodecError, KeyNotFoundError, MapFullError, UpdateFlags, bulk
from bpfmaps.errors import InvalidArgumentError, KeyExistsError


def contents(m):
    """The map's contents through per-element syscalls (independent of the batch path)."""
    raw = m.raw
    return {k: raw[k] for k in raw}


# ------------------------------------------------------------------ input forms
def test_update_many_input_forms(mk):
    m = mk("hash", 8, 32, 1000)
    n = 50
    keys = [k8(i) for i in range(n)]
    vals = [v32(i) for i in range(n)]
    expect = dict(zip(keys, vals))
    for form in (
        lambda: m.update_many(list(zip(keys, vals))),
        lambda: m.update_many(dict(zip(keys, vals))),
        lambda: m.update_many(iter(zip(keys, vals))),
        lambda: m.update_many(keys, vals),
        lambda: m.update_many(tuple(keys), iter(vals)),
        lambda: m.update_many(b"".join(keys), b"".join(vals)),
        lambda: m.update_many(bytearray(b"".join(keys)), memoryview(b"".join(vals))),
        lambda: m.update_many(
            np.arange(n, dtype=np.uint64), np.frombuffer(b"".join(vals), np.uint8)
        ),
        lambda: m.update_many(array.array("Q", range(n)), b"".join(vals)),
        lambda: m.update_many(keys, b"".join(vals)),
    ):
        m.clear()
        assert len(m) == 0
        r = form()
        assert (r.total, r.applied) == (n, n)
        assert contents(m) == expect


def test_update_many_typed_codecs(mk):
    m = mk("hash", 4, 8, 100, key="I", value="<IHH")
    r = m.update_many({i: (i, i + 1, i + 2) for i in range(30)})
    assert r.applied == 30
    assert dict(m.items()) == {i: (i, i + 1, i + 2) for i in range(30)}
    # packed numpy keys for a typed map: native u32 layout
    m.update_many(np.arange(30, 40, dtype=np.uint32), [(7, 7, 7)] * 10)
    assert m[35] == (7, 7, 7)


def test_codec_error_applies_nothing(mk):
    m = mk("hash", 8, 32, 100)
    keys = [k8(i) for i in range(10)]
    vals = [v32(i) for i in range(10)]
    vals[6] = b"short"
    with pytest.raises(CodecError, match="#6"):
        m.update_many(keys, vals)
    assert len(m) == 0
    with pytest.raises(ValueError):
        m.update_many(b"\0" * 15, b"\0" * 64)  # 15 bytes is not a multiple of key_size


@pytest.mark.kernel
def test_packed_update_allocates_no_per_element_objects(kmk):
    # kernel only: the fake copies elements in Python by design
    n = 20000
    m = kmk("hash", 8, 32, n)
    keys = np.arange(n, dtype=np.uint64)
    vals = np.zeros((n, 32), dtype=np.uint8)
    m.update_many(keys, vals)  # warm up caches, codecs
    m.clear()
    tracemalloc.start()
    try:
        m.update_many(keys, vals)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(m) == n
    # one bytes object per element would be >= 33 bytes * n = 660 KB
    assert peak < 64 * 1024, peak


# ------------------------------------------------------------------ failures: exact reports
@pytest.mark.parametrize("fallback", [False, True])
def test_hash_fills_mid_batch(mk, fallback):
    m = mk("hash", 8, 32, 100)
    keys = [k8(i) for i in range(150)]
    vals = [v32(i) for i in range(150)]
    with bulk.forced_fallback(fallback), pytest.raises(BatchError) as ei:
        m.update_many(keys, vals, chunk_size=64)
    e = ei.value
    assert (e.applied, e.index, e.key) == (100, 100, keys[100])
    assert isinstance(e.__cause__, MapFullError)
    assert [k for _op, _m, k in e.not_attempted] == keys[101:]
    assert all(op == "update" and mm is m for op, mm, _k in e.not_attempted)
    assert contents(m) == dict(zip(keys[:100], vals[:100]))


def test_fallback_reports_identical(mk):
    """The forced per-element path and the batch command give the same report."""
    reports = []
    for fb in (False, True):
        m = mk("hash", 8, 32, 10)
        m.update_many([k8(i) for i in range(5)], [v32(i) for i in range(5)])
        ops = [k8(i) for i in (20, 21, 2, 22, 23, 24, 25, 26, 27)]
        with bulk.forced_fallback(fb), pytest.raises(BatchError) as ei:
            m.update_many(ops, [v32(0)] * len(ops))
        e = ei.value
        reports.append(
            (
                e.applied,
                e.index,
                e.key,
                type(e.__cause__),
                [k for *_, k in e.not_attempted],
                contents(m),
            )
        )
    assert reports[0] == reports[1]
    # 5 existing + 20, 21, (2 overwrites), 22, 23, 24 fill the 10 slots; 25 fails
    assert reports[0][:3] == (6, 6, k8(25))


def test_delete_missing_key_stops_with_count(mk):
    m = mk("hash", 8, 32, 100)
    m.update_many([k8(i) for i in range(10)], [v32(i) for i in range(10)])
    with pytest.raises(BatchError) as ei:
        m.delete_many([k8(1), k8(2), k8(50), k8(3), k8(4)])
    e = ei.value
    assert (e.applied, e.index, e.key) == (2, 2, k8(50))
    assert isinstance(e.__cause__, KeyNotFoundError)
    assert [k for *_, k in e.not_attempted] == [k8(3), k8(4)]
    assert sorted(contents(m)) == sorted(k8(i) for i in (0, 3, 4, 5, 6, 7, 8, 9))
    r = m.delete_many([k8(3), k8(50), k8(4), k8(51)], missing_ok=True)
    assert (r.applied, r.missing) == (2, 2)
    assert sorted(contents(m)) == sorted(k8(i) for i in (0, 5, 6, 7, 8, 9))


@pytest.mark.kernel
def test_delete_batch_kernel_count_fact(kernel_backend):
    """Kernel fact the engine relies on: DELETE_BATCH on a missing key returns ENOENT
    with count = keys deleted before it."""
    from bpfmaps import Map

    with Map.create("hash", 8, 8, 10, backend=kernel_backend) as m:
        for i in range(4):
            m[k8(i)] = k8(i)
        rc, cnt = kernel_backend.map_delete_batch(m.fileno(), b"".join(map(k8, (0, 1, 9, 2))), 4)
        assert (rc, cnt) == (-2, 2)
        assert sorted(m) == [k8(2), k8(3)]


def test_continue_attempts_everything(mk):
    m = mk("hash", 8, 32, 10)
    keys = [k8(i) for i in range(20)]
    m.update_many(keys[:8], [v32(i) for i in range(8)])
    ops = keys[5:20]  # 3 overwrites, then 2 inserts fit, 10 fail
    with pytest.raises(BatchError) as ei:
        m.update_many(ops, [v32(100)] * len(ops), on_error="continue")
    e = ei.value
    assert e.applied == 5
    assert [i for i, _k, _x in e.errors] == list(range(5, 15))
    assert [k for _i, k, _x in e.errors] == keys[10:20]
    assert all(isinstance(x, MapFullError) for *_, x in e.errors)
    assert e.not_attempted == []
    assert isinstance(e.__cause__, MapFullError)
    got = contents(m)
    assert sorted(got) == keys[:10]
    assert all(got[k] == v32(100) for k in keys[5:10])


@pytest.mark.parametrize("fallback", [False, True])
def test_rollback_restores(mk, fallback):
    m = mk("hash", 8, 32, 6)
    m.update_many([k8(i) for i in range(4)], [v32(i) for i in range(4)])
    before = contents(m)
    ops = [k8(1), k8(10), k8(1), k8(11), k8(12)]  # overwrite, create, overwrite again, create, full
    with bulk.forced_fallback(fallback), pytest.raises(BatchError) as ei:
        m.update_many(ops, [v32(50 + i) for i in range(5)], on_error="rollback")
    e = ei.value
    assert (e.applied, e.index, e.rolled_back) == (4, 4, True)
    assert isinstance(e.__cause__, MapFullError)
    assert contents(m) == before


def test_rollback_percpu(mk, backend):
    m = mk("percpu_hash", 4, 4, 3, key="I", value="I")
    n = m.ncpus
    m[1] = list(range(n))
    with pytest.raises(BatchError) as ei:
        m.update_many({1: [9] * n, 2: [8] * n, 3: [7] * n, 4: [6] * n}, on_error="rollback")
    assert ei.value.rolled_back and ei.value.applied == 3
    assert dict(m.items()) == {1: list(range(n))}


def test_noexist_flag_uses_element_loop(mk):
    m = mk("hash", 8, 32, 100)
    m[k8(3)] = v32(3)
    keys = [k8(i) for i in range(6)]
    with pytest.raises(BatchError) as ei:
        m.update_many(keys, [v32(9)] * 6, flags=UpdateFlags.NOEXIST)
    e = ei.value
    assert (e.applied, e.index, e.key) == (3, 3, k8(3))
    assert isinstance(e.__cause__, KeyExistsError)
    assert contents(m) == {**{k8(i): v32(9) for i in range(3)}, k8(3): v32(3)}
    r = m.update_many(keys[:3], [v32(1)] * 3, flags=UpdateFlags.EXIST)
    assert r.applied == 3 and m.raw[k8(0)] == v32(1)


def test_delete_on_array_reports_einval(mk):
    m = mk("array", 4, 8, 4, key="I")
    with pytest.raises(BatchError) as ei:
        m.delete_many([0, 1])
    assert ei.value.applied == 0 and ei.value.index == 0
    assert isinstance(ei.value.__cause__, InvalidArgumentError)


# ------------------------------------------------------------------ reads
def test_lookup_many_and_pop_many(mk):
    m = mk("hash", 8, 8, 100, key="Q", value="Q")
    m.update_many({i: i * 10 for i in range(20)})
    assert m.lookup_many([3, 1, 19]) == [30, 10, 190]
    assert m.lookup_many([3, 77, 1], default=-1) == [30, -1, 10]
    with pytest.raises(BatchError) as ei:
        m.lookup_many([3, 77, 1, 78])
    e = ei.value
    assert (e.index, e.key, e.applied) == (1, 77, 2)
    assert [i for i, *_ in e.errors] == [1, 3]
    assert e.results == [30, None, 10, None]
    assert m.pop_many([4, 5, 99], default=None) == [40, 50, None]
    assert 4 not in m and 5 not in m and len(m) == 18
    with pytest.raises(BatchError) as ei:
        m.pop_many([6, 98, 7])
    assert ei.value.results == [60, None, 70]
    assert 6 not in m and 7 not in m


@pytest.mark.parametrize("fallback", [False, True])
@pytest.mark.parametrize("batch_size", [None, 1, 3, 64])
def test_items_streams_everything(mk, fallback, batch_size):
    m = mk("hash", 8, 32, 500)
    expect = {k8(i): v32(i) for i in range(300)}
    m.update_many(expect)
    with bulk.forced_fallback(fallback):
        got = list(m.items(batch_size=batch_size))
        vals = list(bulk.iter_values(m, batch_size=batch_size))
    assert len(got) == 300 and dict(got) == expect  # batch_size=1 needs ENOSPC growth
    assert sorted(vals) == sorted(expect.values())


@pytest.mark.parametrize("fallback", [False, True])
def test_items_percpu_and_array(mk, fallback):
    pc = mk("percpu_hash", 4, 4, 64, key="I", value="I")
    n = pc.ncpus
    pc.update_many({i: [i + c for c in range(n)] for i in range(40)})
    arr = mk("percpu_array", 4, 12, 8, key="I", value="<III")
    arr.update_many({i: [(i, c, 0) for c in range(n)] for i in range(8)})
    a2 = mk("array", 4, 8, 10, key="I", value="Q")
    a2.update_many(np.arange(10, dtype=np.uint32), np.arange(10, dtype=np.uint64) * 3)
    with bulk.forced_fallback(fallback):
        assert dict(pc.items(batch_size=7)) == {i: [i + c for c in range(n)] for i in range(40)}
        assert dict(arr.items(batch_size=3)) == {i: [(i, c, 0) for c in range(n)] for i in range(8)}
        assert dict(a2.items(batch_size=4)) == {i: 3 * i for i in range(10)}


@pytest.mark.parametrize("fallback", [False, True])
def test_pop_all_and_clear(mk, fallback):
    m = mk("lru_hash", 8, 32, 200)
    expect = {k8(i): v32(i) for i in range(150)}
    m.update_many(expect)
    with bulk.forced_fallback(fallback):
        got = m.pop_all(batch_size=16)
        assert dict(got) == expect and len(got) == 150
        assert len(m) == 0
        m.update_many(expect)
        m.clear()
        assert len(m) == 0
    a = mk("array", 4, 8, 5, key="I", value="Q")
    a.update_many({i: i + 1 for i in range(5)})
    a.clear()
    assert dict(a.items()) == {i: 0 for i in range(5)}


# ------------------------------------------------------------------ types without batch support
def test_prog_array_runs_element_loop(mk, backend):
    """Prog arrays have no batch commands (524): the same calls run the C loop, with
    the same stop rule and report."""
    from bpfmaps import Program

    pa = mk("prog_array", 4, 4, 4, key="I")
    with Program.load_trivial(backend=backend) as p1, Program.load_trivial(backend=backend) as p2:
        r = pa.update_many({0: p1, 2: p2})
        assert r.applied == 2 and r.fallback
        assert dict(pa.items(batch_size=1)) == {0: p1.id, 2: p2.id}
        with pytest.raises(BatchError) as ei:
            pa.update_many({1: p1, 7: p2, 3: p2})
        e = ei.value
        assert (e.applied, e.index, e.key) == (1, 1, 7)
        assert isinstance(e.__cause__, MapFullError)
        assert e.not_attempted == [("update", pa, 3)]
        assert dict(pa.items()) == {0: p1.id, 1: p1.id, 2: p2.id}
        with pytest.raises(BatchError) as ei:
            pa.delete_many([1, 3, 0])
        assert (ei.value.applied, ei.value.index) == (1, 1)
        assert isinstance(ei.value.__cause__, KeyNotFoundError)
        assert dict(pa.items()) == {0: p1.id, 2: p2.id}
        # rollback restores prog-array slots by reopening the programs by id
        with pytest.raises(BatchError) as ei:
            pa.update_many({0: p2, 1: p1, 9: p1}, on_error="rollback")
        assert ei.value.rolled_back and ei.value.applied == 2
        assert dict(pa.items()) == {0: p1.id, 2: p2.id}
        pa.clear()
        assert dict(pa.items()) == {}


def test_old_kernel_einval_falls_back():
    """A kernel before 5.6 answers EINVAL to every batch command (emulated by the fake)."""
    from bpfmaps import Map
    from bpfmaps.testing import FakeKernel

    be = FakeKernel(batch_ops=False)
    with Map.create("hash", 8, 32, 10, backend=be) as m:
        with pytest.raises(BatchError) as ei:
            m.update_many([k8(i) for i in range(12)], [v32(i) for i in range(12)])
        assert (ei.value.applied, ei.value.index) == (10, 10)
        assert isinstance(ei.value.__cause__, MapFullError)
        assert dict(m.items()) == {k8(i): v32(i) for i in range(10)}
        assert len(m.pop_all()) == 10

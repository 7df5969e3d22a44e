"""m.batch() and bpfmaps.batch(): program order, exact reports, nothing applied on exceptions."""

from __future__ import annotations

import pytest
from batch_helpers import k8, v32

import bpfmaps
from bpfmaps import (
    BatchError,
    CodecError,
    KeyExistsError,
    KeyNotFoundError,
    MapFullError,
    UpdateFlags,
    bulk,
)


def contents(m):
    raw = m.raw
    return {k: raw[k] for k in raw}


@pytest.mark.parametrize("fallback", [False, True])
def test_program_order(mk, fallback):
    m = mk("hash", 8, 32, 100)
    with bulk.forced_fallback(fallback), m.batch() as b:
        for i in range(10):
            b[k8(i)] = v32(i)
        del b[k8(3)]
        b[k8(3)] = v32(33)  # after the delete: must exist at the end
        b[k8(4)] = v32(44)
        del b[k8(4)]  # after the upsert: must be gone
        b.update(k8(50), v32(50), flags=UpdateFlags.NOEXIST)
        b.update(k8(5), v32(55), flags=UpdateFlags.EXIST)
        b[k8(6)] = v32(1)
        b[k8(6)] = v32(2)
    expect = {k8(i): v32(i) for i in range(10)}
    expect.update({k8(3): v32(33), k8(50): v32(50), k8(5): v32(55), k8(6): v32(2)})
    del expect[k8(4)]
    assert contents(m) == expect
    assert b.result.applied == b.result.total == 18


def test_exception_in_block_applies_nothing(mk):
    m = mk("hash", 8, 32, 100)
    m[k8(1)] = v32(1)
    with pytest.raises(RuntimeError), m.batch() as b:
        b[k8(2)] = v32(2)
        del b[k8(1)]
        raise RuntimeError("user code failed")
    assert contents(m) == {k8(1): v32(1)}


def test_codec_error_at_flush_applies_nothing(mk):
    m = mk("hash", 8, 8, 100, key="Q", value="Q")
    with pytest.raises(CodecError), m.batch() as b:
        b[1] = 1
        b[2] = "not an int"
    assert len(m) == 0


def test_noexist_conflict_in_the_middle(mk):
    m = mk("hash", 8, 32, 100)
    m[k8(5)] = v32(5)
    with pytest.raises(BatchError) as ei, m.batch() as b:
        b[k8(1)] = v32(1)
        b[k8(2)] = v32(2)
        b.update(k8(5), v32(99), flags=UpdateFlags.NOEXIST)
        b[k8(3)] = v32(3)
        del b[k8(1)]
    e = ei.value
    assert (e.applied, e.index, e.key) == (2, 2, k8(5))
    assert isinstance(e.__cause__, KeyExistsError)
    assert e.not_attempted == [("update", m, k8(3)), ("delete", m, k8(1))]
    assert contents(m) == {k8(1): v32(1), k8(2): v32(2), k8(5): v32(5)}


def test_delete_of_missing_key_in_batch(mk):
    m = mk("hash", 8, 32, 100)
    with pytest.raises(BatchError) as ei, m.batch() as b:
        b[k8(1)] = v32(1)
        del b[k8(1)]
        del b[k8(7)]
        b[k8(2)] = v32(2)
    e = ei.value
    assert (e.applied, e.index, e.key) == (2, 2, k8(7))
    assert isinstance(e.__cause__, KeyNotFoundError)
    assert contents(m) == {}


def test_map_fills_mid_batch_rollback_and_continue(mk):
    m = mk("hash", 8, 32, 4)
    m[k8(0)] = v32(0)
    with pytest.raises(BatchError) as ei, m.batch(on_error="rollback") as b:
        b[k8(0)] = v32(100)
        for i in range(1, 6):
            b[k8(i)] = v32(i)
    assert (ei.value.applied, ei.value.index, ei.value.rolled_back) == (4, 4, True)
    assert isinstance(ei.value.__cause__, MapFullError)
    assert contents(m) == {k8(0): v32(0)}
    with pytest.raises(BatchError) as ei, m.batch(on_error="continue") as b:
        for i in range(1, 6):
            b[k8(i)] = v32(i)
        del b[k8(0)]
        b[k8(9)] = v32(9)
    e = ei.value
    assert [i for i, *_ in e.errors] == [3, 4]
    assert e.applied == 5
    assert contents(m) == {k8(i): v32(i) for i in (1, 2, 3, 9)}


def test_auto_flush_and_flush(mk):
    m = mk("hash", 8, 32, 1000)
    with m.batch(auto_flush=10) as b:
        for i in range(25):
            b[k8(i)] = v32(i)
            if i == 24:
                assert len(b) == 5 and len(m) == 20  # two auto-flushes happened
    assert len(m) == 25
    with pytest.raises(RuntimeError), m.batch() as b:
        b[k8(100)] = v32(0)
        r = b.flush()
        assert r.applied == 1
        b[k8(101)] = v32(0)
        raise RuntimeError
    assert k8(100) in m and k8(101) not in m


def test_indices_count_across_flushes(mk):
    m = mk("hash", 8, 32, 1000)
    with pytest.raises(BatchError) as ei, m.batch(auto_flush=4) as b:
        for i in range(6):
            b[k8(i)] = v32(i)
        del b[k8(77)]
    assert ei.value.index == 6 and ei.value.applied == 2  # in its flush: 4, 5 applied


def test_cross_map_auto_flush(mk):
    m1 = mk("hash", 8, 32, 100)
    m2 = mk("hash", 8, 32, 100)
    with bpfmaps.batch(auto_flush=4) as tx:
        for i in range(10):
            tx[m1 if i % 2 else m2][k8(i)] = v32(i)
            if i == 8:  # 9 operations so far: two flushes of 4, one pending
                assert len(tx) == 1 and len(m1) + len(m2) == 8
        del tx[m1][k8(1)]  # the 11th operation
    assert contents(m1) == {k8(i): v32(i) for i in (3, 5, 7, 9)}
    assert contents(m2) == {k8(i): v32(i) for i in (0, 2, 4, 6, 8)}
    assert tx.result.applied == 11
    with pytest.raises(ValueError):
        bpfmaps.batch(auto_flush=0)


def test_cross_map_program_order(mk):
    m1 = mk("hash", 8, 32, 100)
    m2 = mk("array", 4, 8, 4, key="I", value="Q")
    with bpfmaps.batch() as tx:
        tx[m1][k8(1)] = v32(1)
        tx[m2][0] = 10
        tx[m1][k8(2)] = v32(2)
        del tx[m1][k8(1)]
        tx[m2][1] = 11
        b1 = tx[m1]
        b1[k8(1)] = v32(111)
    assert contents(m1) == {k8(1): v32(111), k8(2): v32(2)}
    assert m2[0] == 10 and m2[1] == 11
    assert tx.result.applied == 6


def test_cross_map_failure_report_and_rollback(mk):
    m1 = mk("hash", 8, 32, 100)
    m2 = mk("array", 4, 8, 4, key="I", value="Q")
    m2[3] = 3
    for mode in ("stop", "rollback"):
        with pytest.raises(BatchError) as ei, bpfmaps.batch(on_error=mode) as tx:
            tx[m1][k8(1)] = v32(1)
            tx[m2][3] = 30
            tx[m1][k8(2)] = v32(2)
            tx[m2][9] = 5  # index out of range: E2BIG
            tx[m1][k8(3)] = v32(3)
        e = ei.value
        assert (e.applied, e.index, e.key) == (3, 3, 9)
        assert isinstance(e.__cause__, MapFullError)
        assert e.not_attempted == [("update", m1, k8(3))]
        if mode == "stop":
            assert contents(m1) == {k8(1): v32(1), k8(2): v32(2)} and m2[3] == 30
            m1.clear()
            m2[3] = 3
        else:
            assert e.rolled_back
            assert contents(m1) == {} and m2[3] == 3


def test_batch_function_survives_submodule_import():
    import bpfmaps.batching as mod

    assert bpfmaps.batch is mod.batch
    assert isinstance(bpfmaps.batch(), mod.Transaction)

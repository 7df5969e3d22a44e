"""Map.sync on the fake and the real kernel: counts, final contents, packed input,
failure reports (BatchError rules), rollback, and the C diff against the reference."""

from __future__ import annotations

import array
import random

import pytest

from bpfmaps import Map, UpdateFlags
from bpfmaps.codecs import U32, U64
from bpfmaps.errors import BatchError, CodecError
from bpfmaps.sync import SyncError, SyncResult, plan_py


def mk(backend, type_="hash", n=64, **kw):
    return Map.create(type_, 4, 8, n, backend=backend, key=U32, value=U64, **kw)


def test_counts_and_contents(backend):
    with mk(backend) as m:
        m.update({1: 10, 2: 20, 3: 30, 4: 40})
        r = m.sync({2: 20, 3: 33, 5: 50})
        assert r == SyncResult(added=1, changed=1, removed=2, unchanged=1)
        assert (r.added, r.changed, r.removed, r.unchanged, r.writes) == (1, 1, 2, 1, 4)
        assert dict(m.items()) == {2: 20, 3: 33, 5: 50}
        assert m.sync({2: 20, 3: 33, 5: 50}) == (0, 0, 0, 3)  # nothing to do
        assert m.sync([(7, 1), (7, 2)], delete_extra=False) == (1, 0, 0, 0)  # last wins
        assert m[7] == 2 and len(m) == 4
        assert m.sync({}) == (0, 0, 4, 0) and len(m) == 0


def test_dry_run_writes_nothing(backend):
    with mk(backend) as m:
        m.update({1: 1, 2: 2})
        assert m.sync({2: 3, 9: 9}, dry_run=True) == (1, 1, 1, 0)
        assert dict(m.items()) == {1: 1, 2: 2}


def test_packed_input(backend):
    with mk(backend, n=5000) as m:
        m.update_many(array.array("I", range(4000)), array.array("Q", range(4000)))
        keys = array.array("I", range(1000, 5000))
        vals = array.array("Q", (k if k % 10 else k + 1 for k in keys))
        r = m.sync(keys, vals)
        assert r == (1000, 300, 1000, 2700)
        assert dict(m.items()) == dict(zip(keys, vals))


def test_arrays_zero_unwanted_slots(backend):
    with mk(backend, "array", n=8) as a:
        a[1], a[6] = 5, 9
        r = a.sync({1: 5, 2: 7})
        assert r == SyncResult(added=0, changed=1, removed=1, unchanged=1)
        assert [v for _, v in a.items()] == [0, 5, 7, 0, 0, 0, 0, 0]


def test_percpu(backend):
    with Map.create("percpu_hash", 4, 8, 16, backend=backend, key=U32, value=U64) as m:
        n = m.ncpus
        m[1] = [1] * n
        m[2] = [2] * n
        assert m.sync({1: [1] * n, 2: list(range(n)), 3: [3] * n}) == (1, 1, 0, 1)
        assert m[2] == list(range(n))


def test_codec_error_before_any_write(backend):
    with mk(backend) as m:
        m[1] = 1
        with pytest.raises(CodecError, match="desired value #1"):
            m.sync({2: 2, 3: -1})
        assert dict(m.items()) == {1: 1}
        with pytest.raises(TypeError, match="not a \\(key, value\\) pair"):
            m.sync([(1, 2, 3)])


def test_refuses_fd_maps(backend):
    with (
        Map.create("prog_array", 4, 4, 4, backend=backend) as pa,
        pytest.raises(TypeError, match="object fds"),
    ):
        pa.sync({})


def _full_map(backend):
    m = mk(backend, n=4)
    m.update({1: 1, 2: 2, 3: 3, 4: 4})
    return m


def test_failure_report_is_exact(backend):
    with _full_map(backend) as m:
        # keep 1..4 (one changed), add 5 and 6: the map is full at the first add
        with pytest.raises(SyncError) as ei:
            m.sync({1: 1, 2: 22, 3: 3, 4: 4, 5: 5, 6: 6}, delete_extra=False)
        e = ei.value
        assert isinstance(e, BatchError)
        assert e.phase == "update" and e.index == 1 and e.key == 5 and e.applied == 1
        assert e.result == SyncResult(added=0, changed=1, removed=0, unchanged=3)
        assert e.planned == SyncResult(added=2, changed=1, removed=0, unchanged=3)
        assert e.__cause__ is not None and e.__cause__.errno == 7  # E2BIG: map full
        assert dict(m.items()) == {1: 1, 2: 22, 3: 3, 4: 4}  # exactly what it says


def test_deletes_first_make_room(backend):
    with _full_map(backend) as m:
        assert m.sync({5: 5, 6: 6, 1: 1}) == (2, 0, 3, 1)
        assert dict(m.items()) == {1: 1, 5: 5, 6: 6}


def test_frozen_map_fails_at_first_op(backend):
    with mk(backend) as m:
        m.update({1: 1, 2: 2})
        m.freeze()
        with pytest.raises(SyncError) as ei:
            m.sync({2: 3})
        e = ei.value
        assert (e.phase, e.index, e.applied, e.key) == ("delete", 0, 0, 1)
        assert e.result == (0, 0, 0, 0)
        assert dict(m.items()) == {1: 1, 2: 2}


def test_rollback_restores(backend):
    with _full_map(backend) as m:
        with pytest.raises(SyncError) as ei:
            m.sync({1: 11, 2: 2, 5: 5, 6: 6, 7: 7}, on_error="rollback")
        # deletes 3, 4; changes 1; adds 5, 6; 7 fails (full)
        e = ei.value
        assert e.rolled_back and e.applied == 0 and e.phase == "update" and e.key == 7
        assert dict(m.items()) == {1: 1, 2: 2, 3: 3, 4: 4}


def test_continue_attempts_everything(backend):
    with _full_map(backend) as m:
        with pytest.raises(SyncError) as ei:
            m.sync({1: 1, 2: 2, 3: 3, 4: 40, 5: 5, 6: 6, 7: 7}, on_error="continue")
        e = ei.value
        assert [i for i, _k, _x in e.errors] == [1, 2, 3] and e.applied == 1
        assert e.result == SyncResult(added=0, changed=1, removed=0, unchanged=3)
        assert dict(m.items()) == {1: 1, 2: 2, 3: 3, 4: 40}


def test_random_against_model(backend):
    rng = random.Random(7)
    with mk(backend, n=300) as m:
        for _ in range(25):
            cur = {rng.randrange(400): rng.randrange(4) for _ in range(rng.randrange(250))}
            m.sync(cur)
            assert dict(m.items()) == cur
            want = {rng.randrange(400): rng.randrange(4) for _ in range(rng.randrange(250))}
            model = (
                sum(k not in cur for k in want),
                sum(k in cur and cur[k] != v for k, v in want.items()),
                sum(k not in want for k in cur),
                sum(cur.get(k, -1) == v for k, v in want.items()),
            )
            assert m.sync(want) == model
            assert dict(m.items()) == want


@pytest.mark.kernel
def test_c_plan_equals_reference():
    from bpfmaps.backend import kernel_backend

    be = kernel_backend()
    rng = random.Random(3)
    for _ in range(200):
        ks, vs = rng.choice([(1, 1), (4, 8), (3, 5), (16, 2)])
        zero = rng.random() < 0.3
        nc, nw = rng.randrange(60), rng.randrange(60)
        cur_keys = list({bytes(rng.randrange(3) for _ in range(ks)) for _ in range(nc)})
        nc = len(cur_keys)
        ck = b"".join(cur_keys)
        cv = b"".join(bytes(rng.randrange(2) for _ in range(vs)) for _ in range(nc))
        wk = b"".join(bytes(rng.randrange(3) for _ in range(ks)) for _ in range(nw))  # dups
        wv = b"".join(bytes(rng.randrange(2) for _ in range(vs)) for _ in range(nw))
        ref = plan_py(ck, cv, nc, wk, wv, nw, ks, vs, zero)
        got = be.sync_plan(be.sync_index(wk, nw, ks), ck, cv, nc, wv, nw, vs, zero)
        assert list(memoryview(got[0]).cast("I")) == list(ref[0])
        assert bytes(got[1]) == ref[1]
        assert sorted(memoryview(got[2]).cast("I")) == sorted(ref[2])
        assert got[3] == ref[3]


def test_update_flags_untouched(backend):
    # sync never uses NOEXIST/EXIST: a plain upsert for new and changed entries
    with mk(backend) as m:
        m.update({1: 1}, flags=UpdateFlags.NOEXIST)
        assert m.sync({1: 2}) == (0, 1, 0, 0)

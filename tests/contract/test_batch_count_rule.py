"""UPDATE_BATCH count rule on both backends, serial and parallel apply (issue 9, item 1).

The kernel writes ``count`` back when a failure happens inside its element loop
(``count`` = elements applied before the failing one) and leaves it untouched when
the call fails before the loop (EPERM: frozen map or read-only fd; EINVAL flags).
A failing call therefore never applied all of its elements: every layer (the C
parallel apply, the serial engine, the fake) must read "count unchanged" as
"nothing applied".
"""

from __future__ import annotations

import errno
import random
import threading
import time

import pytest

from bpfmaps import BatchError, Map, PermissionDeniedError, bulk, chunks, engine, parallel

N = 8192


def k8(i: int) -> bytes:
    return i.to_bytes(8, "little")


def v32(i: int) -> bytes:
    return i.to_bytes(4, "little") * 8


def packed(n: int, seed: int = 3):
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return b"".join(map(k8, idx)), b"".join(map(v32, idx)), idx


@pytest.fixture
def spy_parallel(monkeypatch):
    """Two threads whatever the machine; counts parallel applies actually attempted."""
    monkeypatch.setattr(parallel, "_threads", lambda: 2)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now
    calls = []
    real = engine._apply_parallel

    def spy(c, *args):
        calls.append(c.n)
        return real(c, *args)

    monkeypatch.setattr(engine, "_apply_parallel", spy)
    return calls


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("how", ["frozen", "readonly"])
def test_update_batch_on_unwritable_map_applies_nothing(backend, spy_parallel, how, parallel):
    keys, vals, idx = packed(N)
    with Map.create("hash", 8, 32, N, backend=backend) as m:
        if how == "frozen":
            m.freeze()
            target = m
        else:
            target = Map.from_id(m.info.id, readonly=True, backend=backend)
        try:
            with pytest.raises(BatchError) as ei:
                target.raw.update_many(keys, vals, parallel=parallel)
        finally:
            if target is not m:
                target.close()
        e = ei.value
        assert isinstance(e.__cause__, PermissionDeniedError)
        assert (e.applied, e.index, e.key) == (0, 0, k8(idx[0]))
        assert getattr(e, "also_applied", []) == []
        assert len(e.not_attempted) == N - 1
        assert len(m) == 0
    assert spy_parallel == ([N] if parallel else [])


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_update_packed_raw_target_frozen(backend, spy_parallel, parallel):
    # the bpftool runner's entry (engine.FdTarget); a single part that fails early must
    # not report index == n (that crashed the runner)
    keys, vals, _ = packed(N)
    with Map.create("hash", 8, 32, N, backend=backend) as m:
        m.freeze()
        t = engine.FdTarget(backend, m.fileno(), m.info, m.value_buf_size)
        with pytest.raises(BatchError) as ei:
            bulk.update_packed(t, keys, vals, parallel=parallel)
        assert (ei.value.applied, ei.value.index) == (0, 0)


@pytest.mark.kernel
def test_parallel_apply_frozen_midway_report_equals_contents(kernel_backend, monkeypatch):
    """Another thread freezes the map while the parallel apply runs (the C calls
    release the GIL): whatever the interleaving, the report (applied prefix plus
    also_applied ranges) names exactly the keys in the map."""
    monkeypatch.setattr(parallel, "_threads", lambda: 2)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now
    monkeypatch.setattr(chunks, "CALL_CHUNK", 512)
    n = 1 << 16
    keys, vals, idx = packed(n, seed=11)
    for attempt in range(6):
        with Map.create("hash", 8, 32, n, backend=kernel_backend) as m:
            start = threading.Event()

            def freezer(m=m, start=start, delay=attempt * 0.0004):
                start.wait()
                time.sleep(delay)
                # FREEZE answers EBUSY while a write is in flight: retry until it
                # lands between two UPDATE_BATCH calls (or the apply is over)
                for _ in range(100_000):
                    if kernel_backend.map_freeze(m.fileno()) != -errno.EBUSY:
                        break

            t = threading.Thread(target=freezer)
            t.start()
            start.set()
            try:
                res = m.raw.update_many(keys, vals, parallel=True)
                applied = set(range(res.applied))
            except BatchError as e:
                assert isinstance(e.__cause__, PermissionDeniedError)
                applied = set(range(e.applied))
                for a, b in e.also_applied:
                    applied.update(range(a, b))
                assert e.index not in applied
            t.join()
            got = {int.from_bytes(k, "little") for k in m.raw}
            assert got == {idx[i] for i in applied}

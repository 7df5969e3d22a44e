"""``m.batch()`` on a raw map packs ``b[k] = v`` into blocks (``bpfmaps/_pack.c``: 1024,
1024, 2048, 4096, then 8192 pairs each, never reallocated), and the flush cuts its
chunks from them (``batching._packed_chunks``: a view of one block, or the join of the
pieces when a chunk spans blocks).  Long batches, across every block boundary, with
deletes, flagged updates, out-of-range keys and a pair that stops the packing,
against the reference: the same operations through a batch that buffers in Python
lists, with the in-kernel program switched off, so the flush is UPDATE_BATCH (and
the per-element loop where that is the rule): the same contents, results and
failure reports (hypothesis, real kernel).  And the benchmark's shape takes the fast
path: packed to the end, chunks that are views of the blocks, the storing program."""

from __future__ import annotations

import random
from typing import Any

import pytest
from batch_helpers import batch_error_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import BatchError, Map, UpdateFlags, _kloops, _kprog, engine
from bpfmaps.batching import MapBatch

pytestmark = pytest.mark.kernel

M = 12000  # max_entries of every map here
_EVENTS = ["del", "noexist", "exist", "far", "spill"]


@st.composite
def _plans(draw: Any) -> tuple[int, int, list[tuple[int, str]]]:
    # sizes around the block boundaries (1024, 2048, 4096, 8192, 16384 pairs) and beyond
    n = draw(
        st.one_of(
            st.sampled_from([1023, 1024, 1025, 2048, 4097, 8191, 8192, 8193, 16384, 16385]),
            st.integers(0, 20000),
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    at = st.integers(0, max(n - 1, 0))
    events = draw(st.lists(st.tuples(at, st.sampled_from(_EVENTS)), max_size=4)) if n else []
    return n, seed, events


def _ops(n: int, seed: int, events: list[tuple[int, str]], mtype: str) -> list[tuple]:
    rnd = random.Random(seed)
    span = M if mtype == "array" else M + M // 5  # hash: the map can fill up
    ops: list[tuple] = [("set", rnd.randrange(span), rnd.randrange(256)) for _ in range(n)]
    for i, what in events:
        k, v = ops[i][1], ops[i][2]
        ops[i] = (what, M + 3 if what == "far" else k, v)
    return ops


def _apply(m: Map, ops: list[tuple], on_error: str, cs: Any, reference: bool) -> tuple:
    raw = m.raw
    try:
        with m.batch(
            on_error=on_error, chunk_size=cs, auto_flush=10**9 if reference else None
        ) as b:
            assert (type(b) is MapBatch) is not reference
            for op, k, v in ops:
                key = k.to_bytes(4, "little")
                val = bytes([v]) * 32
                if op in ("set", "far"):
                    b[key] = val
                elif op == "spill":
                    b[key] = bytearray(val)  # not exact bytes: the packing stops here
                elif op == "del":
                    del b[key]
                else:
                    b.update(
                        key, val, UpdateFlags.NOEXIST if op == "noexist" else UpdateFlags.EXIST
                    )
        r = b.result
        out: tuple = ("ok", r.applied, r.total, r.fallback)
    except BatchError as e:
        out = batch_error_report(e)
    return out, {bytes(k): bytes(v) for k, v in raw.items()}


@pytest.mark.parametrize("mtype", ["array", "hash"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=_plans(),
    on_error=st.sampled_from(["stop", "stop", "continue", "rollback"]),
    cs=st.sampled_from([None, None, 1000, 3000, 8192]),
    pre=st.booleans(),
)
def test_packed_blocks_match_the_update_batch_path(kernel_backend, mtype, plan, on_error, cs, pre):
    n, seed, events = plan
    ops = _ops(n, seed, events, mtype)
    results = []
    for reference in (False, True):
        m = Map.create(mtype, 4, 32, M, backend=kernel_backend)
        try:
            if pre:  # a populated map: replacements, and a hash map that fills up sooner
                m.update_many(
                    [i.to_bytes(4, "little") for i in range(0, M, 3)],
                    [bytes([i & 0xFF]) * 32 for i in range(0, M, 3)],
                )
            with pytest.MonkeyPatch.context() as mp:
                if reference:  # no in-kernel program: UPDATE_BATCH / the per-element loop
                    mp.setattr(_kloops, "PROG_MIN_ANY", 10**12)
                    mp.setattr(_kloops, "PROG_MIN_FLAGS", 10**12)
                results.append(_apply(m, ops, on_error, cs, reference))
        finally:
            m.close()
    assert results[0] == results[1]


def test_benchmark_shape_takes_the_fast_path(kernel_backend, monkeypatch):
    """bench_batch.py's batch_ctx on an array (key 4, value 32, exact bytes, the default
    chunk): every pair stays packed, every chunk after the first is a view of one block
    (the first joins the four small blocks: 288 KiB), and one storing program applies
    them all."""
    n = 5 * 8192 + 321
    chunks: list[Any] = []
    progs: list[Any] = []
    parts = []
    real_run, real_open, real_part = engine.run, _kprog.open_for, _kprog.ProgApply.part

    def run(cs, *a, **kw):
        cs = list(cs)
        chunks.extend(cs)
        return real_run(cs, *a, **kw)

    def open_for(*a, **kw):
        p = real_open(*a, **kw)
        progs.append(p)
        return p

    def part(self, *a, **kw):
        parts.append(a[4])
        return real_part(self, *a, **kw)

    import bpfmaps.batching as batching

    monkeypatch.setattr(batching, "run", run)
    monkeypatch.setattr(_kprog, "open_for", open_for)
    monkeypatch.setattr(_kprog.ProgApply, "part", part)
    keys = [i.to_bytes(4, "little") for i in range(n)]
    vals = [bytes([i & 0xFF]) * 32 for i in range(n)]
    with Map.create("array", 4, 32, n, backend=kernel_backend) as m:
        with m.batch() as b:
            for k, v in zip(keys, vals):
                b[k] = v
            assert b._packing and b._pk_n == n and not b._keys
        assert b.result.applied == n and not b.result.fallback
        assert [c.n for c in chunks] == [8192] * 5 + [321]
        assert all(type(c.kbuf) is memoryview and type(c.vbuf) is memoryview for c in chunks[1:])
        assert type(chunks[0].kbuf) is bytes and len(chunks[0].vbuf) == 8192 * 32
        assert len(progs) == 1 and progs[0] is not None and progs[0].store
        assert parts == [c.n for c in chunks]
        assert m.raw[keys[-1]] == vals[-1] and m.raw[keys[8192]] == vals[8192]


@pytest.mark.parametrize(
    "cs, sizes",
    [
        (None, [1024, 1024, 2048, 4096, 8192, 8192, 5]),
        (3000, [1024, 1024, 952] + [3000] * 7 + [581]),
        (100, [1024, 76] + [1100] * 21 + [381]),  # whole chunks, at least 1024 pairs
    ],
)
def test_blocks_are_whole_chunks(kernel_backend, cs, sizes):
    """Blocks of the chunk size (at least 1024 pairs: a multiple of it), the first
    ``block`` pairs in blocks doubling from 1024, the last cut to what it holds: every
    later block starts at a multiple of the block size, so a chunk is one block."""
    n = 3 * 8192 + 5
    assert sum(sizes) == n
    with Map.create("array", 4, 32, 8, backend=kernel_backend) as m:
        b = m.batch(chunk_size=cs)
        for i in range(n):
            b[(i % 8).to_bytes(4, "little")] = bytes(32)
        kbl, vbl, got = b._pk_take()
        assert got == n
        assert [len(x) // 4 for x in kbl] == sizes
        assert [len(x) // 32 for x in vbl] == sizes
        assert b._pk_take() == ([], [], 0)


def test_a_negative_chunk_size_is_refused(kernel_backend):
    """A negative chunk_size is a ValueError when the batch is made (raw or typed map,
    one map or several; it applied nothing and reported success before); 0 and None
    mean the default."""
    import bpfmaps

    with Map.create("array", 4, 32, 8, backend=kernel_backend) as m:
        for view in (m, m.raw):
            with pytest.raises(ValueError, match="chunk_size must be a positive"):
                view.batch(chunk_size=-5)
        with pytest.raises(ValueError, match="chunk_size must be a positive"):
            bpfmaps.batch(chunk_size=-1)
        with m.raw.batch(chunk_size=0) as b:
            b[(1).to_bytes(4, "little")] = b"x" * 32
        assert b.result.applied == 1 and m.raw[(1).to_bytes(4, "little")] == b"x" * 32

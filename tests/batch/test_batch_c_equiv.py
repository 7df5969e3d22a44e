"""``m.batch()``'s C slot (BatchBase: packed buffers on raw maps, lists otherwise) against
the Python reference: the same operations through a batch whose ``__setitem__`` is
Python (``auto_flush`` larger than the batch: the lists, no flush meanwhile) on a
twin map must give the same contents, the same errors and the same partial-failure
reports (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from batch_helpers import batch_error_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import BatchError, CodecError, Map, UpdateFlags
from bpfmaps.batching import MapBatch

_KINDS = ["exact", "bytearray", "short", "int"]
_op = st.tuples(
    st.sampled_from(["set", "set", "set", "del", "upd"]),
    st.integers(0, 11),  # key (max_entries 8: E2BIG / full maps happen)
    st.integers(0, 255),  # value pattern
    st.sampled_from(_KINDS + ["exact"] * 6),  # mostly exact bytes: the packed path
    st.sampled_from([UpdateFlags.ANY, UpdateFlags.NOEXIST, UpdateFlags.EXIST]),
)


def _obj(kind: str, b: bytes) -> Any:
    if kind == "bytearray":
        return bytearray(b)
    if kind == "short":
        return b[:-1]
    if kind == "int":
        return 7
    return b


def _run(m: Map, ops: list, on_error: str, reference: bool, pre: list) -> tuple:
    raw = m.raw
    for k in pre:
        raw[k.to_bytes(4, "little")] = bytes([k]) * 32
    try:
        with m.batch(on_error=on_error, auto_flush=10**9 if reference else None) as b:
            assert (type(b) is MapBatch) is not reference
            for op, k, v, kind, flags in ops:
                key = k.to_bytes(4, "little")
                val = bytes([v]) * 32
                if op == "set":
                    b[_obj(kind, key)] = _obj(kind, val)
                elif op == "del":
                    del b[_obj(kind, key)]
                else:
                    b.update(key, _obj(kind, val), flags)
            pending = len(b)
        out: tuple = ("ok", pending, b.result.applied, b.result.total)
    except BatchError as e:
        out = batch_error_report(e)
    except CodecError as e:
        out = ("CodecError", str(e))
    except TypeError as e:
        out = ("TypeError", str(e))
    return out, {bytes(k): bytes(v) for k, v in raw.items()}


@pytest.mark.parametrize("mtype", ["hash", "array"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(_op, max_size=24),
    on_error=st.sampled_from(["stop", "continue", "rollback"]),
    pre=st.lists(st.integers(0, 7), max_size=4, unique=True),
)
def test_c_slot_matches_python_lists(backend, mtype, ops, on_error, pre):
    n = 8
    got, want = [], []
    for reference, out in ((False, got), (True, want)):
        m = Map.create(mtype, 4, 32, n, backend=backend)
        try:
            out.append(_run(m, ops, on_error, reference, pre))
        finally:
            m.close()
    assert got == want

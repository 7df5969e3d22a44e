"""Key/value builders and a failure report's comparable form, shared by the batch tests."""

from __future__ import annotations

from typing import Any


def k8(i: int) -> bytes:
    return i.to_bytes(8, "little")


def v32(i: int) -> bytes:
    return (i % 251).to_bytes(1, "little") * 31 + (i // 251 % 256).to_bytes(1, "little")


def batch_error_report(e: Any) -> tuple:
    """Everything a BatchError reports, in a form two runs can be compared by."""
    return (
        "BatchError",
        e.applied,
        e.index,
        repr(e.key),
        e.total,
        e.rolled_back,
        [(i, repr(k), type(x).__name__, getattr(x, "errno", None)) for i, k, x in e.errors],
        [(t[0], repr(t[-1])) for t in e.not_attempted],
        e.also_applied,
        e.rollback_errors,
        type(e.__cause__).__name__,
        getattr(e.__cause__, "errno", None),
    )

"""The roots of :mod:`bpfmaps.errors` (their public home, and their ``__module__``):
:class:`BpfmapsError`, :class:`BPFError` and what their messages need.  Apart from the
rest of the hierarchy so that the errno-specific classes (:mod:`bpfmaps._errkinds`,
built on first use) can stand on them below :mod:`bpfmaps.errors`.  Import these
from :mod:`bpfmaps.errors`."""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ENOTSUPP", "BPFError", "BpfmapsError", "strerror"]

#: The kernel-internal "operation not supported" errno (include/linux/errno.h).
#: ``os.strerror(524)`` is "Unknown error 524", so we name it ourselves.
ENOTSUPP = 524


def strerror(err: int) -> str:
    """Human-readable text for ``err``, including the kernel-only ENOTSUPP (524)."""
    if err == ENOTSUPP:
        return "Operation not supported (ENOTSUPP)"
    return os.strerror(err)


class BpfmapsError(Exception):
    """Root of every exception raised by bpfmaps."""


class BPFError(BpfmapsError, OSError):
    """A bpf(2) call failed.

    Attributes: ``errno``, ``strerror``, ``op`` (e.g. ``"update"``), ``map`` (a short
    description such as ``"id 12 'lb_backends'"`` or None), ``key`` (the raw key
    when the operation had one) and ``hint`` (what usually causes this).
    """

    def __init__(
        self,
        err: int,
        op: str,
        map: str | None = None,
        hint: str | None = None,
        key: Any = None,
        detail: str | None = None,
    ) -> None:
        OSError.__init__(self, err, strerror(err))
        self.op: str = op
        self.map: str | None = map
        self.hint: str | None = hint
        self.key: Any = key
        self.detail: str | None = detail

    def __str__(self) -> str:
        parts = [f"{self.op}"]
        if self.map:
            parts.append(f" on map {self.map}")
        if self.key is not None:
            parts.append(f" (key {_short(self.key)})")
        if self.detail:
            parts.append(f" {self.detail}")
        parts.append(f" failed: [{_errname(self.errno)}] {self.strerror}")
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling sane despite the custom __init__
        return (
            _rebuild,
            (type(self), self.errno, self.op, self.map, self.hint, self.key, self.detail),
        )


def _rebuild(
    cls: type[BPFError],
    err: int,
    op: str,
    map: str | None,
    hint: str | None,
    key: Any,
    detail: str | None,
) -> BPFError:
    return cls(err, op, map=map, hint=hint, key=key, detail=detail)


def _errname(err: int | None) -> str:
    if err is None:
        return "?"
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, str(err))


def _short(key: Any) -> str:
    if isinstance(key, (bytes, bytearray, memoryview)):
        b = bytes(key)
        text = b[:32].hex(" ")
        return text + (" ..." if len(b) > 32 else "")
    r = repr(key)
    return r if len(r) <= 80 else r[:77] + "..."


for _obj in (BpfmapsError, BPFError, _rebuild, strerror):
    _obj.__module__ = "bpfmaps.errors"  # their public home (reprs, pickling, docs)
del _obj

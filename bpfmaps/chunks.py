"""What the raw batch engine works on: :class:`Target` (one open map), :class:`Chunk`
(packed operations of one kind on one target), the operation kinds, the record of
which batch commands the running kernel lacks, and packed-buffer inputs.

The engine (:mod:`bpfmaps.engine`) applies chunks, :mod:`bpfmaps.rollback` restores
them and :mod:`bpfmaps.dump` streams whole maps; all three share these definitions.
Nothing here issues a bpf(2) command.  Kernel floor: none (data only).
"""

from __future__ import annotations

import errno as _errno

from .errors import ENOTSUPP, error_from_errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import ContextVar
    from typing import Any, Callable, Optional, Protocol

    from .backend import Backend
    from .types import MapInfo
else:
    Protocol = object  # Target is a plain class at run time: typing is not loaded

__all__ = [
    "DEFAULT_CHUNK",
    "DEL",
    "UPD",
    "UPE",
    "Chunk",
    "FdTarget",
    "Target",
    "check_mode",
    "forced_fallback",
    "packed_view",
]


class Target(Protocol):
    """One open map as the engine sees it.

    ``backend``, ``info``, ``value_buf_size`` (bytes per value in kernel buffers:
    per-CPU maps ``ncpus * round_up8(value_size)``), ``desc`` (for messages),
    ``owner`` (the object named in ``BatchError.not_attempted``: the Map, or the
    target itself), ``fileno()`` (the fd; raises when the map is closed),
    ``error(rc, op, key)`` (the exception for ``-rc``) and ``decode_key`` (raw key
    bytes -> the caller's key in reports, or None for raw bytes)."""

    backend: Backend
    info: MapInfo
    value_buf_size: int
    desc: str
    owner: Any
    decode_key: Optional[Callable[[bytes], Any]]

    def fileno(self) -> int: ...
    def error(self, rc: int, op: str, key: Any = None) -> Exception: ...


class FdTarget:
    """A :class:`Target` over an fd the caller owns (not closed here): keys in reports
    are raw ``bytes``, errors the usual :class:`~bpfmaps.errors.BPFError` classes."""

    __slots__ = ("backend", "fd", "info", "value_buf_size", "desc", "owner", "decode_key")

    backend: Backend
    fd: int
    info: MapInfo
    value_buf_size: int
    desc: str
    owner: Any
    decode_key: Optional[Callable[[bytes], Any]]

    def __init__(self, backend: Backend, fd: int, info: MapInfo, value_buf_size: int) -> None:
        self.backend = backend
        self.fd = fd
        self.info = info
        self.value_buf_size = value_buf_size
        self.desc = info.describe()
        self.owner = self
        self.decode_key = None

    def fileno(self) -> int:
        return self.fd

    def error(self, rc: int, op: str, key: Any = None) -> Exception:
        return error_from_errno(-rc, op, map=self.desc, key=key, max_entries=self.info.max_entries)

    def __repr__(self) -> str:
        return f"<FdTarget fd={self.fd} {self.desc}>"


ENOENT = _errno.ENOENT
EINTR = _errno.EINTR
ENOSPC = _errno.ENOSPC
#: a C update program's "stopped without an element error, apply the rest another way"
RC_EPROTO = -_errno.EPROTO
#: a stop signal seen by a C loop
RC_EINTR = -_errno.EINTR
#: rc values that mean "no batch command here": EINVAL (kernel < 5.6), ENOTSUPP, EOPNOTSUPP
_UNSUPPORTED = frozenset({-_errno.EINVAL, -ENOTSUPP, -_errno.EOPNOTSUPP})
_MODES = ("stop", "continue", "rollback")

#: elements per chunk when encoding Python sequences (keeps temporaries in cache)
DEFAULT_CHUNK = 8192
#: elements per UPDATE_BATCH call when one long chunk is applied as several calls (the
#: serial apply's parts and each thread's part of a parallel apply): a stop signal ends
#: the apply between two calls (bpfmaps.kernel.stop_install).  Read as ``chunks.CALL_CHUNK``
#: by both, so tests patch it in one place.
CALL_CHUNK = 8192

# operation kinds
UPD = 0  # plain upsert (ANY or LOCK): UPDATE_BATCH
UPE = 1  # NOEXIST/EXIST update: per-element loop (the kernel rejects these in batch)
DEL = 2  # delete: DELETE_BATCH
_OPNAME = {UPD: "update", UPE: "update", DEL: "delete"}

#: the forced_fallback flag (a ContextVar, made by the first forced_fallback(): until
#: then it is False everywhere, and a plain run never loads contextvars)
_force: dict[str, ContextVar[bool]] = {}
#: (map type, command) pairs the running kernel has no batch command for
_no_batch: set[tuple[int, str]] = set()


class _Forced:
    """The context manager of :func:`forced_fallback` (not contextlib's: contextlib
    costs about 1 ms of start-up)."""

    __slots__ = ("enabled", "_token")

    def __init__(self, enabled: bool) -> None:
        self.enabled: bool = enabled
        self._token: object = None

    def __enter__(self) -> None:
        cv = _force.get("on")
        if cv is None:
            from contextvars import ContextVar  # start-up: only tests and benchmarks force

            cv = _force.setdefault("on", ContextVar("bpfmaps_force_fallback", default=False))
        self._token = cv.set(self.enabled)

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        _force["on"].reset(token)  # type: ignore[arg-type]


def forced_fallback(enabled: bool = True) -> _Forced:
    """Run every bulk operation in the ``with`` block of this context manager through
    the per-element C loops, as on a kernel without batch commands (for tests and
    benchmarks).  Cost: O(1)."""
    return _Forced(enabled)


def check_mode(on_error: str, chunk_size: Optional[int] = None) -> None:
    """ValueError unless ``on_error`` is "stop", "continue" or "rollback", or when
    ``chunk_size`` is negative (None and 0 mean the default).  Cost: O(1)."""
    if on_error not in _MODES:
        raise ValueError(f"on_error must be one of {_MODES}, got {on_error!r}")
    if chunk_size is not None and chunk_size < 0:
        raise ValueError(f"chunk_size must be a positive number of operations, got {chunk_size}")


def _batch_ok(h: Any, cmd: str) -> bool:
    cv = _force.get("on")
    return not (cv is not None and cv.get()) and (h.info.raw_type, cmd) not in _no_batch


def _mark_no_batch(h: Any, cmd: str) -> None:
    if h.backend.name == "kernel":
        _no_batch.add((h.info.raw_type, cmd))


class Chunk:
    """Up to a few thousand operations of one kind (:data:`UPD`, :data:`UPE`,
    :data:`DEL`) on one :class:`Target`, packed for the kernel: ``kbuf`` (``n *
    key_size``), ``vbuf`` (``n * value_buf_size``, None for deletes), ``base`` (index
    of the first operation in the whole batch) and ``ukeys`` (the caller's keys for
    reports, or None: decode ``kbuf`` with the target's ``decode_key``)."""

    __slots__ = ("t", "kind", "flags", "kbuf", "vbuf", "n", "base", "ukeys")

    t: Target
    kind: int
    flags: int
    kbuf: Any
    vbuf: Any
    n: int
    base: int
    ukeys: Any

    def __init__(
        self,
        t: Target,
        kind: int,
        flags: int,
        kbuf: Any,
        vbuf: Any,
        n: int,
        base: int,
        ukeys: Any,
    ) -> None:
        self.t = t  # the Target
        self.kind = kind
        self.flags = flags
        self.kbuf = kbuf  # bytes or memoryview of n * key_size
        self.vbuf = vbuf  # bytes or memoryview of n * value_buf_size (None for deletes)
        self.n = n
        self.base = base  # index of the first operation in the whole batch
        self.ukeys = ukeys  # the user's keys (sequence) for reports, or None: decode kbuf

    def key(self, i: int) -> Any:
        if self.ukeys is not None:
            return self.ukeys[i]
        ks = self.t.info.key_size
        raw = bytes(self.kbuf[i * ks : (i + 1) * ks]) if self.kbuf is not None else b""
        dec = self.t.decode_key
        if dec is None:
            return raw
        try:
            return dec(raw)
        except Exception:
            return raw

    def rawkey(self, i: int) -> bytes:
        ks = self.t.info.key_size
        return bytes(self.kbuf[i * ks : (i + 1) * ks])


# ----------------------------------------------------------------------------- packed entries
def packed_view(obj: Any) -> Optional[memoryview]:
    """A flat byte view of a buffer-protocol object (bytes, bytearray, array, numpy...),
    or None for a Python sequence of elements.  Cost: O(1) (no copy)."""
    if isinstance(obj, (list, tuple, str, range)):
        return None
    try:
        mv = memoryview(obj)
    except TypeError:
        return None
    if not mv.contiguous:
        raise ValueError("packed key/value buffers must be contiguous")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def _packed(obj: Any, size: int, what: str) -> tuple[memoryview, int]:
    mv = packed_view(obj)
    if mv is None:
        raise TypeError(f"{what} must be a buffer of packed elements")
    if size == 0 or mv.nbytes % size:
        raise ValueError(
            f"packed buffer of {mv.nbytes} bytes is not a multiple of the element size {size}"
        )
    return mv, mv.nbytes // size

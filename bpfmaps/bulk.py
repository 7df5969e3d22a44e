"""Bulk operations on a Map at kernel speed (BPF_MAP_*_BATCH), with exact failure reports.

Functions here back :meth:`Map.update_many`, :meth:`Map.lookup_many`,
:meth:`Map.delete_many`, :meth:`Map.pop_many`, :meth:`Map.pop_all`,
:meth:`Map.items`/:meth:`Map.values` and :meth:`Map.clear`; the batch context
managers of :mod:`bpfmaps.batch` run on the same engine (:func:`_run`).

Semantics (see docs/batching.md):

* Operations run in program order.  Nothing is atomic: the kernel applies element by
  element, and BPF programs may read or write in between.
* ``on_error="stop"`` (default): stop at the first failing operation (the kernel's
  own rule for UPDATE_BATCH/DELETE_BATCH: ``count`` = number applied, so the failing
  element is index ``count``).  ``"continue"``: attempt every operation and collect
  one error per failed operation.  ``"rollback"``: like stop, then restore every
  key the applied operations overwrote, created or deleted (values are snapshotted
  with one per-element lookup per operation first; concurrent datapath writers can
  still interleave with both the batch and the restore).
* On failure :class:`~bpfmaps.errors.BatchError` tells how many operations were
  applied, the index and key of the failing one, the errno-specific cause (chained as
  ``__cause__``, e.g. :class:`~bpfmaps.errors.MapFullError`) and the operations not
  attempted.  Encoding errors (:class:`~bpfmaps.errors.CodecError`) are raised before
  anything is applied.
* Where the kernel has no batch command (EINVAL before Linux 5.6) or the map type has
  none (524/ENOTSUPP, e.g. prog arrays, LPM tries), the same call runs a per-element
  loop in the C shim with identical results and reports.  :func:`forced_fallback`
  forces that path (tests, benchmarks).

Kernel floor: 5.6 for the batch commands (older kernels use the per-element loop),
5.14 for lookup-and-delete on hash maps (``pop_many``/``pop_all`` fall back to lookup
then delete only in ``pop_many``).
"""

from __future__ import annotations

import errno as _errno
import itertools
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Optional

from .errors import ENOTSUPP, BatchError, CodecError, IterationAbortedError, error_from_errno
from .loops import of as _loops
from .types import FD_VALUE_TYPES, MapType, UpdateFlags

if TYPE_CHECKING:
    from .maps import Map

__all__ = [
    "BatchResult",
    "DEFAULT_CHUNK",
    "PARALLEL_MIN",
    "RawTarget",
    "clear",
    "delete_many",
    "forced_fallback",
    "iter_items",
    "iter_values",
    "lookup_many",
    "pop_all",
    "pop_many",
    "update_many",
    "update_packed",
]

ENOENT = _errno.ENOENT
EINTR = _errno.EINTR
ENOSPC = _errno.ENOSPC
#: rc values that mean "no batch command here": EINVAL (kernel < 5.6), ENOTSUPP, EOPNOTSUPP
_UNSUPPORTED = frozenset({-_errno.EINVAL, -ENOTSUPP, -_errno.EOPNOTSUPP})
_MODES = ("stop", "continue", "rollback")
_MISSING: Any = object()

#: elements per chunk when encoding Python sequences (keeps temporaries in cache)
DEFAULT_CHUNK = 8192
#: after this many failures inside one chunk, "continue" switches to the per-element loop
_CONTINUE_SWITCH = 4
_EINTR_RETRIES = 16

# operation kinds
UPD = 0  # plain upsert (ANY or LOCK): UPDATE_BATCH
UPE = 1  # NOEXIST/EXIST update: per-element loop (the kernel rejects these in batch)
DEL = 2  # delete: DELETE_BATCH
_OPNAME = {UPD: "update", UPE: "update", DEL: "delete"}

_force: ContextVar[bool] = ContextVar("bpfmaps_force_fallback", default=False)
#: (map type, command) pairs the running kernel has no batch command for
_no_batch: set[tuple[int, str]] = set()

_HASH_TYPES = frozenset(
    {MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}
)


@contextmanager
def forced_fallback(enabled: bool = True) -> Iterator[None]:
    """Run every bulk operation in this context through the per-element C loops,
    as on a kernel without batch commands (for tests and benchmarks)."""
    token = _force.set(enabled)
    try:
        yield
    finally:
        _force.reset(token)


class BatchResult:
    """What a bulk write did.

    ``total``: operations submitted; ``applied``: operations that succeeded;
    ``missing``: deletes of absent keys skipped with ``missing_ok=True``;
    ``fallback``: True when some of it ran through the per-element loop;
    ``parallel``: True when it was applied by several threads at once (see
    :func:`update_packed`); ``errors``: per-operation errors (``on_error="continue"``).
    """

    __slots__ = ("total", "applied", "missing", "fallback", "parallel", "errors")

    def __init__(
        self,
        total: int = 0,
        applied: int = 0,
        missing: int = 0,
        fallback: bool = False,
        parallel: bool = False,
        errors: Optional[list[tuple[int, Any, BaseException]]] = None,
    ) -> None:
        self.total: int = total
        self.applied: int = applied
        self.missing: int = missing
        self.fallback: bool = fallback
        self.parallel: bool = parallel
        #: (index, key, exception) of every failed operation (on_error="continue")
        self.errors: list[tuple[int, Any, BaseException]] = [] if errors is None else errors

    def _astuple(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchResult):
            return NotImplemented
        return self._astuple() == other._astuple()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return "BatchResult(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    def __int__(self) -> int:
        return self.applied


# ----------------------------------------------------------------------------- helpers
def _is_raw(codec: Any) -> bool:
    # imported here: the bpftool runner uses this engine without loading codecs
    from .codecs import Raw

    return type(codec) is Raw


def _check_mode(on_error: str) -> None:
    if on_error not in _MODES:
        raise ValueError(f"on_error must be one of {_MODES}, got {on_error!r}")


def _batch_ok(h: Any, cmd: str) -> bool:
    return not _force.get() and (h.info.type, cmd) not in _no_batch


def _mark_no_batch(h: Any, cmd: str) -> None:
    if h.backend.name == "kernel":
        _no_batch.add((h.info.type, cmd))


@lru_cache(maxsize=64)
def _splitter(size: int, count: int) -> struct.Struct:
    return struct.Struct(f"{size}s" * count)


def _split(buf: bytes, size: int, count: int) -> tuple:
    """``count`` bytes objects of ``size`` from a packed buffer (all in C)."""
    if count == 0:
        return ()
    if size == 0:
        return (b"",) * count
    return _splitter(size, count).unpack(buf)


def _as_packed(obj: Any) -> Optional[memoryview]:
    """A byte view of a buffer-protocol object (bytes, bytearray, array, numpy...), or
    None for a Python sequence of elements."""
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


def _encode(seq: Any, codec: Any, size: int, what: str, base: int) -> bytes:
    """Pack a sequence of user objects into ``size``-byte slots.

    Raw codecs with bytes: one ``b"".join`` plus a length check (about 15 ns per
    element).  Other codecs: one ``encode`` call per element.  Raises CodecError
    naming the index of the first bad element.
    """
    n = len(seq)
    try:
        if _is_raw(codec):
            buf = b"".join(seq)
            if len(buf) == n * size and (n == 0 or max(map(len, seq)) == size):
                return buf
        else:
            buf = b"".join(map(codec.encode, seq))
            if len(buf) == n * size:
                return buf
    except Exception:
        pass
    enc = codec.encode
    parts = []
    for i, x in enumerate(seq):
        try:
            b = enc(x)
        except CodecError as e:
            raise CodecError(
                f"{what} #{base + i} ({_codecs_repr(x)}): {e}; nothing was applied"
            ) from e
        except Exception as e:
            raise CodecError(
                f"{what} #{base + i} ({_codecs_repr(x)}): {e}; nothing was applied"
            ) from e
        if len(b) != size:
            raise CodecError(
                f"{what} #{base + i} encodes to {len(b)} bytes, the map needs {size}; nothing was applied"
            )
        parts.append(b)
    return b"".join(parts)


def _codecs_repr(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


class RawTarget:
    """The engine's view of an open map given as ``(backend, fd, info)``: what a
    :class:`~bpfmaps.maps.Map` provides to the engine, without codecs (keys in
    reports are raw ``bytes``; errors are the usual :class:`~bpfmaps.errors.BPFError`
    classes).  For callers that own their fds (the bpftool runner); it does not own
    or close ``fd``.  ``vbs``: bytes per value in the kernel buffer (per-CPU maps:
    ``possible_cpus * round_up(value_size, 8)``)."""

    __slots__ = (
        "backend", "fd", "info", "vbs", "desc", "NULL", "_h", "_kdec", "_key_codec", "_value_codec",
    )  # fmt: skip

    def __init__(self, backend: Any, fd: int, info: Any, vbs: int) -> None:
        self.backend = backend
        self.fd = fd
        self.info = info
        self.vbs = vbs
        self.desc = info.describe()
        self.NULL = backend.NULL
        self._h = self
        self._kdec = self._key_codec = self._value_codec = None

    def _fd(self) -> int:
        return self.fd

    def _error(self, rc: int, op: str, key: Any = None) -> Exception:
        return error_from_errno(-rc, op, map=self.desc, key=key, max_entries=self.info.max_entries)


class _Chunk:
    """Up to a few thousand operations of one kind on one map, packed for the kernel."""

    __slots__ = ("m", "kind", "flags", "kbuf", "vbuf", "n", "base", "ukeys")

    def __init__(self, m, kind, flags, kbuf, vbuf, n, base, ukeys) -> None:
        self.m = m
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
        ks = self.m._h.info.key_size
        raw = bytes(self.kbuf[i * ks : (i + 1) * ks]) if self.kbuf is not None else b""
        if self.m._kdec is None:
            return raw
        try:
            return self.m._kdec(raw)
        except Exception:
            return raw

    def rawkey(self, i: int) -> bytes:
        ks = self.m._h.info.key_size
        return bytes(self.kbuf[i * ks : (i + 1) * ks])


def _view(buf: Any, pos: int, size: int) -> Any:
    if pos == 0 or buf is None:
        return buf
    return memoryview(buf)[pos * size :]


def _apply(c: _Chunk, pos: int) -> tuple[int, int, bool]:
    """Run operations ``pos..n`` of ``c`` (stop at the first failure): (rc, applied, fallback)."""
    m = c.m
    h = m._h
    fd = m._fd()
    be = h.backend
    ks = h.info.key_size
    n = c.n - pos
    kb = _view(c.kbuf, pos, ks)
    if c.kind == DEL:
        if _batch_ok(h, "delete"):
            rc, cnt = be.map_delete_batch(fd, kb, n)
            if rc < 0 and cnt >= n:
                cnt = 0  # early failure: the kernel left count untouched
            if not (rc in _UNSUPPORTED and cnt == 0):
                return rc, cnt, False
            rc, cnt = _loops(be).delete_elems(fd, kb, ks, n)
            if rc == 0 or cnt > 0:
                _mark_no_batch(h, "delete")
            return rc, cnt, True
        rc, cnt = _loops(be).delete_elems(fd, kb, ks, n)
        return rc, cnt, True
    vbs = h.vbs
    vb = _view(c.vbuf, pos, vbs)
    if c.kind == UPD and ks and _batch_ok(h, "update"):
        parts = getattr(be, "map_update_batch_parts", None) if n > _PARALLEL_CHUNK else None
        if parts is not None:
            # one part, in this thread: UPDATE_BATCH calls of _PARALLEL_CHUNK elements
            # in order (same result and count as one call), and a stop signal ends it
            # between two calls (bpfmaps.kernel.stop_install)
            rc, cnt = parts(fd, kb, vb, ks, vbs, [(0, n)], c.flags, _PARALLEL_CHUNK)[0]
        else:
            rc, cnt = be.map_update_batch(fd, kb, vb, n, c.flags)
        if rc < 0 and cnt >= n:
            cnt = 0
        if not (rc in _UNSUPPORTED and cnt == 0):
            return rc, cnt, False
        rc, cnt = _loops(be).update_elems(fd, kb, ks, vb, vbs, n, c.flags)
        if rc == 0 or cnt > 0:
            _mark_no_batch(h, "update")
        return rc, cnt, True
    rc, cnt = _loops(be).update_elems(fd, kb, ks, vb, vbs, n, c.flags)
    return rc, cnt, c.kind == UPD


def _apply_each(c: _Chunk, pos: int) -> list[int]:
    """Attempt operations ``pos..n`` of ``c`` one by one in C; one rc per operation."""
    m = c.m
    h = m._h
    fd = m._fd()
    be = h.backend
    ks = h.info.key_size
    n = c.n - pos
    errs: list[int] = []
    kb = _view(c.kbuf, pos, ks)
    if c.kind == DEL:
        _loops(be).delete_elems(fd, kb, ks, n, errs)
    else:
        _loops(be).update_elems(fd, kb, ks, _view(c.vbuf, pos, h.vbs), h.vbs, n, c.flags, errs)
    return errs


def _snapshot(c: _Chunk) -> tuple[bytes, list[int]]:
    """Values the operations of ``c`` are about to overwrite (rollback mode)."""
    h = c.m._h
    be = h.backend
    vbs = h.vbs
    out = be.alloc(c.n * vbs)
    errs: list[int] = []
    _loops(be).lookup_elems(c.m._fd(), c.kbuf, h.info.key_size, out, vbs, c.n, 0, errs)
    for i, e in enumerate(errs):
        if e and e != -ENOENT:
            raise c.m._error(e, "lookup", c.key(i))
    return be.tobytes(out, c.n * vbs), errs


def _restore_value(m: Map, old: bytes) -> tuple[bytes, Any]:
    """The bytes to write back for ``old`` (fd-value maps store ids: reopen by id)."""
    h = m._h
    if h.info.type not in FD_VALUE_TYPES:
        return old, None
    be = h.backend
    oid = int.from_bytes(old[:4], "little" if struct.pack("=I", 1)[0] == 1 else "big")
    if h.info.type == MapType.PROG_ARRAY:
        fd = be.prog_get_fd_by_id(oid)
    else:
        fd = be.map_get_fd_by_id(oid, 0)
    if fd < 0:
        raise m._error(fd, "rollback_reopen")
    return struct.pack("=I", fd), fd


def _rollback(chunks: list[_Chunk], snaps: list, fail: int) -> list[tuple[Any, Any, BaseException]]:
    """Restore what operations ``0..fail-1`` changed; returns restore failures."""
    first: dict[tuple[int, bytes], tuple[Any, bool, bytes]] = {}
    for c, (old, errs) in zip(chunks, snaps):
        if c.base >= fail:
            break
        vbs = c.m._h.vbs
        for i in range(min(c.n, fail - c.base)):
            k = (id(c.m._h), c.rawkey(i))
            if k not in first:
                first[k] = (c.m, errs[i] == 0, old[i * vbs : (i + 1) * vbs])
    problems: list[tuple[Any, Any, BaseException]] = []
    # deletes of created keys first (frees room in full hash maps), then re-writes
    for (_, rk), (m, existed, _old) in first.items():
        if not existed:
            h = m._h
            rc = h.backend.map_delete_elem(h.fd, rk)
            if rc and rc != -ENOENT:
                problems.append((m, rk, m._error(rc, "delete", rk)))
    for (_, rk), (m, existed, old) in first.items():
        if existed:
            h = m._h
            fd = None
            try:
                val, fd = _restore_value(m, old)
                rc = h.backend.map_update_elem(h.fd, rk, val, 0)
                if rc:
                    problems.append((m, rk, m._error(rc, "update", rk)))
            except Exception as e:  # reopening an fd-map value by id failed
                problems.append((m, rk, e))
            finally:
                if fd is not None:
                    h.backend.close(fd)
    return problems


def _not_attempted(
    chunks: list[_Chunk], start: int, skip: tuple = ()
) -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    for c in chunks:
        if c.base + c.n <= start:
            continue
        name = _OPNAME[c.kind]
        for i in range(max(0, start - c.base), c.n):
            if skip and any(a <= c.base + i < b for a, b in skip):
                continue
            out.append((name, c.m, c.key(i)))
    return out


# ----------------------------------------------------------------------------- parallel apply
#: fewest elements for which a parallel apply is attempted
PARALLEL_MIN = 4096
#: elements per UPDATE_BATCH call inside each thread (threads stop between calls)
_PARALLEL_CHUNK = 8192
#: map types where a parallel apply of distinct keys into an empty map with room for
#: all of them is provably identical to the serial one (preallocated, no eviction)
_PAR_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH})
#: BPF_F_NO_PREALLOC (approximate full checks, ENOMEM), BPF_F_ZERO_SEED (iteration
#: order is deterministic, so bucket order is observable and must stay serial)
_PAR_BAD_FLAGS = (1 << 0) | (1 << 6)


def _threads() -> int:
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def _parallel_ok(c: _Chunk) -> bool:
    """True when applying ``c`` in several threads gives exactly the serial result:
    plain upserts, a preallocated HASH/PERCPU_HASH map (no LRU eviction, no
    NO_PREALLOC), pairwise distinct keys (no two threads touch one key), at most
    max_entries of them and an empty map (every insert has a free element, so no
    ordering can make one fail).  The empty check is one GET_NEXT_KEY, done last."""
    h = c.m._h
    info = h.info
    be = h.backend
    ks = info.key_size
    if (
        c.n < PARALLEL_MIN
        or c.flags != 0
        or info.type not in _PAR_TYPES
        or info.flags & _PAR_BAD_FLAGS
        or c.n > info.max_entries
        or not ks
        or _threads() < 2
        or not _batch_ok(h, "update")
    ):
        return False
    if not _loops(be).keys_distinct(c.kbuf, ks, c.n):
        return False
    return be.map_get_next_key(c.m._fd(), be.NULL, be.alloc(ks)) == -ENOENT


def _apply_parallel(c: _Chunk) -> Optional[tuple[int, int, list[tuple[int, int]]]]:
    """Apply ``c`` (checked by :func:`_parallel_ok`) as contiguous parts, one thread
    each.  Returns ``(rc, applied, extra)``: ``applied`` operations form a prefix in
    program order (parts stopped early because another failed are completed serially,
    as the serial apply would have done), ``rc`` is the failure of operation
    ``applied`` (0: all applied), ``extra`` the ``(start, stop)`` ranges after it that
    later parts had already applied.  None: no batch command here (use the serial path).
    """
    h = c.m._h
    be = h.backend
    ks, vbs = h.info.key_size, h.vbs
    k = _threads()
    bounds = [c.n * i // k for i in range(k + 1)]
    parts = [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(k)]
    results = _loops(be).update_batch_parts(
        c.m._fd(), c.kbuf, c.vbuf, ks, vbs, parts, 0, _PARALLEL_CHUNK
    )
    if all(rc == 0 and a == n for (rc, a), (_, n) in zip(results, parts)):
        return 0, c.n, []
    if all(rc in _UNSUPPORTED and a == 0 for rc, a in results):
        return None
    for i, ((s, n), (rc, a)) in enumerate(zip(parts, results)):
        if a == n and rc == 0:
            continue
        if rc == 0:  # stopped because another part failed: finish it in order
            part = _Chunk(c.m, c.kind, c.flags, c.kbuf, c.vbuf, s + n, c.base, c.ukeys)
            rc, a2, _ = _apply(part, s + a)
            a += a2
            if rc == 0:
                continue
        extra = [(s2, s2 + a2) for (s2, _), (_, a2) in zip(parts[i + 1 :], results[i + 1 :]) if a2]
        return rc, s + a, extra
    return 0, c.n, []  # pragma: no cover - every part completed


def _run(
    chunks: Iterable[_Chunk],
    on_error: str,
    total: int,
    *,
    missing_ok: bool = False,
    parallel: bool = False,
) -> BatchResult:
    """Apply ``chunks`` in order under ``on_error``; return a BatchResult or raise
    BatchError (cause chained) with the exact report.  ``parallel``: apply a chunk
    in several threads where :func:`_parallel_ok` proves it identical (stop mode)."""
    chunks = list(chunks)
    res = BatchResult(total=total)
    errors = res.errors
    snaps: Optional[list] = [] if on_error == "rollback" else None
    for c in chunks:
        if c.n == 0:
            if snaps is not None:
                snaps.append((b"", []))
            continue
        if snaps is not None:
            snaps.append(_snapshot(c))
        pos = 0
        local_fail = 0
        extra: list[tuple[int, int]] = []
        par = None
        if parallel and on_error == "stop" and c.kind == UPD and _parallel_ok(c):
            par = _apply_parallel(c)
            res.parallel |= par is not None
        while pos < c.n:
            if on_error == "continue" and local_fail >= _CONTINUE_SWITCH:
                errs = _apply_each(c, pos)
                res.fallback = True
                for i, e in enumerate(errs):
                    if e == 0:
                        res.applied += 1
                    elif e == -ENOENT and missing_ok and c.kind == DEL:
                        res.missing += 1
                    else:
                        key = c.key(pos + i)
                        errors.append((c.base + pos + i, key, c.m._error(e, _OPNAME[c.kind], key)))
                break
            if par is not None:
                (rc, cnt, extra), fb, par = par, False, None
            else:
                rc, cnt, fb = _apply(c, pos)
            res.applied += cnt
            res.fallback |= fb
            if rc == 0:
                break
            at = pos + cnt
            pos = at + 1
            if rc == -ENOENT and missing_ok and c.kind == DEL:
                res.missing += 1
                continue
            key = c.key(at)
            exc = c.m._error(rc, _OPNAME[c.kind], key)
            errors.append((c.base + at, key, exc))
            local_fail += 1
            if on_error == "continue":
                continue
            index = c.base + at
            problems: list = []
            if snaps is not None:
                problems = _rollback(chunks, snaps, index)
            msg = f"{_OPNAME[c.kind]} #{index} of {total} failed after {res.applied} applied: {exc}"
            also = [(c.base + a, c.base + b) for a, b in extra]
            if also:
                msg += "; the parallel apply had also applied " + ", ".join(
                    f"#{a}..#{b - 1}" for a, b in also
                )
            if snaps is not None:
                msg += (
                    "; rolled back"
                    if not problems
                    else f"; rollback incomplete ({len(problems)} keys not restored: {problems[0][2]})"
                )
            err = BatchError(
                msg,
                applied=res.applied,
                index=index,
                key=key,
                errors=errors,
                not_attempted=_not_attempted(chunks, index + 1, tuple(also)),
                rolled_back=snaps is not None and not problems,
                total=total,
                also_applied=also,
                rollback_errors=problems,
            )
            raise err from exc
    if errors:
        first = errors[0]
        err = BatchError(
            f"{len(errors)} of {total} operations failed ({res.applied} applied); "
            f"first: #{first[0]}: {first[2]}",
            applied=res.applied,
            index=first[0],
            key=first[1],
            errors=errors,
            not_attempted=[],
            total=total,
        )
        raise err from first[2]
    return res


# ----------------------------------------------------------------------------- inputs
def _side(obj: Any, size: int) -> tuple[Any, int, bool]:
    """(sequence or byte view, element count, packed?)."""
    mv = _as_packed(obj)
    if mv is not None:
        if size == 0 or mv.nbytes % size:
            raise ValueError(
                f"packed buffer of {mv.nbytes} bytes is not a multiple of the element size {size}"
            )
        return mv, mv.nbytes // size, True
    seq = obj if isinstance(obj, (list, tuple)) else list(obj)
    return seq, len(seq), False


def _key_chunks(
    m: Map, keys: Any, kind: int, flags: int, chunk_size: Optional[int], base: int = 0
) -> tuple[list[_Chunk], int]:
    ks = m._h.info.key_size
    seq, n, packed = _side(keys, ks)
    cs = chunk_size or DEFAULT_CHUNK
    out = []
    if packed:
        cs = chunk_size or max(n, 1)
        for off in range(0, n, cs):
            e = min(n, off + cs)
            out.append(
                _Chunk(m, kind, flags, seq[off * ks : e * ks], None, e - off, base + off, None)
            )
        return out, n
    kc = m._key_codec
    for off in range(0, n, cs):
        kk = seq[off : off + cs]
        out.append(
            _Chunk(
                m,
                kind,
                flags,
                _encode(kk, kc, ks, "key", base + off),
                None,
                len(kk),
                base + off,
                kk,
            )
        )
    return out, n


def _kv_chunks(
    m: Map, keys: Any, values: Any, kind: int, flags: int, chunk_size: Optional[int], base: int = 0
) -> tuple[list[_Chunk], int]:
    """Chunks for two sequences or two packed buffers (or one of each)."""
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    kseq, n, kpacked = _side(keys, ks)
    vseq, nv, vpacked = _side(values, vbs)
    if n != nv:
        raise ValueError(f"{n} keys but {nv} values")
    cs = chunk_size or (max(n, 1) if kpacked and vpacked else DEFAULT_CHUNK)
    kc, vc = m._key_codec, m._value_codec
    out = []
    for off in range(0, n, cs):
        e = min(n, off + cs)
        if kpacked:
            kb, uk = kseq[off * ks : e * ks], None
        else:
            uk = kseq[off:e]
            kb = _encode(uk, kc, ks, "key", base + off)
        if vpacked:
            vb = vseq[off * vbs : e * vbs]
        else:
            vb = _encode(vseq[off:e], vc, vbs, "value", base + off)
        out.append(_Chunk(m, kind, flags, kb, vb, e - off, base + off, uk))
    return out, n


def _pairs_chunks(
    m: Map, pairs: Any, kind: int, flags: int, chunk_size: Optional[int], base: int = 0
) -> tuple[list[_Chunk], int]:
    if hasattr(pairs, "items") and callable(pairs.items):
        pairs = pairs.items()
    seq = pairs if isinstance(pairs, (list, tuple)) else list(pairs)
    n = len(seq)
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    cs = chunk_size or DEFAULT_CHUNK
    out = []
    for off in range(0, n, cs):
        part = seq[off : off + cs]
        try:
            kk, vv = zip(*part)
            if max(map(len, part)) != 2:
                raise ValueError
        except (TypeError, ValueError):
            for i, p in enumerate(part):
                if not isinstance(p, (tuple, list)) or len(p) != 2:
                    raise TypeError(
                        f"item #{base + off + i} is not a (key, value) pair: {_codecs_repr(p)}"
                    ) from None
            raise
        kb = _encode(kk, m._key_codec, ks, "key", base + off)
        vb = _encode(vv, m._value_codec, vbs, "value", base + off)
        out.append(_Chunk(m, kind, flags, kb, vb, len(part), base + off, kk))
    return out, n


def _need_keys(m: Map, what: str) -> None:
    if m._h.info.key_size == 0:
        raise TypeError(f"{m._type_name()} maps have no keys; {what} needs keys (use push/pop)")


# ----------------------------------------------------------------------------- writes
def update_many(
    m: Map,
    pairs_or_keys: Any,
    values: Any = None,
    *,
    flags: int = UpdateFlags.ANY,
    on_error: str = "stop",
    chunk_size: Optional[int] = None,
    parallel: bool = False,
) -> BatchResult:
    """Write many elements, in order.

    Accepts an iterable (or mapping) of ``(key, value)`` pairs, two sequences, or two
    buffer-protocol objects (bytes, bytearray, memoryview, array, numpy) holding
    ``n * key_size`` and ``n * value_buf_size`` packed bytes (zero-copy: no Python
    object per element).  Codecs apply to sequences.

    ``flags`` ANY (or LOCK): BPF_MAP_UPDATE_BATCH in chunks of ``chunk_size``
    (default 8192 for sequences, one call for packed buffers).  NOEXIST/EXIST: the
    per-element loop in C (the kernel rejects them in batch).  Cost: the kernel's
    per-element cost plus about 60 ns per element to pack Python bytes.

    ``parallel=True`` (with ``on_error="stop"``): apply a chunk in up to 4 threads
    when that provably gives the serial result; see :func:`update_packed`.  Useful
    for packed buffers (one chunk).

    Raises CodecError (nothing applied) for bad keys/values, BatchError on failure
    (see the module docstring for ``on_error``).  Kernel floor 5.6, per-element C
    fallback below and for map types without batch support.
    """
    _check_mode(on_error)
    _need_keys(m, "update_many")
    _check_parallel(parallel, on_error)
    m._fd()
    flags = int(flags)
    kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
    if values is None:
        chunks, n = _pairs_chunks(m, pairs_or_keys, kind, flags, chunk_size)
    else:
        chunks, n = _kv_chunks(m, pairs_or_keys, values, kind, flags, chunk_size)
    return _run(chunks, on_error, n, parallel=parallel)


def _check_parallel(parallel: bool, on_error: str) -> None:
    if parallel and on_error != "stop":
        raise ValueError('parallel=True needs on_error="stop"')


def update_packed(
    m: Any,
    keys: Any,
    values: Any,
    *,
    flags: int = 0,
    on_error: str = "stop",
    parallel: bool = False,
    chunk_size: Optional[int] = None,
) -> BatchResult:
    """The engine's entry for packed buffers: ``keys`` (``n * key_size`` bytes, or
    None for keyless maps) and ``values`` (``n * value_buf_size`` bytes) written in
    order into ``m``, a :class:`~bpfmaps.maps.Map` or a :class:`RawTarget`.  Same
    results, fallback and reports as :func:`update_many`, which uses it for packed
    buffers; keyless maps (queue/stack) push each value with the per-element loop.

    ``parallel=True`` (``on_error="stop"`` only): when the result is provably the
    serial one, the buffer is split into contiguous parts applied by up to 4 threads
    at once (UPDATE_BATCH, GIL released): plain upserts (``flags`` 0), a
    preallocated HASH or PERCPU_HASH map without ZERO_SEED, at least
    :data:`PARALLEL_MIN` pairwise distinct keys (checked in C), no more than
    max_entries, and an empty map (one GET_NEXT_KEY, just before).  Then no insert
    can fail whatever the order, and no two threads touch one key; only the order
    of elements inside a hash bucket (what GET_NEXT_KEY iteration shows, unspecified
    for seeded maps) may differ.  ``result.parallel`` tells whether it was used.

    If a parallel apply fails anyway (another writer, e.g. a BPF program, filled the
    map meanwhile), the other threads stop before their next 8192-element call,
    parts before the failing one are completed in order, and BatchError reports
    ``applied`` (the operations before ``index``, all applied) plus
    ``also_applied``: the ``(start, stop)`` index ranges after ``index`` that the
    parallel apply had already written (never rolled back).
    """
    _check_mode(on_error)
    _check_parallel(parallel, on_error)
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    m._fd()
    flags = int(flags)
    kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
    if ks:
        return update_many(
            m, keys, values, flags=flags, on_error=on_error, chunk_size=chunk_size,
            parallel=parallel,
        )  # fmt: skip
    vseq, n, vpacked = _side(values, vbs)
    if not vpacked:
        raise TypeError("update_packed needs a buffer of packed values")
    cs = chunk_size or max(n, 1)
    chunks = [
        _Chunk(m, kind, flags, None, vseq[off * vbs : min(n, off + cs) * vbs],
               min(n, off + cs) - off, off, None)
        for off in range(0, n, cs)
    ]  # fmt: skip
    return _run(chunks, on_error, n)


def delete_many(
    m: Map,
    keys: Any,
    *,
    on_error: str = "stop",
    missing_ok: bool = False,
    chunk_size: Optional[int] = None,
) -> BatchResult:
    """Delete many keys in order (BPF_MAP_DELETE_BATCH; per-element C loop where
    unsupported).  ``keys``: a sequence or a packed buffer of ``n * key_size`` bytes.

    A missing key is a failure (KeyNotFoundError cause; DELETE_BATCH stops there with
    count = keys deleted before it) unless ``missing_ok=True``, which skips it and
    counts it in ``result.missing``.  Arrays: InvalidArgumentError (cannot delete).
    Raises CodecError (nothing applied) or BatchError.
    """
    _check_mode(on_error)
    _need_keys(m, "delete_many")
    m._fd()
    chunks, n = _key_chunks(m, keys, DEL, 0, chunk_size)
    return _run(chunks, on_error, n, missing_ok=missing_ok)


# ----------------------------------------------------------------------------- reads by key
def _lookup_loop(m: Map, keys: Any, flags: int, chunk_size: Optional[int], delete: bool):
    h = m._h
    be = h.backend
    ks, vbs = h.info.key_size, h.vbs
    chunks, n = _key_chunks(m, keys, DEL, 0, chunk_size)
    raw_vals: list = []
    all_errs: list[int] = []
    for c in chunks:
        out = be.alloc(c.n * vbs)
        errs: list[int] = []
        fd = m._fd()
        if delete:
            _loops(be).lookup_and_delete_elems(fd, c.kbuf, ks, out, vbs, c.n, flags, errs)
            if (
                errs
                and errs[0] in _UNSUPPORTED
                and h.info.type in _HASH_TYPES
                and all(e == errs[0] for e in errs)
            ):
                # kernels before 5.14: lookup, then delete what was found
                _loops(be).lookup_elems(fd, c.kbuf, ks, out, vbs, c.n, flags, errs)
                found = [i for i, e in enumerate(errs) if e == 0]
                if found:
                    kb = b"".join(c.rawkey(i) for i in found)
                    derrs: list[int] = []
                    _loops(be).delete_elems(fd, kb, ks, len(found), derrs)
                    for i, e in zip(found, derrs):
                        errs[i] = e
        else:
            _loops(be).lookup_elems(fd, c.kbuf, ks, out, vbs, c.n, flags, errs)
        raw_vals.extend(_split(be.tobytes(out, c.n * vbs), vbs, c.n))
        all_errs.extend(errs)
    return chunks, n, raw_vals, all_errs


def _finish_lookup(m, chunks, n, raw_vals, errs, default, op):
    vdec = m._vdec
    vals = raw_vals if _is_raw(m._value_codec) else list(map(vdec, raw_vals))
    if not any(errs):
        return vals
    failures = []
    for c in chunks:
        for i in range(c.n):
            e = errs[c.base + i]
            if e == 0:
                continue
            if e == -ENOENT and default is not _MISSING:
                vals[c.base + i] = default
                continue
            key = c.key(i)
            failures.append((c.base + i, key, m._error(e, op, key)))
            vals[c.base + i] = None
    if not failures:
        return vals
    first = failures[0]
    err = BatchError(
        f"{op}: {len(failures)} of {n} keys failed; first: #{first[0]}: {first[2]}",
        applied=n - len(failures),
        index=first[0],
        key=first[1],
        errors=failures,
        results=vals,
        total=n,
    )
    raise err from first[2]


def lookup_many(
    m: Map,
    keys: Any,
    *,
    default: Any = _MISSING,
    flags: int = 0,
    chunk_size: Optional[int] = None,
) -> list:
    """Values of many keys, in order (one LOOKUP_ELEM per key, looped in C: the kernel
    has no batch lookup by key).  Missing keys give ``default`` when given; otherwise
    (and for any other error) BatchError listing every failed key, with the values
    found in ``err.results`` (None where failed).  ``keys``: sequence or packed buffer.
    """
    _need_keys(m, "lookup_many")
    chunks, n, raw, errs = _lookup_loop(m, keys, int(flags), chunk_size, False)
    return _finish_lookup(m, chunks, n, raw, errs, default, "lookup")


def pop_many(
    m: Map,
    keys: Any,
    *,
    default: Any = _MISSING,
    chunk_size: Optional[int] = None,
) -> list:
    """Remove many keys and return their values, in order (LOOKUP_AND_DELETE_ELEM per
    key in C; lookup then delete on kernels before 5.14).  Every key is attempted; a
    missing key gives ``default`` when given, otherwise BatchError (values popped are
    in ``err.results`` so none is lost)."""
    _need_keys(m, "pop_many")
    chunks, n, raw, errs = _lookup_loop(m, keys, 0, chunk_size, True)
    return _finish_lookup(m, chunks, n, raw, errs, default, "lookup_and_delete")


# ----------------------------------------------------------------------------- streaming reads
def _default_batch(vbs: int, ks: int) -> int:
    return max(256, min(8192, (512 * 1024) // max(1, vbs + ks)))


def _dump_chunks(
    m: Map, batch_size: Optional[int], delete: bool
) -> Iterator[tuple[bytes, bytes, int]]:
    """Yield (packed keys, packed values, count) chunks of the whole map through
    LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH), else the per-element walk in C."""
    h = m._h
    info = h.info
    if info.key_size == 0:
        raise TypeError(f"{m._type_name()} maps cannot be iterated; use pop()")
    be = h.backend
    ks, vbs = info.key_size, h.vbs
    chunk = int(batch_size) if batch_size else _default_batch(vbs, ks)
    if chunk <= 0:
        raise ValueError("batch_size must be positive")
    cmd = "lookup_and_delete" if delete else "lookup"
    op = cmd + "_batch"
    tok = max(ks, 8)
    keys_out = be.alloc(chunk * ks)
    vals_out = be.alloc(chunk * vbs)
    if _batch_ok(h, cmd):
        fn = be.map_lookup_and_delete_batch if delete else be.map_lookup_batch
        in_b, out_b = None, be.alloc(tok)
        spare = be.alloc(tok)
        total = 0
        retries = 0
        while True:
            rc, cnt = fn(m._fd(), in_b, out_b, keys_out, vals_out, chunk)
            if rc not in (0, -ENOENT, -EINTR) or cnt > chunk:
                cnt = 0
            if rc in _UNSUPPORTED and total == 0 and in_b is None:
                break  # no batch command: per-element walk below
            if rc == -ENOSPC and cnt == 0:
                # a hash bucket larger than the chunk: grow and retry (bounded: no
                # bucket holds more than max_entries elements)
                if chunk > info.max_entries:
                    raise m._error(rc, op)
                chunk *= 2
                keys_out = be.alloc(chunk * ks)
                vals_out = be.alloc(chunk * vbs)
                continue
            if cnt:
                total += cnt
                yield be.tobytes(keys_out, cnt * ks), be.tobytes(vals_out, cnt * vbs), cnt
            if rc == -ENOENT:
                return
            if rc == -EINTR:
                retries += 1
                if retries > _EINTR_RETRIES:
                    raise m._error(rc, op)
                if not cnt:
                    continue
            elif rc < 0:
                raise m._error(rc, op)
            else:
                retries = 0
            # the next call starts where this one stopped
            in_b, out_b, spare = out_b, spare, in_b
            if spare is None:
                spare = be.alloc(tok)
        # fall through: unsupported
    fell_back = False
    cursor = be.alloc(ks)
    start = None
    steps_total = 0
    limit = info.max_entries + 1 if not delete else 2 * info.max_entries + chunk + 1
    while True:
        rc, cnt, steps = _loops(be).dump_elems(
            m._fd(), start, cursor, keys_out, ks, vals_out, vbs, chunk, delete
        )
        if not fell_back and (rc == 0 or rc == -ENOENT):
            fell_back = True
            _mark_no_batch(h, cmd)
        steps_total += steps
        if cnt:
            yield be.tobytes(keys_out, cnt * ks), be.tobytes(vals_out, cnt * vbs), cnt
        if rc == -ENOENT:
            return
        if rc < 0:
            raise m._error(rc, "lookup_and_delete" if delete else "lookup")
        if steps_total > limit:
            raise IterationAbortedError(
                f"map {h.desc} changed under iteration for more than {limit} steps; "
                "keys may repeat when others delete concurrently"
            )
        if not delete:
            start = cursor


def iter_items(m: Map, batch_size: Optional[int] = None) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs of the whole map, streamed ``batch_size`` elements per
    syscall through BPF_MAP_LOOKUP_BATCH (kernel >= 5.6 and map types with batch
    support); elsewhere one GET_NEXT_KEY + LOOKUP per element, looped in C.

    ENOENT with a partial count ends the walk; ENOSPC (a hash bucket larger than the
    chunk) doubles the chunk and retries; EINTR retries.  Per-CPU maps yield per-CPU
    lists.  Not a snapshot: concurrent writers may or may not be seen.  Cost: the
    kernel's copy plus about 60 ns per element to build Python objects.
    """
    raw_k = _is_raw(m._key_codec)
    raw_v = _is_raw(m._value_codec)
    kdec, vdec = m._kdec, m._vdec
    h = m._h
    ks, vbs = h.info.key_size, h.vbs

    def gen() -> Iterator[Iterator[tuple[Any, Any]]]:
        for kb, vb, cnt in _dump_chunks(m, batch_size, False):
            keys: Any = _split(kb, ks, cnt)
            vals: Any = _split(vb, vbs, cnt)
            if not raw_k:
                keys = map(kdec, keys)
            if not raw_v:
                vals = map(vdec, vals)
            yield zip(keys, vals)

    return itertools.chain.from_iterable(gen())


def iter_values(m: Map, batch_size: Optional[int] = None) -> Iterator[Any]:
    """Values of the whole map; same path and rules as :func:`iter_items`."""
    raw_v = _is_raw(m._value_codec)
    vdec = m._vdec
    vbs = m._h.vbs

    def gen() -> Iterator[Any]:
        for _kb, vb, cnt in _dump_chunks(m, batch_size, False):
            vals = _split(vb, vbs, cnt)
            yield vals if raw_v else map(vdec, vals)

    return itertools.chain.from_iterable(gen())


def pop_all(m: Map, *, batch_size: Optional[int] = None) -> list[tuple[Any, Any]]:
    """Drain the map: remove every element and return the (key, value) pairs, through
    BPF_MAP_LOOKUP_AND_DELETE_BATCH (hash maps, kernel >= 5.6), else GET_NEXT_KEY +
    LOOKUP_AND_DELETE_ELEM looped in C.  Elements added meanwhile may or may not be
    taken.  On failure BatchError with ``err.results`` = the pairs already removed."""
    kdec, vdec = m._kdec, m._vdec
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    out: list[tuple[Any, Any]] = []
    try:
        for kb, vb, cnt in _dump_chunks(m, batch_size, True):
            out.extend(zip(map(kdec, _split(kb, ks, cnt)), map(vdec, _split(vb, vbs, cnt))))
    except (TypeError, IterationAbortedError):
        raise
    except Exception as e:
        err = BatchError(
            f"pop_all stopped after removing {len(out)} elements: {e}",
            applied=len(out),
            index=len(out),
            results=out,
        )
        raise err from e
    return out


def clear(m: Map) -> None:
    """Remove every element.  Hash maps: LOOKUP_AND_DELETE_BATCH chunks.  Arrays:
    write zero values to every index (UPDATE_BATCH).  Other keyed maps: walk the keys
    and delete them (DELETE_BATCH or the C loop; keys already gone are ignored).
    Queue/stack: pop until empty (at most max_entries pops)."""
    h = m._h
    info = h.info
    raw = m.raw
    if info.key_size == 0:
        # bounded: at most max_entries pops (what a concurrent producer pushes
        # meanwhile may remain)
        for _ in range(info.max_entries):
            try:
                raw.pop()
            except KeyError:
                return
        return
    if info.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        import array as _array

        step = 65536
        zero = bytes(min(step, info.max_entries) * h.vbs)
        for off in range(0, info.max_entries, step):
            e = min(info.max_entries, off + step)
            idx = _array.array("I", range(off, e))
            update_many(raw, idx, memoryview(zero)[: (e - off) * h.vbs])
        return
    if info.type in _HASH_TYPES:
        try:
            for _ in _dump_chunks(m, None, True):
                pass
            return
        except Exception as e:  # e.g. no lookup-and-delete on this kernel: delete by key
            from .errors import BPFError

            if not isinstance(e, BPFError):
                raise
    keys = list(raw._iter_raw_keys())
    if keys:
        delete_many(raw, keys, missing_ok=True)

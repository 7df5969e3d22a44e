"""The raw batch engine: packed keys and values applied to one or more maps in order,
with exact failure reports (BPF_MAP_UPDATE_BATCH / DELETE_BATCH, per-element loops
where a map type or kernel has no batch command, parallel apply, rollback).

It knows nothing of codecs or of :class:`~bpfmaps.maps.Map`: it works on
:class:`Target` objects (a Map view provides one; :class:`FdTarget` wraps an fd the
caller owns, e.g. the bpftool runner's).  The typed bulk API (:mod:`bpfmaps.bulk`)
and the batch context managers (:mod:`bpfmaps.batching`) encode with
:func:`bpfmaps.codecs.encode_many` and run :func:`run` on :class:`Chunk` lists; the
bpftool executor calls :func:`update_packed` / :func:`delete_packed` with whole runs.

Semantics (see docs/batching.md): operations run in program order, nothing is
atomic; ``on_error`` is ``"stop"`` (the kernel's rule: count = number applied, the
failing element is index count), ``"continue"`` (attempt all, one error each) or
``"rollback"`` (stop, then restore what was changed).  Failures raise
:class:`~bpfmaps.errors.BatchError` with ``applied``, ``index``, ``key``, the cause
chained, ``not_attempted``, ``total``, ``also_applied`` and ``rollback_errors``.

The engine's data (:class:`Target`, :class:`Chunk`, the operation kinds) is
:mod:`bpfmaps.chunks`; the parallel apply of one update chunk (when it is proven to
give the serial result) is :mod:`bpfmaps.parallel`; rollback snapshots and restores are :mod:`bpfmaps.rollback`;
streaming whole-map reads (:func:`dump_chunks`) are :mod:`bpfmaps.dump`.  Their public
names are re-exported here.

Kernel floor: 5.6 for the batch commands (older kernels, and map types without
them, run the per-element loops of :mod:`bpfmaps.loops` with identical results).
"""

from __future__ import annotations

import bpfmaps.chunks as _chunks  # (CALL_CHUNK read at each use: one patch point)

from .chunks import (
    _OPNAME,
    _UNSUPPORTED,
    DEFAULT_CHUNK,
    DEL,
    ENOENT,
    RC_EINTR,
    RC_EPROTO,
    UPD,
    UPE,
    Chunk,
    FdTarget,
    Target,
    _batch_ok,
    _mark_no_batch,
    _packed,
    check_mode,
    forced_fallback,
    packed_view,
)
from .errors import BatchError
from .loops import of as _loops
from .parallel import (
    PARALLEL_MIN,
    _apply_parallel,
    _free_threads,
    _parallel_ok,
    _proof_is_cheap,
)
from .types import UPDATE_FLAGS as UpdateFlags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, ClassVar, Optional

    from ._loopbase import UpdateProg
    from .dump import default_batch, dump_chunks
    from .rollback import Snapshot

__all__ = [
    "DEFAULT_CHUNK",
    "DEL",
    "PARALLEL_MIN",
    "UPD",
    "UPE",
    "BatchResult",
    "Chunk",
    "FdTarget",
    "Target",
    "check_mode",
    "default_batch",
    "delete_packed",
    "dump_chunks",
    "forced_fallback",
    "packed_view",
    "run",
    "update_packed",
]

#: after this many failures inside one chunk, "continue" switches to the per-element loop
_CONTINUE_SWITCH = 4


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

    def _astuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchResult):
            return NotImplemented
        return self._astuple() == other._astuple()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return "BatchResult(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    def __int__(self) -> int:
        return self.applied


def _view(buf: Any, pos: int, size: int) -> Any:
    if pos == 0 or buf is None:
        return buf
    return memoryview(buf)[pos * size :]


class _RunProgs:
    """The in-kernel update programs of one :func:`run` call: one for each group of
    consecutive update chunks into one map with one kind and flags (e.g. the
    8192-element chunks of a ``m.batch()`` flush), built when the group's first
    chunk needs it, if the group's elements in all reach the backend's threshold
    (:meth:`bpfmaps.loops.Loops.open_update_prog`), reused by the group's other
    chunks, and closed when the next group starts or by :meth:`close` (run's
    ``finally``): at most one is open at a time."""

    __slots__ = ("_chunks", "_first", "_group", "_prog", "_spec")

    def __init__(self, chunks: list[Chunk], spec: int = 0) -> None:
        self._chunks = chunks
        self._spec = spec  # threads of a speculative apply for update groups (0: none)
        self._first: Optional[list[int]] = None  # first chunk of each chunk's group
        self._group = -1  # that of the open program's group
        self._prog: Optional[UpdateProg] = None

    def get(self, i: int) -> Optional[UpdateProg]:
        """The program for update chunk ``i``, or None (use the syscall).  Cost: one
        pass over the chunks on the first call; a build per group (~2 ms)."""
        cs = self._chunks
        first = self._first
        if first is None:
            first = self._first = [0] * len(cs)
            for j in range(1, len(cs)):
                a, b = cs[j - 1], cs[j]
                same = a.t is b.t and a.kind == b.kind and a.flags == b.flags
                first[j] = first[j - 1] if same else j
        g = first[i]
        if g == self._group:
            return self._prog
        self.close()
        self._group = g
        total, j = 0, g
        while j < len(cs) and first[j] == g:
            total += cs[j].n
            j += 1
        c = cs[i]
        t = c.t
        k = self._spec
        self._prog = _loops(t.backend).open_update_prog(
            t.fileno(), t.info, c.flags, total, max(k, 1), spec=k > 1
        )
        return self._prog

    def close(self) -> None:
        """Close the open program, if any (idempotent)."""
        prog, self._prog, self._group = self._prog, None, -1
        if prog is not None:
            prog.close()


def _apply(
    c: Chunk, pos: int, prog: bool = True, progs: Optional[_RunProgs] = None, i: int = 0
) -> tuple[int, int, bool]:
    """Run operations ``pos..n`` of ``c`` (stop at the first failure): (rc, applied, fallback).
    Long update runs go through the backend's in-kernel program where it gives the
    syscall's result (``prog``; :meth:`bpfmaps.loops.Loops.update_prog`): the one
    ``progs`` holds for chunk ``i`` of a run when given, else one built for ``c``
    alone when ``c`` is long enough."""
    t = c.t
    fd = t.fileno()
    be = t.backend
    ks = t.info.key_size
    n = c.n - pos
    kb = _view(c.kbuf, pos, ks)
    if c.kind == DEL:
        if _batch_ok(t, "delete"):
            rc, cnt = be.map_delete_batch(fd, kb, n)
            if rc < 0 and cnt >= n:
                cnt = 0  # early failure: the kernel left count untouched
            if not (rc in _UNSUPPORTED and cnt == 0):
                return rc, cnt, False
            rc, cnt = _loops(be).delete_elems(fd, kb, ks, n)
            if rc == 0 or cnt > 0:
                _mark_no_batch(t, "delete")
            return rc, cnt, True
        rc, cnt = _loops(be).delete_elems(fd, kb, ks, n)
        return rc, cnt, True
    vbs = t.value_buf_size
    vb = _view(c.vbuf, pos, vbs)
    # (not where batch commands are missing or forced off: such kernels lack it too)
    if (c.kind == UPD or c.kind == UPE) and ks and prog and _batch_ok(t, "update"):
        if progs is None:
            r = _loops(be).update_prog(fd, t.info, kb, vb, vbs, [(0, n)], c.flags)
        else:
            up = progs.get(i)
            r = None if up is None else up.apply(kb, vb, vbs, [(0, n)])
        if r is not None:
            rc, cnt = r[0]
            if rc != RC_EPROTO:
                return rc, cnt, False
            rc, more, fb = _apply(c, pos + cnt, prog=False)  # the rest the syscall way
            return rc, cnt + more, fb
    if c.kind == UPD and ks and _batch_ok(t, "update"):
        call = _chunks.CALL_CHUNK
        if n > call:
            # one part, in this thread: UPDATE_BATCH calls of CALL_CHUNK elements in
            # order (same result and count as one call), and a stop signal ends it
            # between two calls (bpfmaps.kernel.stop_install)
            rc, cnt = _loops(be).update_batch_parts(fd, kb, vb, ks, vbs, [(0, n)], c.flags, call)[0]
        else:
            rc, cnt = be.map_update_batch(fd, kb, vb, n, c.flags)
        if rc < 0 and cnt >= n:
            cnt = 0
        if not (rc in _UNSUPPORTED and cnt == 0):
            return rc, cnt, False
        rc, cnt = _loops(be).update_elems(fd, kb, ks, vb, vbs, n, c.flags)
        if rc == 0 or cnt > 0:
            _mark_no_batch(t, "update")
        return rc, cnt, True
    rc, cnt = _loops(be).update_elems(fd, kb, ks, vb, vbs, n, c.flags)
    return rc, cnt, c.kind == UPD


def _apply_each(c: Chunk, pos: int) -> list[int]:
    """Attempt operations ``pos..n`` of ``c`` one by one in C; one rc per operation."""
    t = c.t
    fd = t.fileno()
    be = t.backend
    ks = t.info.key_size
    n = c.n - pos
    errs: list[int] = []
    kb = _view(c.kbuf, pos, ks)
    if c.kind == DEL:
        _loops(be).delete_elems(fd, kb, ks, n, errs)
    else:
        _loops(be).update_elems(
            fd, kb, ks, _view(c.vbuf, pos, t.value_buf_size), t.value_buf_size, n, c.flags, errs
        )
    return errs


def _ranges(indices: list[int], after: int) -> list[tuple[int, int]]:
    """The indices above ``after`` as sorted ``(start, stop)`` ranges."""
    out: list[tuple[int, int]] = []
    for i in sorted(j for j in indices if j > after):
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def run(
    chunks: Iterable[Chunk],
    on_error: str,
    total: int,
    *,
    missing_ok: bool = False,
    parallel: bool = False,
) -> BatchResult:
    """Apply ``chunks`` in order under ``on_error``; return a BatchResult or raise
    BatchError (cause chained) with the exact report.  ``parallel``: apply an update
    chunk in several threads (stop mode) by the speculative apply where the backend's
    program offers it (:meth:`UpdateProg.speculate`), else where :func:`_parallel_ok`
    proves it identical.
    Cost: one batch command per chunk (per-element C loops where unsupported, for
    NOEXIST/EXIST updates and for "continue" after repeated failures); "rollback"
    adds one lookup per operation first."""
    chunks = list(chunks)
    # the CPUs free for a parallel apply, read once a run (one read of /proc/loadavg)
    threads = _free_threads() if parallel and on_error == "stop" else 0
    progs = _RunProgs(chunks, threads)
    try:
        return _run(chunks, on_error, total, missing_ok, threads, progs)
    finally:
        progs.close()


def _run(
    chunks: list[Chunk],
    on_error: str,
    total: int,
    missing_ok: bool,
    threads: int,
    progs: _RunProgs,
) -> BatchResult:
    res = BatchResult(total=total)
    errors = res.errors
    snaps: Optional[list[Snapshot]] = [] if on_error == "rollback" else None
    for ci, c in enumerate(chunks):
        if c.n == 0:
            if snaps is not None:
                snaps.append((b"", []))
            continue
        if snaps is not None:
            from .rollback import snapshot as _snapshot  # start-up: on_error="rollback" only

            snaps.append(_snapshot(c))
        pos = 0
        local_fail = 0
        extra: list[tuple[int, int]] = []
        kept: list[int] = []  # applied after a failure and not undone (speculative apply)
        par: Optional[tuple[int, int, list[tuple[int, int]]]] = None
        up = None
        if threads and c.kind != DEL and _batch_ok(c.t, "update"):
            up = progs.get(ci)
        if up is not None and up.spec_slots and c.kind == UPD and _proof_is_cheap(c, threads):
            # the proof holds: no speculation needed
            par = _apply_parallel(c, _apply, threads, up)
            res.parallel |= par is not None
        elif up is not None and up.spec_slots:
            rc, cnt, kept = up.speculate(c.kbuf, c.vbuf, c.t.value_buf_size, c.n)
            res.parallel |= rc == 0 or rc == RC_EPROTO or (rc == RC_EINTR and cnt > 0)
            if rc == RC_EINTR:
                par = (rc, cnt, [])
            elif rc == 0 or rc == RC_EPROTO:  # the prefix is applied; the rest serially
                res.applied += cnt
                pos = cnt
        elif threads and c.kind == UPD and _parallel_ok(c, threads):
            par = _apply_parallel(c, _apply, threads)
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
                        errors.append((c.base + pos + i, key, c.t.error(e, _OPNAME[c.kind], key)))
                break
            if par is not None:
                (rc, cnt, extra), fb, par = par, False, None
            else:
                rc, cnt, fb = _apply(c, pos, progs=progs, i=ci)
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
            exc = c.t.error(rc, _OPNAME[c.kind], key)
            errors.append((c.base + at, key, exc))
            local_fail += 1
            if on_error == "continue":
                continue
            index = c.base + at
            problems: list[tuple[Any, Any, BaseException]] = []
            if snaps is not None:
                from .rollback import rollback as _rollback

                problems = _rollback(chunks, snaps, index)
            msg = f"{_OPNAME[c.kind]} #{index} of {total} failed after {res.applied} applied: {exc}"
            also = [(c.base + a, c.base + b) for a, b in extra + _ranges(kept, at)]
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
            from .rollback import not_attempted as _not_attempted  # start-up: failures only

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


def update_packed(
    t: Target,
    keys: Any,
    values: Any,
    *,
    flags: int = 0,
    on_error: str = "stop",
    parallel: bool = False,
    chunk_size: Optional[int] = None,
) -> BatchResult:
    """Write packed ``values`` (``n * value_buf_size`` bytes) at packed ``keys``
    (``n * key_size`` bytes; None for queue/stack maps, which push each value) into
    ``t`` in order.  ``chunk_size``: elements per kernel call (default: all).

    ``parallel=True`` (``on_error="stop"`` only): up to 4 threads at once (GIL
    released) where the result is the serial one.  A run long enough for the
    in-kernel program into a preallocated HASH map without ZERO_SEED takes the
    speculative apply (any flags, any keys, populated or not: each key goes to one
    thread, what a thread applied after another's first refused element is undone,
    and the rest is applied serially from there; :meth:`UpdateProg.speculate`).
    Otherwise the buffer is split into contiguous parts (UPDATE_BATCH) only when
    provably identical: plain upserts (``flags`` 0), a preallocated HASH or
    PERCPU_HASH map without ZERO_SEED, at least :data:`PARALLEL_MIN` pairwise
    distinct keys (checked in C), no more than max_entries, and an empty map (one
    GET_NEXT_KEY, just before).  Only the order of elements inside a hash bucket
    may differ.  ``result.parallel`` tells whether threads were used.  If another
    writer makes a parallel apply fail or refuse an undo, BatchError's
    ``also_applied`` lists the ranges after ``index`` that stayed written (never
    rolled back).

    Cost: one UPDATE_BATCH per chunk (about 60-100 ns per element on the kernel);
    NOEXIST/EXIST and keyless maps: one UPDATE_ELEM per element, in C.  Long runs
    into HASH and ARRAY maps (:data:`bpfmaps._kloops.PROG_MIN_ANY` upserts,
    :data:`~bpfmaps._kloops.PROG_MIN_FLAGS` NOEXIST/EXIST) go through an in-kernel
    program with the same result (:mod:`bpfmaps._kprog`, kernel 5.17): about 0.6x
    the time of UPDATE_BATCH, a fraction of one syscall an element.  Raises
    BatchError (cause chained), ValueError/TypeError for bad buffers.
    """
    check_mode(on_error)
    if parallel and on_error != "stop":
        raise ValueError('parallel=True needs on_error="stop"')
    ks, vbs = t.info.key_size, t.value_buf_size
    t.fileno()
    flags = int(flags)
    kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
    vb, n = _packed(values, vbs, "values")
    if ks:
        kb, nk = _packed(keys, ks, "keys")
        if nk != n:
            raise ValueError(f"{nk} keys but {n} values")
    else:
        kb = None
    cs = chunk_size or max(n, 1)
    chunks = []
    for off in range(0, n, cs):
        e = min(n, off + cs)
        chunks.append(
            Chunk(
                t, kind, flags, kb[off * ks : e * ks] if kb is not None else None,
                vb[off * vbs : e * vbs], e - off, off, None,
            )
        )  # fmt: skip
    return run(chunks, on_error, n, parallel=parallel and ks > 0)


def delete_packed(
    t: Target,
    keys: Any,
    *,
    on_error: str = "stop",
    missing_ok: bool = False,
    chunk_size: Optional[int] = None,
) -> BatchResult:
    """Delete the packed ``keys`` (``n * key_size`` bytes) from ``t`` in order
    (DELETE_BATCH; the per-element loop where unsupported, e.g. arrays, which fail
    with EINVAL like bpftool).  A missing key is a failure unless ``missing_ok``
    (counted in ``result.missing``).  Cost: one DELETE_BATCH per chunk.  Raises
    BatchError (cause chained)."""
    check_mode(on_error)
    ks = t.info.key_size
    if not ks:
        raise TypeError(f"map {t.desc} has no keys: nothing to delete")
    t.fileno()
    kb, n = _packed(keys, ks, "keys")
    cs = chunk_size or max(n, 1)
    chunks = [
        Chunk(
            t, DEL, 0, kb[off * ks : min(n, off + cs) * ks], None, min(n, off + cs) - off, off, None
        )
        for off in range(0, n, cs)
    ]
    return run(chunks, on_error, n, missing_ok=missing_ok)


def __getattr__(name: str) -> Any:
    """The streaming-read names, re-exported from :mod:`bpfmaps.dump` on first use
    (PEP 562): a batch file that only writes never loads that module."""
    if name in ("default_batch", "dump_chunks"):
        from .dump import default_batch, dump_chunks  # start-up: whole-map reads only

        value: Any = default_batch if name == "default_batch" else dump_chunks
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

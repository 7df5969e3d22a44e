"""Batch context managers: buffer writes, apply them in program order at kernel speed.

One map::

    with m.batch() as b:            # or m.batch(auto_flush=100_000, on_error="rollback")
        b[k] = v                    # plain upsert
        del b[k2]                   # delete
        b.update(k3, v3, flags=UpdateFlags.NOEXIST)

Several maps, one program order::

    with bpfmaps.batch() as tx:
        tx[m1][k] = v
        tx[m2][k2] = v2

Nothing is sent until the block ends (or :meth:`MapBatch.flush`, or every
``auto_flush`` buffered operations).  Then consecutive plain upserts to one map go out
as BPF_MAP_UPDATE_BATCH chunks, consecutive deletes as BPF_MAP_DELETE_BATCH, and
NOEXIST/EXIST updates through the per-element loop in C (the kernel refuses those
flags in batch); where the kernel or map type has no batch command the per-element
C loop runs instead, with the same results and reports.

An exception inside the block applies nothing that is still buffered (operations
already flushed, e.g. by ``auto_flush``, stay applied).  A failure while applying
raises :class:`~bpfmaps.errors.BatchError` (``on_error`` = ``"stop"``,
``"continue"`` or ``"rollback"``; see :mod:`bpfmaps.bulk`), with indices counted in
program order from the start of the batch.  Not atomic: BPF programs can observe
the map between elements.

Cost: on a map with raw-bytes codecs, ``b[k] = v`` with ``bytes`` of the key and value
buffer sizes runs no Python code: it is the mapping slot of MapBatch's C base
(:class:`bpfmaps._pack.BatchBase`), reached straight from the interpreter (no method
lookup, no argument tuple), which copies both into packed buffers that grow by
blocks of one flush chunk (8192 pairs by default), never reallocated (about 15 ns), so
the flush hands them to the kernel as they are, one block a chunk.  With other codecs the same
slot appends the two objects to lists; other objects or sizes, ``auto_flush`` and
cross-map batches use the lists too (about 60 ns), joined per chunk at flush (about
40 ns per element); a raw batch that meets such an item moves what it packed so far
to the lists once, keeping program order and every report.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate
from threading import get_ident
from typing import TYPE_CHECKING, Any, Generic, Optional, Union

from ._pack import BatchBase  # codecs (imported above) has checked the build is current
from ._typing import K, V
from .bulk import need_keys
from .codecs import Raw, encode_many
from .engine import DEFAULT_CHUNK, DEL, UPD, UPE, BatchResult, Chunk, check_mode, run
from .types import UpdateFlags

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._core import MapCore as Map  # any view of a map (a Map is one)
    from .codecs import AllCPUs

__all__ = ["MapBatch", "Transaction", "batch"]

#: (id of the map's fd handle, thread id) -> the batch whose ``with`` block is open on it.
#: One open batch per map and thread: a second one would buffer its own writes and
#: apply them before the outer ones, out of program order, so it is refused.
_open: dict[tuple[int, int], Any] = {}


def _claim(m: Map, owner: Any) -> tuple[int, int]:
    key = (id(m._h), get_ident())
    other = _open.get(key)
    if other is not None and other is not owner:
        raise RuntimeError(
            f"nested batch on {m!r}: a batch of this map is already open in this thread "
            "(its writes would apply after the inner batch's, out of program order); "
            "write through the open batch, or flush and exit it first"
        )
    _open[key] = owner
    return key


def _release(keys: Any, owner: Any) -> None:
    for key in keys:
        if _open.get(key) is owner:
            del _open[key]


def _segments(marks: list[Any], start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Runs ``(kind, flags, s, e)`` of operations ``start..end``: every index not in
    ``marks`` (sorted ``(index, kind, flags)``) is a plain upsert."""
    segs: list[list[int]] = []
    pos = start
    j = bisect_left(marks, (start,))
    while j < len(marks) and marks[j][0] < end:
        idx, kind, flags = marks[j]
        if idx > pos:
            segs.append([UPD, 0, pos, idx])
        if segs and segs[-1][0] == kind and segs[-1][1] == flags and segs[-1][3] == idx:
            segs[-1][3] = idx + 1
        else:
            segs.append([kind, flags, idx, idx + 1])
        pos = idx + 1
        j += 1
    if pos < end:
        if segs and segs[-1][0] == UPD and segs[-1][1] == 0 and segs[-1][3] == pos:
            segs[-1][3] = end
        else:
            segs.append([UPD, 0, pos, end])
    return [tuple(s) for s in segs]  # type: ignore[misc]


def _cut(blocks: list[Any], starts: list[int], size: int, a: int, b: int) -> Any:
    """Pairs ``a..b-1`` of ``blocks`` as one buffer: a view of their block, or the join
    of the pieces when they span blocks (only a run that does not start at a multiple
    of the block size, after a delete or flagged update, or another chunk size)."""
    j = bisect_right(starts, a) - 1
    parts = []
    while a < b:
        end = min(b, starts[j + 1])
        parts.append(memoryview(blocks[j])[(a - starts[j]) * size : (end - starts[j]) * size])
        a, j = end, j + 1
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _packed_chunks(
    m: Map[Any, Any], kbl: list[Any], vbl: list[Any], marks: list[Any], n: int, base: int, cs: int
) -> list[Chunk]:
    """The chunks of ``n`` operations already packed by BatchBase (key blocks ``kbl``,
    value blocks ``vbl``; a delete's value slot is unused), cut like :func:`_chunks_for`'s;
    keys in reports are decoded from the key buffers (raw bytes, as the caller gave
    them).  A chunk of plain upserts past the first is one block's view (blocks of
    ``cs`` pairs start at multiples of ``cs``): nothing is copied."""
    t = m._target()
    ks, vbs = t.info.key_size, t.value_buf_size
    # each block's first pair, then the end (a value block holds its key block's pairs)
    st = [0, *accumulate(len(blk) // ks for blk in kbl)]
    out = []
    for kind, flags, s, e in _segments(marks, 0, n):
        for off in range(s, e, cs):
            stop = min(e, off + cs)
            vpart = None if kind == DEL else _cut(vbl, st, vbs, off, stop)
            kpart = _cut(kbl, st, ks, off, stop)
            out.append(Chunk(t, kind, flags, kpart, vpart, stop - off, base + off, None))
    return out


def _chunks_for(
    m: Map[Any, Any],
    keys: list[Any],
    vals: list[Any],
    marks: list[Any],
    start: int,
    end: int,
    base: int,
    cs: int,
) -> list[Chunk]:
    """Encode operations ``start..end`` of one map's buffer; ``base`` = global index of
    ``start``.  Raises CodecError before anything is applied."""
    t = m._target()
    ks, vbs = t.info.key_size, t.value_buf_size
    kc, vc = m._key_codec, m._value_codec
    out = []
    for kind, flags, s, e in _segments(marks, start, end):
        for off in range(s, e, cs):
            stop = min(e, off + cs)
            kk = keys[off:stop]
            gbase = base + off - start
            kb = encode_many(kk, kc, ks, "key", gbase)
            vb = None if kind == DEL else encode_many(vals[off:stop], vc, vbs, "value", gbase)
            out.append(Chunk(t, kind, flags, kb, vb, stop - off, gbase, kk))
    return out


class MapBatch(BatchBase, Generic[K, V]):
    """Buffered writes to one map, applied in program order on exit or :meth:`flush`.

    Use through ``m.batch(auto_flush=None, on_error="stop", chunk_size=8192)``.
    ``len(b)`` is the number of buffered operations; ``b.result`` accumulates the
    :class:`~bpfmaps.bulk.BatchResult` of every flush.
    """

    # ``b[k] = v`` is BatchBase's mapping slot (C: packed buffers while packing, else
    # the _keys/_vals lists); ``del b[k]`` there calls :meth:`delete`.  Defining
    # __setitem__ or __delitem__ here would replace that slot by a Python-level one;
    # subclasses that define their own __setitem__ (auto_flush, cross-map) do so.
    __slots__ = (
        "_m",
        "_marks",
        "_zero",
        "_on_error",
        "_cs",
        "_limit",
        "_base",
        "_tx",
        "result",
    )

    def __new__(
        cls, m: Map[K, V], *args: Any, auto_flush: Optional[int] = None, **kw: Any
    ) -> MapBatch[K, V]:
        if cls is MapBatch and auto_flush:
            cls = _AutoFlushMapBatch
        return BatchBase.__new__(cls)

    def __init__(
        self,
        m: Map[K, V],
        *,
        auto_flush: Optional[int] = None,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
        _tx: Optional[Transaction] = None,
    ) -> None:
        check_mode(on_error, chunk_size)
        need_keys(m, "batch")
        m._fd()
        if auto_flush is not None and auto_flush <= 0:
            raise ValueError("auto_flush must be a positive number of operations")
        self._m = m
        self._marks: list[Any] = []
        self._on_error = on_error
        self._cs = chunk_size or DEFAULT_CHUNK
        self._limit = auto_flush or 0
        self._base = 0
        self._tx = _tx
        self.result: BatchResult = BatchResult()
        self._zero = b""
        if type(self) is MapBatch:
            kc: Any = m._key_codec
            vc: Any = m._value_codec
            if type(kc) is Raw and type(vc) is Raw:
                t = m._target()
                vbs = t.value_buf_size
                # blocks of whole chunks (at least 1024 pairs): a chunk is one block
                cs = self._cs
                self._pk_open(t.info.key_size, vbs, cs * max(1, -(-1024 // cs)))
                self._zero = bytes(vbs)

    # ------------------------------------------------------------------ buffering
    if TYPE_CHECKING:

        def __setitem__(self, key: K, value: Union[V, AllCPUs[Any]]) -> None:
            """Buffer an upsert (BPF_ANY)."""

    def _spill(self, key: Any, value: Any) -> None:
        """The packing slow path (called by BatchBase, in order, for a pair that is not
        exact bytes of the sizes): move what was packed to the lists, buffer this pair
        there, and buffer in the lists from now on (codecs or flush report the pair)."""
        self._unpack()
        self._keys.append(key)
        self._vals.append(value)

    def _unpack(self) -> None:
        if not self._packing:
            return
        kbl, vbl, n = self._pk_take()
        self._pk_close()
        t = self._m._target()
        ks, vbs = t.info.key_size, t.value_buf_size
        kb, vb = b"".join(kbl), b"".join(vbl)
        self._keys = [kb[i * ks : (i + 1) * ks] for i in range(n)]
        self._vals = [vb[i * vbs : (i + 1) * vbs] for i in range(n)]

    def _count(self) -> int:
        return self._pk_n if self._packing else len(self._keys)

    def delete(self, key: K) -> None:
        """Buffer a delete, also ``del b[key]`` (a missing key fails with
        KeyNotFoundError at apply time)."""
        if self._packing:
            self._marks.append((self._pk_n, DEL, 0))
            self._pk_append(key, self._zero)  # the value slot of a delete is never read
            return
        keys = self._keys
        self._marks.append((len(keys), DEL, 0))
        keys.append(key)
        self._vals.append(None)
        if self._limit and len(keys) >= self._limit:
            self.flush()

    if TYPE_CHECKING:

        def __delitem__(self, key: K) -> None:
            """Buffer a delete (BatchBase's slot calls :meth:`delete`)."""

    def update(self, key: K, value: Union[V, AllCPUs[Any]], flags: int = UpdateFlags.ANY) -> None:
        """Buffer an update with flags: ANY (same as ``b[k] = v``), LOCK (still
        batched), NOEXIST/EXIST (applied by the per-element C loop, in order)."""
        flags = int(flags)
        if self._packing:
            if flags:
                kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
                self._marks.append((self._pk_n, kind, flags))
            self._pk_append(key, value)
            return
        keys = self._keys
        if flags:
            kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
            self._marks.append((len(keys), kind, flags))
        keys.append(key)
        self._vals.append(value)
        if self._limit and len(keys) >= self._limit:
            self.flush()

    def __len__(self) -> int:
        return self._count()

    @property
    def map(self) -> Map:
        return self._m

    # ------------------------------------------------------------------ applying
    def _take(self) -> tuple[list[Any], list[Any], list[Any]]:
        k, v, mk = self._keys, self._vals, self._marks
        self._keys, self._vals, self._marks = [], [], []
        return k, v, mk

    def discard(self) -> int:
        """Drop everything buffered; returns how many operations were dropped."""
        n = self._count()
        self._take()
        if self._packing:
            self._pk_take()
        return n

    def flush(self) -> BatchResult:
        """Apply the buffered operations now (in a cross-map batch: all maps' operations).

        Raises CodecError (nothing applied) or BatchError (see the module docstring).
        """
        if self._tx is not None:
            return self._tx.flush()
        keys, vals, marks = self._take()
        packed = self._packing
        if packed:
            kb, vb, n = self._pk_take()
        else:
            n = len(keys)
        base = self._base
        self._base += n
        if not n:
            return BatchResult()
        if packed:
            chunks = _packed_chunks(self._m, kb, vb, marks, n, base, self._cs)
        else:
            chunks = _chunks_for(self._m, keys, vals, marks, 0, n, base, self._cs)
        try:
            res = run(chunks, self._on_error, n)
        except Exception as e:
            self._account(getattr(e, "applied", 0), n, True)
            raise
        self._account(res.applied, n, res.fallback)
        return res

    def _account(self, applied: int, total: int, fallback: bool) -> None:
        r = self.result
        r.applied += applied
        r.total += total
        r.fallback |= fallback

    def __enter__(self) -> Self:
        """Open the block.  RuntimeError if a batch of the same map is already open in
        this thread (nested blocks would break program order); the check is one dict
        lookup, nothing is added per write."""
        if self._tx is None:
            _claim(self._m, self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                self.discard()
                return
            self.flush()
        finally:
            _release(((id(self._m._h), get_ident()),), self)
            # later writes raise instead of being buffered and never applied
            object.__setattr__(self, "__class__", _ClosedMapBatch)

    def __repr__(self) -> str:
        return f"<MapBatch {self._m!r} pending={self._count()}>"


class _ClosedMapBatch(MapBatch[Any, Any]):
    """A MapBatch whose ``with`` block has exited: every write or flush raises."""

    __slots__ = ()

    def _closed(self, *args: Any, **kw: Any) -> Any:
        raise RuntimeError(
            f"batch of {self._m!r} is closed: its with block has exited, so this write "
            "would never be applied; open a new m.batch() or write to the map directly"
        )

    __setitem__ = __delitem__ = delete = update = flush = _closed

    def __repr__(self) -> str:
        return f"<MapBatch {self._m!r} closed>"


class _AutoFlushMapBatch(MapBatch[K, V]):
    """MapBatch that flushes every ``auto_flush`` buffered operations."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        keys = self._keys
        keys.append(key)
        self._vals.append(value)
        if len(keys) >= self._limit:
            self.flush()


class _TxMapBatch(MapBatch[K, V]):
    """One map's part of a :class:`Transaction`: records where program order switches maps."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        tx = self._tx
        if tx._cur is not self:  # type: ignore[union-attr]
            tx._switch(self)  # type: ignore[union-attr]
        self._keys.append(key)
        self._vals.append(value)
        if tx._limit:  # type: ignore[union-attr]
            tx._count_one()  # type: ignore[union-attr]

    def delete(self, key: K) -> None:
        tx = self._tx
        if tx._cur is not self:  # type: ignore[union-attr]
            tx._switch(self)  # type: ignore[union-attr]
        MapBatch.delete(self, key)
        if tx._limit:  # type: ignore[union-attr]
            tx._count_one()  # type: ignore[union-attr]

    __delitem__ = delete

    def update(self, key: Any, value: Any, flags: int = UpdateFlags.ANY) -> None:
        tx = self._tx
        if tx._cur is not self:  # type: ignore[union-attr]
            tx._switch(self)  # type: ignore[union-attr]
        MapBatch.update(self, key, value, flags)
        if tx._limit:  # type: ignore[union-attr]
            tx._count_one()  # type: ignore[union-attr]


class Transaction:
    """Buffered writes to several maps, applied in one program order on exit.

    ``tx[m]`` is the batch of map ``m`` (a :class:`MapBatch`); operations on different
    maps interleave exactly as written.  Indices in BatchError count operations across
    all maps; ``not_attempted`` lists ``(op, map, key)``.  "rollback" restores every
    map touched.  Not atomic across maps (nothing in the kernel is).
    """

    __slots__ = (
        "_views",
        "_runs",
        "_cur",
        "_cur_start",
        "_on_error",
        "_cs",
        "_base",
        "_limit",
        "_pending",
        "_state",
        "_claimed",
        "result",
    )

    def __init__(
        self,
        *,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
        auto_flush: Optional[int] = None,
    ) -> None:
        check_mode(on_error, chunk_size)
        if auto_flush is not None and auto_flush <= 0:
            raise ValueError("auto_flush must be a positive number of operations")
        self._limit = auto_flush or 0
        self._pending = 0
        self._views: dict[int, _TxMapBatch] = {}
        self._runs: list[tuple[_TxMapBatch, int, int]] = []
        self._cur: Optional[_TxMapBatch] = None
        self._cur_start = 0
        self._on_error = on_error
        self._cs = chunk_size or DEFAULT_CHUNK
        self._base = 0
        self._state = 0  # 0: not entered, 1: inside the with block, 2: exited
        self._claimed: list[tuple[int, int]] = []
        self.result: BatchResult = BatchResult()

    def __getitem__(self, m: Map[K, V]) -> MapBatch[K, V]:
        v = self._views.get(id(m))
        if v is None:
            if self._state == 2:
                raise RuntimeError(
                    "cross-map batch is closed: its with block has exited; open a new "
                    "bpfmaps.batch()"
                )
            v = _TxMapBatch(m, on_error=self._on_error, chunk_size=self._cs, _tx=self)
            if self._state == 1:
                self._claimed.append(_claim(m, self))
            self._views[id(m)] = v
        return v

    def _switch(self, view: Optional[_TxMapBatch]) -> None:
        cur = self._cur
        if cur is not None and len(cur._keys) > self._cur_start:
            self._runs.append((cur, self._cur_start, len(cur._keys)))
        self._cur = view
        self._cur_start = len(view._keys) if view is not None else 0

    def __len__(self) -> int:
        return sum(len(v._keys) for v in self._views.values())

    def _count_one(self) -> None:
        """auto_flush: one more buffered operation; flush when the limit is reached."""
        self._pending += 1
        if self._pending >= self._limit:
            self.flush()

    def _take(self) -> list[tuple[_TxMapBatch, int, int]]:
        self._pending = 0
        self._switch(None)
        runs = self._runs
        self._runs = []
        return runs

    def discard(self) -> int:
        """Drop everything buffered in every map; returns how many operations."""
        n = len(self)
        self._take()
        for v in self._views.values():
            v._take()
        return n

    def flush(self) -> BatchResult:
        """Apply every buffered operation, across maps, in program order."""
        runs = self._take()
        data = {id(v): v._take() for v in self._views.values()}
        chunks: list[Chunk] = []
        base = self._base
        for view, s, e in runs:
            keys, vals, marks = data[id(view)]
            chunks.extend(_chunks_for(view._m, keys, vals, marks, s, e, base, self._cs))
            base += e - s
        total = base - self._base
        self._base = base
        if not total:
            return BatchResult()
        r = self.result
        try:
            res = run(chunks, self._on_error, total)
        except Exception as e:
            r.applied += getattr(e, "applied", 0)
            r.total += total
            raise
        r.applied += res.applied
        r.total += total
        r.fallback |= res.fallback
        return res

    def __enter__(self) -> Transaction:
        """Open the block; maps used through it cannot get a nested batch meanwhile."""
        for v in self._views.values():
            self._claimed.append(_claim(v._m, self))
        self._state = 1
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                self.discard()
                return
            self.flush()
        finally:
            _release(self._claimed, self)
            self._claimed = []
            self._state = 2
            for v in self._views.values():
                object.__setattr__(v, "__class__", _ClosedMapBatch)


def batch(
    *, on_error: str = "stop", chunk_size: Optional[int] = None, auto_flush: Optional[int] = None
) -> Transaction:
    """A batch across maps: ``with bpfmaps.batch() as tx: tx[m1][k] = v; tx[m2][k2] = v2``.

    Applies all operations in program order across the maps on exit (UPDATE_BATCH /
    DELETE_BATCH per run of one map, per-element C loop for NOEXIST/EXIST and where
    batch commands are missing).  ``auto_flush=N`` applies what is buffered every N
    operations (across all maps) to bound memory for long streams.  Raises CodecError
    (nothing applied) or BatchError.
    """
    return Transaction(on_error=on_error, chunk_size=chunk_size, auto_flush=auto_flush)

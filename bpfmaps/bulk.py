"""Bulk operations on a Map at kernel speed (BPF_MAP_*_BATCH), with exact failure reports.

Functions here back :meth:`Map.update_many`, :meth:`Map.lookup_many`,
:meth:`Map.delete_many`, :meth:`Map.pop_many`, :meth:`Map.pop_all`,
:meth:`Map.items`/:meth:`Map.values` and :meth:`Map.clear`; the batch context
managers of :mod:`bpfmaps.batching` run on the same engine (:mod:`bpfmaps.engine`).
This module is the typed layer: it encodes keys and values with the Map's codecs
(:func:`bpfmaps.codecs.encode_many`), hands packed chunks to the engine, and decodes
what comes back.

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
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Optional

from .chunks import _UNSUPPORTED
from .codecs import Raw, _short_repr, chunk_items, encode_many, pack
from .engine import (
    DEFAULT_CHUNK,
    DEL,
    PARALLEL_MIN,
    UPD,
    UPE,
    BatchResult,
    Chunk,
    Target,
    check_mode,
    dump_chunks,
    forced_fallback,
    packed_view,
    run,
)
from .engine import update_packed as _engine_update_packed
from .errors import BatchError, BPFError, IterationAbortedError
from .loops import of as _loops
from .types import MapType, UpdateFlags

if TYPE_CHECKING:
    from ._core import MapCore as Map  # any view of a map (a Map is one)

__all__ = [
    "BatchResult",
    "DEFAULT_CHUNK",
    "PARALLEL_MIN",
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
_MISSING: Any = object()
_HASH_TYPES = frozenset(
    {MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}
)


def _is_raw(codec: Any) -> bool:
    return type(codec) is Raw


def _dump(m: Map, batch_size: Optional[int], delete: bool) -> Iterator[tuple[bytes, bytes, int]]:
    if m._h.info.key_size == 0:
        raise TypeError(f"{m._type_name()} maps cannot be iterated; use pop()")
    return dump_chunks(_target(m), batch_size, delete)


def _key_decoder(m: Map) -> Callable[[bytes], Any]:
    """The key decoder of a keyed Map (keyless maps have none: :func:`_dump` refuses
    them before any key is decoded, so the fallback is never called)."""
    return m._kdec if m._kdec is not None else bytes


def _target(m: Map) -> Target:
    """The engine's view of a Map view (its codecs decode keys in reports)."""
    return m._target()


@lru_cache(maxsize=64)
def _splitter(size: int, count: int) -> struct.Struct:
    return struct.Struct(f"{size}s" * count)


def _split(buf: bytes, size: int, count: int) -> tuple[bytes, ...]:
    """``count`` bytes objects of ``size`` from a packed buffer (all in C)."""
    if count == 0:
        return ()
    if size == 0:
        return (b"",) * count
    return _splitter(size, count).unpack(buf)


# ----------------------------------------------------------------------------- inputs
def _side(obj: Any, size: int) -> tuple[Any, int, bool]:
    """(sequence or byte view, element count, packed?)."""
    mv = packed_view(obj)
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
) -> tuple[list[Chunk], int]:
    t = _target(m)
    ks = m._h.info.key_size
    seq, n, packed = _side(keys, ks)
    cs = chunk_size or DEFAULT_CHUNK
    out = []
    if packed:
        cs = chunk_size or max(n, 1)
        for off in range(0, n, cs):
            e = min(n, off + cs)
            out.append(
                Chunk(t, kind, flags, seq[off * ks : e * ks], None, e - off, base + off, None)
            )
        return out, n
    kc = m._key_codec
    for off in range(0, n, cs):
        kk = seq[off : off + cs]
        out.append(
            Chunk(
                t,
                kind,
                flags,
                encode_many(kk, kc, ks, "key", base + off),
                None,
                len(kk),
                base + off,
                kk,
            )
        )
    return out, n


def _kv_chunks(
    m: Map, keys: Any, values: Any, kind: int, flags: int, chunk_size: Optional[int], base: int = 0
) -> tuple[list[Chunk], int]:
    """Chunks for two sequences or two packed buffers (or one of each)."""
    t = _target(m)
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    kseq, n, kpacked = _side(keys, ks)
    vseq, nv, vpacked = _side(values, vbs)
    if n != nv:
        raise ValueError(f"{n} keys but {nv} values")
    cs = chunk_size or DEFAULT_CHUNK  # two packed buffers go to engine.update_packed
    kc, vc = m._key_codec, m._value_codec
    # raw codecs: exact bytes are packed in C straight from the caller's sequence (no
    # slice); such keys need no copy for reports (decoding kb gives the same bytes)
    raw_k, raw_v = _is_raw(kc) and not kpacked, _is_raw(vc) and not vpacked
    out = []
    for off in range(0, n, cs):
        e = min(n, off + cs)
        uk = None
        if kpacked:
            kb = kseq[off * ks : e * ks]
        else:
            kb = pack(kseq, ks, off, e) if raw_k else None
            if kb is None:
                uk = kseq[off:e]
                kb = encode_many(uk, kc, ks, "key", base + off)
        if vpacked:
            vb = vseq[off * vbs : e * vbs]
        else:
            vb = pack(vseq, vbs, off, e) if raw_v else None
            if vb is None:
                vb = encode_many(vseq[off:e], vc, vbs, "value", base + off)
        out.append(Chunk(t, kind, flags, kb, vb, e - off, base + off, uk))
    return out, n


def _pairs_chunks(
    m: Map, pairs: Any, kind: int, flags: int, chunk_size: Optional[int], base: int = 0
) -> tuple[list[Chunk], int]:
    if hasattr(pairs, "items") and callable(pairs.items):
        pairs = pairs.items()
    seq = pairs if isinstance(pairs, (list, tuple)) else list(pairs)
    n = len(seq)
    t = _target(m)
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
                        f"item #{base + off + i} is not a (key, value) pair: {_short_repr(p)}"
                    ) from None
            raise
        kb = encode_many(kk, m._key_codec, ks, "key", base + off)
        vb = encode_many(vv, m._value_codec, vbs, "value", base + off)
        out.append(Chunk(t, kind, flags, kb, vb, len(part), base + off, kk))
    return out, n


def need_keys(m: Map, what: str) -> None:
    """TypeError unless ``m`` has keys (queue/stack maps have none).  Cost: O(1)."""
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
    where that gives the serial result; see :func:`update_packed`.  Useful
    for packed buffers (one chunk).

    Raises CodecError (nothing applied) for bad keys/values, BatchError on failure
    (see the module docstring for ``on_error``).  Kernel floor 5.6, per-element C
    fallback below and for map types without batch support.
    """
    check_mode(on_error)
    need_keys(m, "update_many")
    _check_parallel(parallel, on_error)
    m._fd()
    flags = int(flags)
    kind = UPE if flags & (UpdateFlags.NOEXIST | UpdateFlags.EXIST) else UPD
    if values is None:
        chunks, n = _pairs_chunks(m, pairs_or_keys, kind, flags, chunk_size)
    elif packed_view(pairs_or_keys) is not None and packed_view(values) is not None:
        return _engine_update_packed(
            _target(m), pairs_or_keys, values, flags=flags, on_error=on_error,
            parallel=parallel, chunk_size=chunk_size,
        )  # fmt: skip
    else:
        chunks, n = _kv_chunks(m, pairs_or_keys, values, kind, flags, chunk_size)
    return run(chunks, on_error, n, parallel=parallel)


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
    """Packed buffers into ``m``: ``keys`` (``n * key_size`` bytes, or None for keyless
    maps) and ``values`` (``n * value_buf_size`` bytes) written in order.  ``m`` is a
    :class:`~bpfmaps.maps.Map` (the same path as :func:`update_many` with two packed
    buffers; queue/stack maps push each value) or an :class:`bpfmaps.engine.Target`.
    One implementation: this forwards to :func:`bpfmaps.engine.update_packed` (which
    documents ``parallel=True``) with the Map's engine view.  Cost: one UPDATE_BATCH per
    chunk (default: one call).  Raises BatchError, ValueError/TypeError for bad buffers
    (TypeError for sequences: use :func:`update_many`).
    """
    t = _target(m) if hasattr(m, "_h") else m
    return _engine_update_packed(
        t, keys, values, flags=flags, on_error=on_error, parallel=parallel, chunk_size=chunk_size
    )


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
    check_mode(on_error)
    need_keys(m, "delete_many")
    m._fd()
    chunks, n = _key_chunks(m, keys, DEL, 0, chunk_size)
    return run(chunks, on_error, n, missing_ok=missing_ok)


# ----------------------------------------------------------------------------- reads by key
def _lookup_loop(
    m: Map, keys: Any, flags: int, chunk_size: Optional[int], delete: bool
) -> tuple[list[Chunk], int, list[bytes], list[int]]:
    h = m._h
    be = h.backend
    ks, vbs = h.info.key_size, h.vbs
    chunks, n = _key_chunks(m, keys, DEL, 0, chunk_size)
    raw_vals: list[bytes] = []
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


def _finish_lookup(
    m: Map,
    chunks: list[Chunk],
    n: int,
    raw_vals: list[bytes],
    errs: list[int],
    default: Any,
    op: str,
) -> list[Any]:
    vdec = m._vdec
    vals: list[Any] = raw_vals if _is_raw(m._value_codec) else list(map(vdec, raw_vals))
    if not any(errs):
        return vals
    failures: list[tuple[int, Any, BaseException]] = []
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
) -> list[Any]:
    """Values of many keys, in order (one LOOKUP_ELEM per key, looped in C: the kernel
    has no batch lookup by key).  Missing keys give ``default`` when given; otherwise
    (and for any other error) BatchError listing every failed key, with the values
    found in ``err.results`` (None where failed).  ``keys``: sequence or packed buffer.
    """
    need_keys(m, "lookup_many")
    chunks, n, raw, errs = _lookup_loop(m, keys, int(flags), chunk_size, False)
    return _finish_lookup(m, chunks, n, raw, errs, default, "lookup")


def pop_many(
    m: Map,
    keys: Any,
    *,
    default: Any = _MISSING,
    chunk_size: Optional[int] = None,
) -> list[Any]:
    """Remove many keys and return their values, in order (LOOKUP_AND_DELETE_ELEM per
    key in C; lookup then delete on kernels before 5.14).  Every key is attempted; a
    missing key gives ``default`` when given, otherwise BatchError (values popped are
    in ``err.results`` so none is lost)."""
    need_keys(m, "pop_many")
    chunks, n, raw, errs = _lookup_loop(m, keys, 0, chunk_size, True)
    return _finish_lookup(m, chunks, n, raw, errs, default, "lookup_and_delete")


def iter_items(m: Map, batch_size: Optional[int] = None) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs of the whole map, streamed ``batch_size`` elements per
    syscall through BPF_MAP_LOOKUP_BATCH (kernel >= 5.6 and map types with batch
    support); elsewhere one GET_NEXT_KEY + LOOKUP per element, looped in C.

    ENOENT with a partial count ends the walk; ENOSPC (a hash bucket larger than the
    chunk) doubles the chunk and retries; EINTR retries.  Per-CPU maps yield per-CPU
    lists.  Not a snapshot: concurrent writers may or may not be seen.  Cost: the
    kernel's copy plus, on raw codecs, about 30 ns per element to make the two bytes
    objects (one C iterator over every chunk, :func:`bpfmaps._pack.chunk_items`);
    other codecs add their decoders' cost.
    """
    raw_k = _is_raw(m._key_codec)
    raw_v = _is_raw(m._value_codec)
    kdec, vdec = _key_decoder(m), m._vdec
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    if raw_k and raw_v:
        return chunk_items(_bytes_chunks(m, batch_size), ks, vbs)

    def gen() -> Iterator[Iterator[tuple[Any, Any]]]:
        for kb, vb, cnt in _dump(m, batch_size, False):
            keys: Any = _split(kb, ks, cnt)
            vals: Any = _split(vb, vbs, cnt)
            if not raw_k:
                keys = map(kdec, keys)
            if not raw_v:
                vals = map(vdec, vals)
            yield zip(keys, vals)

    return itertools.chain.from_iterable(gen())


def _bytes_chunks(m: Map, batch_size: Optional[int]) -> Iterator[tuple[bytes, bytes, int]]:
    """The map's chunks as exact bytes (what :func:`chunk_items` cuts from), started
    lazily: a keyless map's TypeError comes at the first ``next()``, as before."""
    for kb, vb, cnt in _dump(m, batch_size, False):
        if type(kb) is not bytes:
            kb = bytes(kb)  # a backend's own buffer type: the same bytes
        if type(vb) is not bytes:
            vb = bytes(vb)
        yield kb, vb, cnt


def iter_values(m: Map, batch_size: Optional[int] = None) -> Iterator[Any]:
    """Values of the whole map; same path and rules as :func:`iter_items`."""
    raw_v = _is_raw(m._value_codec)
    vdec = m._vdec
    vbs = m._h.vbs
    if raw_v:
        return chunk_items(_bytes_chunks(m, batch_size), 0, vbs, True)

    def gen() -> Iterator[Any]:
        for _kb, vb, cnt in _dump(m, batch_size, False):
            yield map(vdec, _split(vb, vbs, cnt))

    return itertools.chain.from_iterable(gen())


def pop_all(m: Map, *, batch_size: Optional[int] = None) -> list[tuple[Any, Any]]:
    """Drain the map: remove every element and return the (key, value) pairs, through
    BPF_MAP_LOOKUP_AND_DELETE_BATCH (hash maps, kernel >= 5.6), else GET_NEXT_KEY +
    LOOKUP_AND_DELETE_ELEM looped in C.  Elements added meanwhile may or may not be
    taken.  On failure BatchError with ``err.results`` = the pairs already removed."""
    kdec, vdec = _key_decoder(m), m._vdec
    h = m._h
    ks, vbs = h.info.key_size, h.vbs
    out: list[tuple[Any, Any]] = []
    try:
        for kb, vb, cnt in _dump(m, batch_size, True):
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
                raw._pop_next()
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
            for _ in _dump(m, None, True):
                pass
            return
        except BPFError:  # e.g. no lookup-and-delete on this kernel: delete by key
            pass
    keys = list(raw._iter_raw_keys())
    if keys:
        delete_many(raw, keys, missing_ok=True)

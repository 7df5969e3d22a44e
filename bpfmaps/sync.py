"""Declarative sync: make a map hold exactly a desired state, writing only the delta.

:func:`sync` (``Map.sync``) reads the current contents with BPF_MAP_LOOKUP_BATCH (one
pass, packed), compares encoded bytes with the desired state (in C on the kernel
backend, a dict on others), then applies only the difference: DELETE_BATCH for keys
that should not be there, then UPDATE_BATCH for new and changed entries (in the
desired order), through :mod:`bpfmaps.bulk`'s public functions, so failures carry
the batch rules' exact reports.  See docs/sync.md.

Not atomic: BPF programs see the deletes before the updates, and concurrent writers
can interleave; use ``outer.replace(key)`` (:mod:`bpfmaps.replace`) when readers must
switch from one whole table to the next.
"""

from __future__ import annotations

import array as _array
import errno as _errno
import sys as _sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Optional

from .bulk import delete_many, iter_items, lookup_many, update_many
from .chunks import packed_view
from .codecs import Raw
from .errors import ENOTSUPP, BatchError, CodecError, error_from_errno
from .types import FD_VALUE_TYPES, MapType

if TYPE_CHECKING:
    from ._core import MapCore as Map  # any view of a map (a Map is one)

if TYPE_CHECKING or _sys.version_info >= (3, 12):
    _IntArray = _array.array[int]
else:  # array.array is subscriptable from Python 3.12: the API docs resolve this name
    _IntArray = _array.array

__all__ = ["SyncError", "SyncResult", "plan_py", "sync"]

_UNSUPPORTED = frozenset({-_errno.EINVAL, -ENOTSUPP, -_errno.EOPNOTSUPP})
_ZERO_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})
_MODES = ("stop", "continue", "rollback")


class SyncResult:
    """Counts of one sync: ``added`` (keys written that were absent), ``changed`` (keys
    rewritten with another value), ``removed`` (keys deleted, or array slots zeroed),
    ``unchanged`` (desired entries already present with the same bytes).  ``dry_run``
    results count what would be done."""

    __slots__ = ("added", "changed", "removed", "unchanged")

    added: int
    changed: int
    removed: int
    unchanged: int

    def __init__(
        self, added: int = 0, changed: int = 0, removed: int = 0, unchanged: int = 0
    ) -> None:
        self.added = added
        self.changed = changed
        self.removed = removed
        self.unchanged = unchanged

    @property
    def writes(self) -> int:
        """Operations the sync issues: added + changed + removed."""
        return self.added + self.changed + self.removed

    def _astuple(self) -> tuple[int, int, int, int]:
        return (self.added, self.changed, self.removed, self.unchanged)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SyncResult):
            return self._astuple() == other._astuple()
        if isinstance(other, tuple):
            return self._astuple() == other
        return NotImplemented

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        a, c, r, u = self._astuple()
        return f"SyncResult(added={a}, changed={c}, removed={r}, unchanged={u})"


class SyncError(BatchError):
    """A sync stopped part-way (a :class:`BatchError`, so ``applied``, ``index``,
    ``key``, ``errors`` and ``__cause__`` follow the batch rules over the sync's
    operation order: first the deletes, then the updates).

    ``result``: what was applied (a :class:`SyncResult`); ``planned``: what the sync
    meant to do; ``phase``: ``"delete"`` or ``"update"`` for the failing operation."""

    def __init__(
        self,
        message: str,
        *,
        result: SyncResult,
        planned: SyncResult,
        phase: str,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.result = result
        self.planned = planned
        self.phase = phase


# ----------------------------------------------------------------------------- inputs
def _packed(obj: Any) -> Optional[memoryview]:
    """:func:`bpfmaps.chunks.packed_view`, and None for a mapping (``desired``)."""
    return None if isinstance(obj, Mapping) else packed_view(obj)


def _encode_all(seq: Any, codec: Any, size: int, what: str) -> bytes:
    if type(codec) is Raw:
        try:
            # bytes as they are: one join, plus a check that every one has the size
            if set(map(len, seq)) <= {size}:
                return b"".join(seq)
        except TypeError:
            pass
    seq = seq if isinstance(seq, list) else list(seq)
    enc = codec.encode
    try:
        buf = b"".join(map(enc, seq))
        if len(buf) == len(seq) * size:
            return buf
    except Exception:
        pass
    for i, x in enumerate(seq):
        try:
            b = enc(x)
        except Exception as e:
            raise CodecError(f"desired {what} #{i} ({x!r:.60}): {e}; nothing was applied") from e
        if len(b) != size:
            raise CodecError(
                f"desired {what} #{i} encodes to {len(b)} bytes, the map needs {size}; "
                "nothing was applied"
            )
    raise CodecError(f"desired {what}s do not encode to {size}-byte slots; nothing was applied")


def _desired(m: Map, desired: Any, values: Any) -> tuple[Any, Any, int]:
    """(packed keys, packed values, n) of the desired state."""
    ks, vbs = m.key_size, m.value_buf_size
    if values is None:
        if isinstance(desired, dict):
            keys: Any = desired.keys()
            vals: Any = desired.values()
            n = len(desired)
            return (
                _encode_all(keys, m.key_codec, ks, "key"),
                _encode_all(vals, m.value_codec, vbs, "value"),
                n,
            )
        if isinstance(desired, Mapping) or hasattr(desired, "items"):
            pairs = list(desired.items())
        elif isinstance(desired, Iterable):
            pairs = list(desired)
        else:
            raise TypeError(
                f"desired must be a mapping or (key, value) pairs, not {type(desired).__name__}"
            )
        for i, p in enumerate(pairs):
            if not isinstance(p, (tuple, list)) or len(p) != 2:
                raise TypeError(f"desired item #{i} is not a (key, value) pair: {p!r:.60}")
        keys = [p[0] for p in pairs]
        vals = [p[1] for p in pairs]
    else:
        keys, vals = desired, values
    kmv, vmv = _packed(keys), _packed(vals)
    if kmv is not None:
        if kmv.nbytes % ks:
            raise ValueError(f"packed keys: {kmv.nbytes} bytes is not a multiple of {ks}")
        n = kmv.nbytes // ks
        kb: Any = kmv
    else:
        keys = keys if isinstance(keys, list) else list(keys)
        n = len(keys)
        kb = _encode_all(keys, m.key_codec, ks, "key")
    if vmv is not None:
        if vmv.nbytes % vbs or vmv.nbytes // vbs != n:
            raise ValueError(f"packed values: {vmv.nbytes} bytes for {n} keys of {vbs}-byte values")
        vb: Any = vmv
    else:
        vals = vals if isinstance(vals, list) else list(vals)
        if len(vals) != n:
            raise ValueError(f"{n} keys but {len(vals)} values")
        vb = _encode_all(vals, m.value_codec, vbs, "value")
    return kb, vb, n


# ----------------------------------------------------------------------------- reading
def read_packed(
    m: Map, batch_size: Optional[int] = None
) -> tuple[bytes | memoryview, bytes | memoryview, int]:
    """The whole map as (packed keys, packed values, count): BPF_MAP_LOOKUP_BATCH
    straight into one buffer of ``max_entries`` slots (``batch_size`` elements per
    call, default all at once), or ``m.raw.items()`` where the map type or kernel has
    no LOOKUP_BATCH.  Cost: the kernel's copy (about 60-100 ns per element), no Python
    object per element on the batch path.  Kernel floor 5.6 for the batch path."""
    be = m.backend
    ks, vbs = m.key_size, m.value_buf_size
    if ks == 0:
        raise TypeError(f"{m!r} has no keys; sync needs a keyed map")
    cap = max(1, m.max_entries) + 64  # room for the final call that finds the end
    chunk = int(batch_size) if batch_size else cap
    if chunk <= 0:
        raise ValueError("batch_size must be positive")
    keys = bytearray(cap * ks)
    vals = bytearray(cap * vbs)
    tok = max(ks, 8)
    in_b, out_b, spare = None, be.alloc(tok), be.alloc(tok)
    n = 0
    retries = 0
    fd = m.fileno()
    while True:
        if cap - n < min(chunk, 64):
            # more entries than max_entries (a concurrent writer, LRU): grow
            cap = 2 * cap
            keys.extend(bytes(cap * ks - len(keys)))
            vals.extend(bytes(cap * vbs - len(vals)))
        want = min(chunk, cap - n)
        with memoryview(keys) as kmv, memoryview(vals) as vmv:
            rc, cnt = be.map_lookup_batch(
                fd, in_b, out_b, kmv[n * ks : (n + want) * ks], vmv[n * vbs : (n + want) * vbs],
                want,
            )  # fmt: skip
        if rc not in (0, -_errno.ENOENT, -_errno.EINTR) or cnt > want:
            cnt = 0
        if rc in _UNSUPPORTED and n == 0 and in_b is None:
            pairs = list(iter_items(m.raw))
            return b"".join(k for k, _ in pairs), b"".join(v for _, v in pairs), len(pairs)
        if rc == -_errno.ENOSPC and cnt == 0:
            # a hash bucket larger than the room asked for: ask for more
            chunk = want * 2
            if chunk > cap - n:
                cap = n + chunk
                keys.extend(bytes(cap * ks - len(keys)))
                vals.extend(bytes(cap * vbs - len(vals)))
            continue
        n += cnt
        if rc == -_errno.ENOENT:
            break
        if rc == -_errno.EINTR:
            retries += 1
            if retries > 16:
                raise error_from_errno(-rc, "lookup_batch", map=m.info.describe())
            if not cnt:
                continue
        elif rc < 0:
            raise error_from_errno(-rc, "lookup_batch", map=m.info.describe())
        in_b, out_b, spare = out_b, spare, in_b
        if spare is None:
            spare = be.alloc(tok)
    return memoryview(keys)[: n * ks], memoryview(vals)[: n * vbs], n


# ----------------------------------------------------------------------------- plan
def plan_py(
    cur_keys: Any,
    cur_vals: Any,
    n_cur: int,
    want_keys: Any,
    want_vals: Any,
    n_want: int,
    ks: int,
    vs: int,
    zero: bool,
) -> tuple[_IntArray, bytes, _IntArray, int]:
    """The reference diff (any backend; the kernel backend runs the same in C):
    (update indices into want, added flags, delete indices into cur, unchanged)."""
    wk, wv = bytes(want_keys), bytes(want_vals)
    where: dict[bytes, int] = {}
    for i in range(n_want):
        where[wk[i * ks : (i + 1) * ks]] = i  # a key given twice: the last one wins
    state = {i: 0 for i in where.values()}  # 0 new, 1 changed, 2 same
    ck, cv = bytes(cur_keys), bytes(cur_vals)
    zero_v = bytes(vs)
    dels = _array.array("I")
    same = 0
    for c in range(n_cur):
        k = ck[c * ks : (c + 1) * ks]
        v = cv[c * vs : (c + 1) * vs]
        w = where.get(k)
        if w is None:
            if not (zero and v == zero_v):
                dels.append(c)
        elif wv[w * vs : (w + 1) * vs] == v:
            state[w] = 2
            same += 1
        else:
            state[w] = 1
    upd = _array.array("I")
    added = bytearray()
    for i in range(n_want):
        s = state.get(i)
        if s is not None and s < 2 and where.get(wk[i * ks : (i + 1) * ks]) == i:
            upd.append(i)
            added.append(1 if s == 0 else 0)
    return upd, bytes(added), dels, same


def _gather(be: Any, src: Any, size: int, idx: Any, n: int) -> bytes:
    g = getattr(be, "gather", None)
    if g is not None:
        return bytes(g(src, size, idx, n))
    mv = memoryview(src)
    return b"".join(mv[i * size : (i + 1) * size] for i in _u32(idx)[:n])


def _u32(buf: Any) -> memoryview:
    return memoryview(buf).cast("B").cast("I")


# ----------------------------------------------------------------------------- sync
def sync(
    m: Map,
    desired: Any,
    values: Any = None,
    *,
    delete_extra: bool = True,
    on_error: str = "stop",
    dry_run: bool = False,
    batch_size: Optional[int] = None,
) -> SyncResult:
    """Make ``m`` hold exactly ``desired``, writing only what differs.

    ``desired``: a mapping or ``(key, value)`` pairs (a key given twice: the last one
    wins), or keys with ``values`` (two sequences, or two packed buffers of
    ``n * key_size`` / ``n * value_buf_size`` bytes: no Python object per element).
    Values are compared as encoded bytes.  ``delete_extra=False`` keeps keys that are
    not in ``desired``.  Arrays: every index exists, so an index not in ``desired``
    counts as extra only when its value is not all zero, and "removing" it writes
    zeros.  ``dry_run=True`` reads and compares but writes nothing.

    Order: DELETE_BATCH of the extra keys (in map order), then UPDATE_BATCH of the new
    and changed entries (in desired order).  ``on_error``: ``"stop"`` (default) stops
    at the first failure; ``"continue"`` attempts every operation; ``"rollback"``
    stops, then restores the deleted and changed entries and deletes the added ones
    (it first reads the old values of the changed keys, one lookup each).  Failures
    raise :class:`SyncError` (a BatchError: ``applied``, ``index``, ``key``,
    ``result`` = what was applied, ``planned``); CodecError before anything is written.

    Cost: one full LOOKUP_BATCH read, the diff (C, about 50 ns per element on the
    kernel backend), and the kernel's cost for the delta only.  Not atomic (see the
    module docstring).  Map-in-map and prog arrays are refused (values read back as
    ids, not the fds written): use ``replace()``.  Kernel floor 5.6 (batch commands;
    per-element fallbacks below, as in :mod:`bpfmaps.bulk`).
    """
    if on_error not in _MODES:
        raise ValueError(f"on_error must be one of {_MODES}, not {on_error!r}")
    if m.type in FD_VALUE_TYPES:
        raise TypeError(
            f"sync compares value bytes; {m!r} holds object fds (read back as ids): "
            "use replace() for map-in-map, or assign prog-array slots"
        )
    ks, vbs = m.key_size, m.value_buf_size
    if ks == 0:
        raise TypeError(f"{m!r} has no keys; sync needs a keyed map")
    wk, wv, nw = _desired(m, desired, values)
    be = m.backend
    zero = m.type in _ZERO_TYPES
    indexer = getattr(be, "sync_index", None)
    if indexer is None:  # the reference diff in Python (the fake)
        ck, cv, nc = read_packed(m, batch_size)
        upd, added_flags, dels, same = plan_py(ck, cv, nc, wk, wv, nw, ks, vbs, zero)
    else:
        index = _index_while(lambda: indexer(wk, nw, ks), nw)
        try:
            ck, cv, nc = read_packed(m, batch_size)
        except BaseException:  # the build is waited for: no thread outlives the call
            index(quiet=True)
            raise
        planner: Any = be  # the kernel backend's C helper, found by getattr above
        upd, added_flags, dels, same = planner.sync_plan(index(), ck, cv, nc, wv, nw, vbs, zero)
    nu = len(memoryview(upd).cast("B")) // 4
    nd = len(memoryview(dels).cast("B")) // 4
    flags = bytes(added_flags)
    n_added = flags.count(1)
    if not delete_extra:
        nd = 0
    planned = SyncResult(n_added, nu - n_added, nd, same)
    if dry_run or (nu == 0 and nd == 0):
        return planned
    del_keys = _gather(be, ck, ks, dels, nd) if nd else b""
    upd_keys = _gather(be, wk, ks, upd, nu) if nu else b""
    upd_vals = _gather(be, wv, vbs, upd, nu) if nu else b""
    old_vals: Optional[bytes] = None
    if on_error == "rollback":
        old_vals = _old_values(m, upd_keys, flags, nu)
    raw = m.raw
    mode = "continue" if on_error == "continue" else "stop"
    failures: list[tuple[int, Any, BaseException]] = []
    del_ok = nd
    if nd:
        try:
            if zero:
                update_many(raw, del_keys, bytes(nd * vbs), on_error=mode)
            else:
                delete_many(raw, del_keys, on_error=mode, missing_ok=True)
        except BatchError as e:
            failures += [(i, k, x) for i, k, x in e.errors] or [
                (e.index if e.index is not None else e.applied, e.key, e.__cause__ or e)
            ]
            del_ok = e.applied
            if mode == "stop":
                return _fail(m, e, planned, SyncResult(0, 0, del_ok, same), "delete", 0,
                             on_error, del_keys, ck, cv, dels, b"", b"", 0, old_vals)  # fmt: skip
    upd_ok_added = n_added
    upd_ok_changed = nu - n_added
    if nu:
        try:
            update_many(raw, upd_keys, upd_vals, on_error=mode)
        except BatchError as e:
            if mode == "stop":
                a = flags[: e.applied].count(1)
                res = SyncResult(a, e.applied - a, del_ok, same)
                return _fail(m, e, planned, res, "update", nd, on_error, del_keys, ck, cv,
                             dels, upd_keys, flags, e.applied, old_vals)  # fmt: skip
            bad = {i for i, _k, _x in e.errors}
            upd_ok_added = sum(1 for i in range(nu) if flags[i] and i not in bad)
            upd_ok_changed = nu - len(bad) - upd_ok_added
            failures += [(nd + i, k, x) for i, k, x in e.errors]
    if failures:
        res = SyncResult(upd_ok_added, upd_ok_changed, del_ok, same)
        first = failures[0]
        err = SyncError(
            f"sync: {len(failures)} of {nd + nu} operations failed; first: #{first[0]}: "
            f"{first[2]}; applied {res}",
            result=res,
            planned=planned,
            phase="delete" if first[0] < nd else "update",
            applied=nd + nu - len(failures),
            index=first[0],
            key=_decode_key(m, first[1]),
            errors=[(i, _decode_key(m, k), x) for i, k, x in failures],
        )
        raise err from first[2]
    return planned


def _index_while(build: Any, n: int) -> Any:
    """Start building the index of the wanted keys; for large states in a thread (the C
    build releases the GIL), so it overlaps the LOOKUP_BATCH read.  Returns a function
    that waits for it and returns the index (re-raising the build's error; with
    ``quiet=True`` it only waits: the caller is raising its own)."""
    if n < 65536:
        ix = build()
        return lambda quiet=False: ix
    import threading

    out: list[Any] = []

    def run() -> None:
        try:
            out.append(build())
        except BaseException as e:  # re-raised in the caller
            out.append(e)

    t = threading.Thread(target=run, name="bpfmaps-sync-index", daemon=True)
    t.start()

    def wait(quiet: bool = False) -> Any:
        t.join()
        if isinstance(out[0], BaseException) and not quiet:
            raise out[0]
        return out[0]

    return wait


def _decode_key(m: Map, k: Any) -> Any:
    kc = m.key_codec
    if kc is not None and isinstance(k, (bytes, bytearray, memoryview)) and len(k) == m.key_size:
        try:
            return kc.decode(bytes(k))
        except Exception:
            return bytes(k)
    return k


def _old_values(m: Map, upd_keys: bytes, flags: bytes, nu: int) -> bytes:
    """Values before the sync of the keys it changes (zeros for added keys)."""
    vbs, ks = m.value_buf_size, m.key_size
    changed = [i for i in range(nu) if not flags[i]]
    out = bytearray(nu * vbs)
    if changed:
        keys = b"".join(upd_keys[i * ks : (i + 1) * ks] for i in changed)
        vals = lookup_many(m.raw, keys, default=None)
        for i, v in zip(changed, vals):
            if v is not None:
                out[i * vbs : (i + 1) * vbs] = v
    return bytes(out)


def _fail(
    m: Map,
    e: BatchError,
    planned: SyncResult,
    res: SyncResult,
    phase: str,
    base: int,
    on_error: str,
    del_keys: bytes,
    ck: bytes | memoryview,
    cv: bytes | memoryview,
    dels: Any,
    upd_keys: bytes,
    flags: bytes,
    n_upd_applied: int,
    old_vals: Optional[bytes],
) -> NoReturn:
    """Raise the SyncError of a stopped sync (after the rollback it asks for)."""
    rolled = False
    if on_error == "rollback":
        rolled = _rollback(m, phase, e.applied, del_keys, ck, cv, dels, upd_keys, flags,
                           n_upd_applied, old_vals, res.removed)  # fmt: skip
        if rolled:
            res = SyncResult(0, 0, 0, res.unchanged)
    key = _decode_key(m, e.key)
    at = e.index if e.index is not None else e.applied  # stop mode: the first not applied
    err = SyncError(
        f"sync stopped at {phase} #{at} (operation #{base + at}): "
        f"{e.__cause__ or e}; applied {res}" + ("; rolled back" if rolled else ""),
        result=res,
        planned=planned,
        phase=phase,
        applied=0 if rolled else base + e.applied,
        index=base + at,
        key=key,
        errors=[(base + at, key, e.__cause__ or e)],
        rolled_back=rolled,
    )
    raise err from (e.__cause__ or e)


def _rollback(
    m: Map,
    phase: str,
    applied: int,
    del_keys: bytes,
    ck: bytes | memoryview,
    cv: bytes | memoryview,
    dels: Any,
    upd_keys: bytes,
    flags: bytes,
    n_upd: int,
    old_vals: Optional[bytes],
    n_del: int,
) -> bool:
    """Undo what a stopped sync applied; True when every undo succeeded."""
    ks, vbs = m.key_size, m.value_buf_size
    raw = m.raw
    ok = True
    try:
        if n_upd:
            added = [upd_keys[i * ks : (i + 1) * ks] for i in range(n_upd) if flags[i]]
            changed = [i for i in range(n_upd) if not flags[i]]
            if changed:
                assert old_vals is not None  # read whenever on_error == "rollback"
                update_many(
                    raw,
                    [upd_keys[i * ks : (i + 1) * ks] for i in changed],
                    [old_vals[i * vbs : (i + 1) * vbs] for i in changed],
                    on_error="continue",
                )
            if added:
                if m.type in _ZERO_TYPES:
                    update_many(raw, added, [bytes(vbs)] * len(added), on_error="continue")
                else:
                    delete_many(raw, added, on_error="continue", missing_ok=True)
        if n_del:
            idx = _u32(dels)[:n_del]
            update_many(
                raw,
                [ck[c * ks : (c + 1) * ks] for c in idx],
                [cv[c * vbs : (c + 1) * vbs] for c in idx],
                on_error="continue",
            )
    except BatchError:
        ok = False
    return ok

"""The parallel apply of one update chunk: contiguous parts in threads, taken only where
the result is provably the serial one (:func:`_parallel_ok`: plain upserts of pairwise
distinct keys, at most max_entries of them, into an empty preallocated HASH or
PERCPU_HASH map, so no element can fail or evict and no ordering is observable), or
ascending keys proven in one pass (:func:`_proof_is_cheap`), and only when the tasks
running now leave a second CPU free (:func:`_free_threads`).  Parts stopped because
another failed are finished serially by the engine's own apply (passed in), so the
report is the serial one.  The executor is :mod:`bpfmaps.engine`.
"""

from __future__ import annotations

import bpfmaps.chunks as _chunks  # (CALL_CHUNK read at each use: one patch point)

from ._cpus import running_tasks as _running_tasks
from ._cpus import usable
from .chunks import _UNSUPPORTED, ENOENT, RC_EPROTO, Chunk, _batch_ok
from .loops import of as _loops
from .types import MAP_FLAGS as MapFlags  # the plain ints (no enum at start-up)
from .types import MAP_TYPE as MapType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from ._loopbase import UpdateProg

#: fewest elements for which a parallel apply is attempted
PARALLEL_MIN = 4096
#: map types where a parallel apply of distinct keys into an empty map with room for
#: all of them is provably identical to the serial one (preallocated, no eviction)
_PAR_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH})
#: BPF_F_NO_PREALLOC (approximate full checks, ENOMEM), BPF_F_ZERO_SEED (iteration
#: order is deterministic, so bucket order is observable and must stay serial)
_PAR_BAD_FLAGS = MapFlags.NO_PREALLOC | MapFlags.ZERO_SEED


def _threads() -> int:
    """The most threads a parallel apply takes: the usable CPUs, at most 4.  Cost: one
    sched_getaffinity the first time (:func:`bpfmaps._cpus.usable`)."""
    return max(1, min(4, usable()))


def _free_threads() -> int:
    """Threads for a parallel apply: :func:`_threads`, fewer (1: the serial
    program) when the other tasks running right now leave fewer CPUs free.  Measured:
    with one of two cores busy, two threads took 1.4x the serial program's time (they
    share a core and pay the speculation's extra lookups and copies).  Cost: one read
    of /proc/loadavg."""
    k = _threads()
    if k < 2:
        return k
    return max(1, min(k, k - (_running_tasks() - 1)))


def _parallel_ok(c: Chunk, threads: int) -> bool:
    """True when applying ``c`` in several threads gives exactly the serial result:
    plain upserts, a preallocated HASH/PERCPU_HASH map (no LRU eviction, no
    NO_PREALLOC), pairwise distinct keys (no two threads touch one key), at most
    max_entries of them and an empty map (every insert has a free element, so no
    ordering can make one fail).  The empty check is one GET_NEXT_KEY, done before
    the key check (the same answer whatever the order; a populated map skips the
    key check's hashing).  ``threads``: the run's :func:`_free_threads` (read once a
    run); fewer than 2 answers False."""
    t = c.t
    info = t.info
    be = t.backend
    ks = info.key_size
    if (
        c.n < PARALLEL_MIN
        or c.flags != 0
        or info.raw_type not in _PAR_TYPES
        or info.flags & _PAR_BAD_FLAGS
        or c.n > info.max_entries
        or not ks
        or threads < 2
        or not _batch_ok(t, "update")
    ):
        return False
    # the empty check first: one syscall, where the key check hashes every key (0.6 ms
    # for 200k increasing keys, ~10 ms random), so a populated map skips the hashing
    if be.map_get_next_key(t.fileno(), be.NULL, be.alloc(ks)) != -ENOENT:
        return False
    return _loops(be).keys_distinct(c.kbuf, ks, c.n)


def _proof_is_cheap(c: Chunk, threads: int) -> bool:
    """True when ``c`` is an upsert chunk whose keys are strictly ascending (one pass,
    ending at the first key out of order) and :func:`_parallel_ok` proves it: then
    contiguous parts, without the speculative apply's lookups, copies and partition
    (measured: 200k increasing keys into an empty map, 11.9 against 14.3 ms)."""
    t = c.t
    ks = t.info.key_size
    return (
        c.flags == 0
        and c.n >= PARALLEL_MIN
        and _loops(t.backend).keys_ascending(c.kbuf, ks, c.n)
        and _parallel_ok(c, threads)
    )


def _apply_parallel(
    c: Chunk,
    apply: Callable[[Chunk, int], tuple[int, int, Any]],
    threads: int,
    up: Optional[UpdateProg] = None,
) -> Optional[tuple[int, int, list[tuple[int, int]]]]:
    """Apply ``c`` (checked by :func:`_parallel_ok`) as contiguous parts, one thread
    each: ``threads`` of them, or through ``up`` (the run's program) one a slot.  Returns ``(rc, applied, extra)``: ``applied`` operations form a prefix in
    program order (parts stopped early because another failed are completed serially,
    as the serial apply would have done), ``rc`` is the failure of operation
    ``applied`` (0: all applied), ``extra`` the ``(start, stop)`` ranges after it that
    later parts had already applied.  None: no batch command here (use the serial path).
    """
    t = c.t
    be = t.backend
    ks, vbs = t.info.key_size, t.value_buf_size
    k = up.spec_slots if up is not None and up.spec_slots else threads
    bounds = [c.n * i // k for i in range(k + 1)]
    parts = [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(k)]
    lp = _loops(be)
    prog: Optional[list[tuple[int, int]]]
    if up is not None:  # the run's program (one slot a part)
        prog = up.apply(c.kbuf, c.vbuf, vbs, parts)
    else:
        prog = lp.update_prog(t.fileno(), t.info, c.kbuf, c.vbuf, vbs, parts, 0)
    if prog is not None:  # a part that stopped without an element error: finish it below
        results = [(0, a) if rc == RC_EPROTO else (rc, a) for rc, a in prog]
    else:
        results = lp.update_batch_parts(
            t.fileno(), c.kbuf, c.vbuf, ks, vbs, parts, 0, _chunks.CALL_CHUNK
        )
    if all(rc == 0 and a == n for (rc, a), (_, n) in zip(results, parts)):
        return 0, c.n, []
    # no batch command here: the parts that ran were refused before their first
    # element, the others were stopped before they began (a part that fails stops the
    # rest, so the threads' schedule decides which parts see the refusal)
    if all(a == 0 and (rc == 0 or rc in _UNSUPPORTED) for rc, a in results):
        return None
    for i, ((s, n), (rc, a)) in enumerate(zip(parts, results)):
        if a == n and rc == 0:
            continue
        if rc == 0:  # stopped because another part failed: finish it in order
            part = Chunk(c.t, c.kind, c.flags, c.kbuf, c.vbuf, s + n, c.base, c.ukeys)
            rc, a2, _ = apply(part, s + a)
            a += a2
            if rc == 0:
                continue
        extra = [(s2, s2 + a2) for (s2, _), (_, a2) in zip(parts[i + 1 :], results[i + 1 :]) if a2]
        return rc, s + a, extra
    return 0, c.n, []  # pragma: no cover - every part completed

"""Streaming reads of whole maps for the batch engine's users: LOOKUP_BATCH or
LOOKUP_AND_DELETE_BATCH chunks, else the per-element GET_NEXT_KEY walk in C.

:func:`dump_chunks` backs ``Map.items()``/``values()``, ``pop_all`` and ``clear`` (through
:mod:`bpfmaps.bulk`).  Kernel floor: 5.6 for the batch commands (the walk elsewhere).
"""

from __future__ import annotations

from .chunks import _UNSUPPORTED, EINTR, ENOENT, ENOSPC, Target, _batch_ok, _mark_no_batch
from .errors import IterationAbortedError
from .loops import of as _loops

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Optional

__all__ = ["default_batch", "dump_chunks"]

_EINTR_RETRIES = 16


def default_batch(vbs: int, ks: int) -> int:
    """Elements per LOOKUP_BATCH chunk: about 512 KiB of keys and values, 256..8192."""
    return max(256, min(8192, (512 * 1024) // max(1, vbs + ks)))


def dump_chunks(
    t: Target, batch_size: Optional[int], delete: bool
) -> Iterator[tuple[bytes, bytes, int]]:
    """Yield (packed keys, packed values, count) chunks of the whole map through
    LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH), else the per-element walk
    (:meth:`bpfmaps.loops.Loops.dump_elems`).  The map must have keys.  Cost: one
    batch command per ``batch_size`` elements (default: about 512 KiB per chunk); the
    walk: two element commands per element.  Raises the target's errors, or
    IterationAbortedError when the map changes under the walk for too long."""
    info = t.info
    be = t.backend
    ks, vbs = info.key_size, t.value_buf_size
    chunk = int(batch_size) if batch_size else default_batch(vbs, ks)
    if chunk <= 0:
        raise ValueError("batch_size must be positive")
    cmd = "lookup_and_delete" if delete else "lookup"
    op = cmd + "_batch"
    tok = max(ks, 8)
    keys_out = be.alloc(chunk * ks)
    vals_out = be.alloc(chunk * vbs)
    if _batch_ok(t, cmd):
        fn = be.map_lookup_and_delete_batch if delete else be.map_lookup_batch
        in_b, out_b = None, be.alloc(tok)
        spare = be.alloc(tok)
        total = 0
        retries = 0
        while True:
            rc, cnt = fn(t.fileno(), in_b, out_b, keys_out, vals_out, chunk)
            if rc not in (0, -ENOENT, -EINTR) or cnt > chunk:
                cnt = 0
            if rc in _UNSUPPORTED and total == 0 and in_b is None:
                break  # no batch command: per-element walk below
            if rc == -ENOSPC and cnt == 0:
                # a hash bucket larger than the chunk: grow and retry (bounded: no
                # bucket holds more than max_entries elements)
                if chunk > info.max_entries:
                    raise t.error(rc, op)
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
                    raise t.error(rc, op)
                if not cnt:
                    continue
            elif rc < 0:
                raise t.error(rc, op)
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
            t.fileno(), start, cursor, keys_out, ks, vals_out, vbs, chunk, delete
        )
        if not fell_back and (rc == 0 or rc == -ENOENT):
            fell_back = True
            _mark_no_batch(t, cmd)
        steps_total += steps
        if cnt:
            yield be.tobytes(keys_out, cnt * ks), be.tobytes(vals_out, cnt * vbs), cnt
        if rc == -ENOENT:
            return
        if rc < 0:
            raise t.error(rc, "lookup_and_delete" if delete else "lookup")
        if steps_total > limit:
            raise IterationAbortedError(
                f"map {t.desc} changed under iteration for more than {limit} steps; "
                "keys may repeat when others delete concurrently"
            )
        if not delete:
            start = cursor

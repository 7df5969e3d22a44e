"""Bulk operations on a Map (iteration, clearing).

Per-element versions: one syscall per element.  (The batched versions over
BPF_MAP_*_BATCH live here too as they are added.)
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

from .types import MapType

if TYPE_CHECKING:
    from .maps import Map

__all__ = ["iter_items", "clear"]


def iter_items(m: Map, batch_size: Optional[int] = None) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs by GET_NEXT_KEY + LOOKUP (two syscalls per element).
    Keys deleted between the two calls are skipped."""
    raw = m.raw
    kdec, vdec = m._kdec, m._vdec
    for k in raw._iter_raw_keys():
        v = raw.get(k)
        if v is None:
            continue
        yield kdec(k), vdec(v)


def clear(m: Map) -> None:
    """Remove every element (arrays: zero every index; queue/stack: pop until empty)."""
    h = m._h
    info = h.info
    raw = m.raw
    if info.key_size == 0:
        while True:
            try:
                raw.pop()
            except KeyError:
                return
    if info.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        zero = bytes(h.vbs)
        for i in range(info.max_entries):
            raw[i.to_bytes(4, "little")] = zero
        return
    keys = list(raw._iter_raw_keys())
    for k in keys:
        rc = h.backend.map_delete_elem(raw._fd(), k)
        if rc and rc != -_errno.ENOENT:
            raise raw._error(rc, "delete", k)

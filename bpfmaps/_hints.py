"""Why an element operation failed, per map type and handle: the hints of Map errors.

Cost: only called on failure; at most one /proc read (is the map frozen?).
"""

from __future__ import annotations

import errno as _errno
from typing import Any, Callable, Optional

from .errors import ENOTSUPP
from .types import ARRAY_TYPES, MAP_IN_MAP_TYPES, MapInfo, MapType, OpenFlags

#: fd arrays: BPF_ANY only (NOEXIST/EXIST -> EINVAL)
FD_ARRAY_TYPES = frozenset({MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS})


def type_name(t: MapType | int) -> str:
    """``hash``, ``percpu_array``, ...; the number for types this version does not know."""
    return t.name.lower() if isinstance(t, MapType) else str(t)


def hint(
    info: MapInfo, open_flags: int, is_frozen: Callable[[], bool], err: int, op: str, key: Any
) -> Optional[str]:
    """What causes ``err`` for ``op`` on a map of ``info`` opened with ``open_flags``
    (None: the generic hint of :func:`~bpfmaps.errors.error_from_errno`)."""
    t = info.type
    tn = type_name(t)
    base = op.replace("_batch", "").replace("_elems", "")
    reads = base in ("lookup", "next_key", "peek", "lookup_and_delete", "pop", "fdinfo")
    writes = base in ("update", "delete", "push", "lookup_and_delete", "pop", "freeze")
    if t in (MapType.RINGBUF, MapType.USER_RINGBUF) and err in (
        ENOTSUPP,
        _errno.EOPNOTSUPP,
        _errno.EINVAL,
    ):
        return (
            f"{tn} maps have no element operations; user space reads records "
            "through the mmap'ed ring"
        )
    if err == _errno.E2BIG:
        if t in ARRAY_TYPES:
            return f"array index out of range (max_entries={info.max_entries})"
        return f"map full (max_entries={info.max_entries})"
    if err == _errno.EEXIST:
        if t in ARRAY_TYPES:
            return "NOEXIST update on an array: every array index exists"
        if t in (MapType.QUEUE, MapType.STACK):
            return None
        return "NOEXIST update of a key that already exists"
    if err == _errno.ENOENT:
        if t == MapType.BLOOM_FILTER:
            return "the value is not in the bloom filter"
        if t in (MapType.QUEUE, MapType.STACK):
            return f"the {tn} is empty"
        if base == "next_key":
            return "the map is empty" if key is None else "no key after this one (last key)"
        if t in FD_ARRAY_TYPES and base == "lookup":
            return "this slot is empty (or the index is out of range)"
        if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            return f"array index out of range (max_entries={info.max_entries})"
        return "key does not exist"
    if err in (_errno.EPERM, _errno.EACCES):
        ro = open_flags & OpenFlags.RDONLY
        wo = open_flags & OpenFlags.WRONLY
        if writes and ro:
            return "the map was opened read-only"
        if reads and wo:
            return "the map was opened write-only"
        if writes and base != "freeze" and is_frozen():
            return "the map is frozen (read-only for user space)"
        return "this process lacks CAP_BPF/CAP_SYS_ADMIN (unprivileged bpf(2) is disabled)"
    if err == _errno.EINVAL:
        if base == "delete" and t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            return "array elements cannot be deleted; write a zero value instead"
        if base == "update" and t in FD_ARRAY_TYPES:
            return f"{tn} accepts only flags=ANY, and only an fd of a compatible object"
        if base == "update" and t in MAP_IN_MAP_TYPES:
            return "the inner map must match inner_map's type, key/value sizes and flags"
        if base in ("update", "push") and t in (MapType.QUEUE, MapType.STACK):
            return f"{tn} push accepts flags ANY or EXIST (overwrite the oldest when full)"
        return None
    if err in (ENOTSUPP, _errno.EOPNOTSUPP):
        if t == MapType.BLOOM_FILTER:
            return "bloom filters support only adding values and membership tests"
        return f"{op} is not supported for {tn} maps on this kernel"
    return None


def keyless_use(t: MapType | int) -> str:
    """What to use instead of keys on a keyless map of type ``t``."""
    if t in (MapType.RINGBUF, MapType.USER_RINGBUF):
        return "they have no element operations (read the ring through its mmap)"
    if t == MapType.BLOOM_FILTER:
        return "use push() to add and peek() to test membership"
    return "use push(), pop() and peek()"

"""Rollback for the batch engine's ``on_error="rollback"``: the values a batch is about
to overwrite (one per-element lookup per operation, looped in C), and their restore
after a failure (deletes of created keys first, then re-writes; fd-value maps reopen
the old object by id).  Also the list of operations a failed batch did not attempt.

Used by :func:`bpfmaps.engine.run` only.  Kernel floor: that of the element commands
(4.4; reopening prog/map fds by id: 4.13).
"""

from __future__ import annotations

import struct

from .chunks import _OPNAME, ENOENT, Chunk, Target
from .loops import of as _loops
from .types import FD_VALUE_INTS as FD_VALUE_TYPES  # the plain ints (no enum at start-up)
from .types import MAP_TYPE as MapType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Snapshot", "not_attempted", "rollback", "snapshot"]

#: (old values of a chunk, one lookup rc per operation: 0 = existed, -ENOENT = created)
Snapshot = tuple[bytes, list[int]]


def snapshot(c: Chunk) -> tuple[bytes, list[int]]:
    """Values the operations of ``c`` are about to overwrite (rollback mode)."""
    t = c.t
    be = t.backend
    vbs = t.value_buf_size
    out = be.alloc(c.n * vbs)
    errs: list[int] = []
    _loops(be).lookup_elems(t.fileno(), c.kbuf, t.info.key_size, out, vbs, c.n, 0, errs)
    for i, e in enumerate(errs):
        if e and e != -ENOENT:
            raise t.error(e, "lookup", c.key(i))
    return be.tobytes(out, c.n * vbs), errs


def _restore_value(t: Target, old: bytes) -> tuple[bytes, Any]:
    """The bytes to write back for ``old`` (fd-value maps store ids: reopen by id)."""
    if t.info.raw_type not in FD_VALUE_TYPES:
        return old, None
    be = t.backend
    oid = int.from_bytes(old[:4], "little" if struct.pack("=I", 1)[0] == 1 else "big")
    if t.info.raw_type == MapType.PROG_ARRAY:
        fd = be.prog_get_fd_by_id(oid)
    else:
        fd = be.map_get_fd_by_id(oid, 0)
    if fd < 0:
        raise t.error(fd, "rollback_reopen")
    return struct.pack("=I", fd), fd


def rollback(
    chunks: list[Chunk], snaps: list[Snapshot], fail: int
) -> list[tuple[Any, Any, BaseException]]:
    """Restore what operations ``0..fail-1`` changed; returns restore failures."""
    first: dict[tuple[int, bytes], tuple[Any, bool, bytes]] = {}
    for c, (old, errs) in zip(chunks, snaps):
        if c.base >= fail:
            break
        vbs = c.t.value_buf_size
        for i in range(min(c.n, fail - c.base)):
            k = (c.t.fileno(), c.rawkey(i))
            if k not in first:
                first[k] = (c.t, errs[i] == 0, old[i * vbs : (i + 1) * vbs])
    problems: list[tuple[Any, Any, BaseException]] = []
    # deletes of created keys first (frees room in full hash maps), then re-writes
    for (mfd, rk), (t, existed, _old) in first.items():
        if not existed:
            rc = t.backend.map_delete_elem(mfd, rk)
            if rc and rc != -ENOENT:
                problems.append((t.owner, rk, t.error(rc, "delete", rk)))
    for (mfd, rk), (t, existed, old) in first.items():
        if existed:
            fd = None
            try:
                val, fd = _restore_value(t, old)
                rc = t.backend.map_update_elem(mfd, rk, val, 0)
                if rc:
                    problems.append((t.owner, rk, t.error(rc, "update", rk)))
            except Exception as e:  # reopening an fd-map value by id failed
                problems.append((t.owner, rk, e))
            finally:
                if fd is not None:
                    t.backend.close(fd)
    return problems


def not_attempted(
    chunks: list[Chunk], start: int, skip: tuple[tuple[int, int], ...] = ()
) -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    for c in chunks:
        if c.base + c.n <= start:
            continue
        name = _OPNAME[c.kind]
        for i in range(max(0, start - c.base), c.n):
            if skip and any(a <= c.base + i < b for a, b in skip):
                continue
            out.append((name, c.t.owner, c.key(i)))
    return out

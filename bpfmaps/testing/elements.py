"""The fake kernel's element commands: ``BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM``,
``GET_NEXT_KEY`` and ``LOOKUP_AND_DELETE_ELEM``, with the syscall-level checks the
kernel makes before a map's own op runs (fd, access mode, frozen, flags, key copy).

Every command returns ``0``/``-errno`` like the kernel and raises ``ValueError`` only
for caller bugs the real kernel would turn into out-of-bounds memory accesses (a key
or value buffer shorter than the map's sizes).  Cost: O(1) per command plus the
map's op (see :mod:`.maps`).
"""

from __future__ import annotations

import errno
from typing import Any, Optional

from ..errors import ENOTSUPP
from ..types import MapType
from .fdtable import FdTable
from .maps import FakeMap
from .maps.base import BPF_F_LOCK

__all__ = ["Buffer", "ElementCommands", "copy_in", "copy_out"]

EFAULT, EINVAL, EPERM = errno.EFAULT, errno.EINVAL, errno.EPERM
#: bytes-like input, or a writable buffer (bytearray, memoryview) for outputs
Buffer = Any
_KEYLESS = (MapType.QUEUE, MapType.STACK)


def copy_in(buf: Buffer, size: int, what: str, offset: int = 0) -> bytes:
    """``size`` bytes of ``buf`` from ``offset`` (what the kernel copies from user
    space); ValueError when the buffer is shorter.  Cost: one copy."""
    mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
    if len(mv) < offset + size:
        raise ValueError(
            f"{what} buffer holds {len(mv) - offset} bytes but the map needs {size}: "
            "the real kernel would read past its end"
        )
    return bytes(mv[offset : offset + size])


def copy_out(buf: Buffer, data: bytes, what: str, offset: int = 0) -> None:
    """Write ``data`` into ``buf`` at ``offset`` (what the kernel copies to user space);
    ValueError when the buffer is read-only or too short.  Cost: one copy."""
    mv = memoryview(buf).cast("B")
    if mv.readonly:
        raise ValueError(f"{what} buffer is read-only")
    if len(mv) < offset + len(data):
        raise ValueError(
            f"{what} buffer holds {len(mv) - offset} bytes but {len(data)} are written: "
            "the real kernel would write past its end"
        )
    mv[offset : offset + len(data)] = data


class ElementCommands(FdTable):
    """The element commands over the fd table (see the module docstring)."""

    def _key(self, m: FakeMap, key: Optional[Buffer]) -> tuple[int, Optional[bytes]]:
        """``__bpf_copy_key``: NULL for keyless maps, EINVAL for a key given to one."""
        if m.key_size == 0:
            return (0, None) if key is None else (-EINVAL, None)
        if key is None:
            return -EFAULT, None
        return 0, copy_in(key, m.key_size, "key")

    def map_lookup_elem(
        self, fd: int, key: Optional[bytes], value_out: Buffer, flags: int = 0
    ) -> int:
        """``BPF_MAP_LOOKUP_ELEM``: 0 and the value in ``value_out``, or -errno."""
        if flags & ~BPF_F_LOCK:
            return -EINVAL
        rc, m = self._open_map(fd, read=True, lock=bool(flags & BPF_F_LOCK))
        if m is None:
            return rc
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_lookup_elem", fd, m, k, flags=flags)
        if rc:
            return rc
        if m.lookup_reads_value:  # bloom filters: test the value, write nothing back
            return m.peek_value(copy_in(value_out, m.value_buf_size, "value"))
        rc, v = m.lookup(k)
        if rc == 0 and v is not None:
            copy_out(value_out, v, "value")
        return rc

    def map_update_elem(self, fd: int, key: Optional[bytes], value: bytes, flags: int = 0) -> int:
        """``BPF_MAP_UPDATE_ELEM`` (push for queue/stack): 0 or -errno."""
        rc, m = self._open_map(fd, write=True, lock=bool(flags & BPF_F_LOCK))
        if m is None:
            return rc
        rc, k = self._key(m, key)
        if rc:
            return rc
        if value is None:
            return -EFAULT
        v = m.mask_lock(copy_in(value, m.value_buf_size, "value"))
        rc = self._efault("map_update_elem", fd, m, k, v, flags)
        if rc:
            return rc
        return m.update(k, v, flags)

    def map_delete_elem(self, fd: int, key: Optional[bytes]) -> int:
        """``BPF_MAP_DELETE_ELEM``: 0 or -errno (-EINVAL on arrays)."""
        rc, m = self._open_map(fd, write=True)
        if m is None:
            return rc
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_delete_elem", fd, m, k)
        if rc:
            return rc
        return m.delete(k)

    def map_get_next_key(self, fd: int, key: Optional[bytes], next_key_out: Buffer) -> int:
        """``BPF_MAP_GET_NEXT_KEY``: NULL or a missing key gives the first key; ENOENT after the last."""
        rc, m = self._open_map(fd, read=True)
        if m is None:
            return rc
        k: Optional[bytes] = None
        if key is not None:
            rc, k = self._key(m, key)
            if rc:
                return rc
        rc = self._efault("map_get_next_key", fd, m, k)
        if rc:
            return rc
        rc, nk = m.next_key(k)
        if rc == 0 and nk is not None:
            copy_out(next_key_out, nk, "next_key")
        return rc

    def map_lookup_and_delete_elem(
        self, fd: int, key: Optional[bytes], value_out: Buffer, flags: int = 0
    ) -> int:
        """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (pop for queue/stack): hash types and queue/stack only."""
        if flags & ~BPF_F_LOCK:
            return -EINVAL
        rc, m = self._open_map(fd, read=True, write=True, lock=bool(flags & BPF_F_LOCK))
        if m is None:
            return rc
        if flags and m.type in _KEYLESS:
            return -EINVAL
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_lookup_and_delete_elem", fd, m, k, flags=flags)
        if rc:
            return rc
        if m.type not in _KEYLESS and not m.has_lookup_and_delete:
            return -ENOTSUPP
        rc, v = m.lookup_and_delete(k)
        if rc == 0 and v is not None:
            copy_out(value_out, v, "value")
        return rc

"""The fake kernel's object registry: fds, object ids, names, pins on a virtual bpffs.

:class:`FdTable` is what every command of the fake kernel stands on: it hands out fds
(lowest free from ``fd_base``, like the kernel), counts the references that keep an
object alive (fds, pins, map slots) and frees the object with the last one; it keeps
the ids of maps, programs and BTF objects, and the pins and directories of the
virtual bpffs.  It is also the :class:`~.maps.FdRefs` of fd-valued maps.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterable
from typing import Optional, Union

from .faults import FaultInjector
from .maps import FakeMap, FakeObject, FakeProg
from .maps.base import F_RDONLY, F_WRONLY

__all__ = ["FdTable", "OpenFile"]

EACCES, EBADF, EEXIST, EINVAL, ENOENT, EPERM = (
    errno.EACCES,
    errno.EBADF,
    errno.EEXIST,
    errno.EINVAL,
    errno.ENOENT,
    errno.EPERM,
)
OBJ_FLAG_MASK = F_RDONLY | F_WRONLY
#: bytes ``bpf_obj_name_cpy`` accepts: the kernel's isalnum() (ASCII plus Latin-1
#: letters 0xC0-0xFF except 0xD7 and 0xF7), '_' and '.'
_NAME_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") | (
    frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7}
)


class OpenFile:
    """An open fd: the object and the access mode of this handle."""

    __slots__ = ("obj", "can_read", "can_write")

    def __init__(self, obj: FakeObject, can_read: bool = True, can_write: bool = True) -> None:
        self.obj: FakeObject = obj
        self.can_read: bool = can_read
        self.can_write: bool = can_write


def file_mode(flags: int) -> Optional[tuple[bool, bool]]:
    """``bpf_get_file_flag``: (can_read, can_write), None when RDONLY and WRONLY are both set."""
    if flags & F_RDONLY and flags & F_WRONLY:
        return None
    return (not flags & F_WRONLY, not flags & F_RDONLY)


def obj_name(name: Union[bytes, str, None]) -> tuple[int, str]:
    """``bpf_obj_name_cpy`` after the shim's 15-byte truncation: (0, name) or (-EINVAL, "")."""
    if not name:
        return 0, ""
    if isinstance(name, str):
        name = name.encode()
    raw = bytes(name)[:15].split(b"\0", 1)[0]
    if any(c not in _NAME_OK for c in raw):
        return -EINVAL, ""
    return 0, raw.decode("utf-8", "replace")


class FdTable(FaultInjector):
    """fds, ids and pins (see the module docstring).  Not thread-safe."""

    def __init__(self, *, bpffs: Iterable[str], fd_base: int) -> None:
        super().__init__()
        self.fd_base = fd_base
        self._fds: dict[int, OpenFile] = {}
        self._maps: dict[int, FakeMap] = {}
        self._progs: dict[int, FakeProg] = {}
        self._btfs: dict[int, FakeObject] = {}
        self._map_ids = itertools.count(1)
        self._prog_ids = itertools.count(1)
        self._btf_ids = itertools.count(1)
        self._bpffs: set[str] = {os.path.normpath(p) for p in bpffs}
        self._dirs: set[str] = set()
        self._pins: dict[str, FakeObject] = {}

    # -- test helpers (not part of the Backend protocol) ---------------------------
    def open_fds(self) -> set[int]:
        """The fake fds currently open (for leak checks).  Cost: O(fds)."""
        return set(self._fds)

    def map_ids(self) -> list[int]:
        """Ids of the maps alive in this fake kernel, ascending.  Cost: O(n log n)."""
        return sorted(self._maps)

    def map_object(self, map_id: int) -> FakeMap:
        """The internal map object with this id (KeyError if none): for white-box tests."""
        return self._maps[map_id]

    def pins(self) -> dict[str, int]:
        """Pinned paths -> object id.  Cost: O(pins)."""
        return {p: o.id for p, o in self._pins.items()}

    def mount_bpffs(self, path: str) -> str:
        """Treat ``path`` as a bpffs mount point (it need not exist on disk)."""
        p = os.path.normpath(path)
        self._bpffs.add(p)
        return p

    def mkdir(self, path: str) -> int:
        """``mkdir`` inside a virtual bpffs: 0, -ENOENT (no parent), -EEXIST, -EPERM (not bpffs)."""
        p = os.path.normpath(path)
        if not self.is_bpffs(os.path.dirname(p)):
            return -EPERM
        if not self._dir_exists(os.path.dirname(p)):
            return -ENOENT
        if p in self._dirs or p in self._pins or p in self._bpffs:
            return -EEXIST
        self._dirs.add(p)
        return 0

    def unlink(self, path: str) -> int:
        """Remove a pin (``rm /sys/fs/bpf/x``): 0 or -ENOENT.  The object is freed when unused."""
        obj = self._pins.pop(os.path.normpath(path), None)
        if obj is None:
            return -ENOENT
        self.put(obj)
        return 0

    # -- fds ------------------------------------------------------------------------
    def close(self, fd: int) -> int:
        """close(2) of a fake fd: 0 or -EBADF."""
        f = self._fds.pop(fd, None)
        if f is None:
            return -EBADF
        self.put(f.obj)
        return 0

    def dup(self, fd: int) -> int:
        """dup(2) of a fake fd (same object, same mode): a new fd or -EBADF."""
        f = self._fds.get(fd)
        if f is None:
            return -EBADF
        return self._install(f.obj, f.can_read, f.can_write)

    def is_bpffs(self, path: str) -> bool:
        """Is ``path`` on a virtual bpffs mount?  Cost: O(mounts)."""
        p = os.path.normpath(path)
        return any(p == r or p.startswith(r.rstrip("/") + "/") for r in self._bpffs)

    def _dir_exists(self, p: str) -> bool:
        return p in self._bpffs or p in self._dirs

    def _install(self, obj: FakeObject, can_read: bool = True, can_write: bool = True) -> int:
        fd = self.fd_base
        while fd in self._fds:
            fd += 1
        obj.refs += 1
        self._fds[fd] = OpenFile(obj, can_read, can_write)
        return fd

    def put(self, obj: FakeObject) -> None:
        """Drop one reference; the last one frees the object (its id disappears, a map
        releases what its values and its BTF hold)."""
        obj.refs -= 1
        if obj.refs > 0:
            return
        if isinstance(obj, FakeMap):
            self._maps.pop(obj.id, None)
            obj.release()
            obj.inner_meta = None
            btf_obj = obj.btf_obj
            if btf_obj is not None:
                obj.btf_obj = None
                self.put(btf_obj)
        elif isinstance(obj, FakeProg):
            self._progs.pop(obj.id, None)
        else:
            self._btfs.pop(obj.id, None)

    def resolve(self, value: bytes) -> tuple[int, Optional[FakeObject]]:
        """The object named by the fd in the first 4 bytes of ``value`` (a map value
        that is a fd), or -EBADF; no reference taken."""
        fd = int.from_bytes(value[:4], "little", signed=True)
        f = self._fds.get(fd)
        if f is None:
            return -EBADF, None
        return 0, f.obj

    def _file(self, fd: int) -> tuple[int, Optional[OpenFile]]:
        f = self._fds.get(fd)
        if f is None:
            return -EBADF, None
        return 0, f

    def _map_file(self, fd: int) -> tuple[int, Optional[OpenFile], Optional[FakeMap]]:
        f = self._fds.get(fd) if isinstance(fd, int) else None
        if f is None:
            return -EBADF, None, None
        if not isinstance(f.obj, FakeMap):
            return -EINVAL, None, None
        return 0, f, f.obj

    def _open_map(
        self, fd: int, *, read: bool = False, write: bool = False, lock: bool = False
    ) -> tuple[int, Optional[FakeMap]]:
        """The map behind ``fd`` for a command that reads and/or writes it: (0, map),
        or -EBADF / -EINVAL (not a map) / -EPERM (``map_get_sys_perms``: the fd's mode
        lacks the access; a frozen map is not writable) / -EINVAL (``lock``: the
        command's flags hold BPF_F_LOCK and the map's value has no spin lock).
        Cost: O(1)."""
        rc, f, m = self._map_file(fd)
        if rc or f is None or m is None:
            return rc, None
        if (read and not f.can_read) or (write and not (f.can_write and not m.frozen)):
            return -EPERM, None
        if lock and m.spin_lock_off < 0:
            return -EINVAL, None
        return 0, m

    # -- ids and pins -----------------------------------------------------------------
    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int:
        """``BPF_MAP_GET_FD_BY_ID``: a new fd, -ENOENT, or -EINVAL (bad id or flags)."""
        rc = self._fault("map_get_fd_by_id", map_id=map_id, flags=open_flags)
        if rc:
            return rc
        if not 0 <= map_id < 2**32:
            return -EINVAL
        if open_flags & ~OBJ_FLAG_MASK:
            return -EINVAL
        mode = file_mode(open_flags)
        if mode is None:
            return -EINVAL
        m = self._maps.get(map_id)
        if m is None:
            return -ENOENT
        return self._install(m, *mode)

    def map_get_next_id(self, start_id: int) -> tuple[int, int]:
        """``BPF_MAP_GET_NEXT_ID``: (0, next id) or (-ENOENT, 0).  Cost: O(maps)."""
        rc = self._fault("map_get_next_id")
        if rc:
            return rc, 0
        nxt = [i for i in self._maps if i > start_id]
        return (0, min(nxt)) if nxt else (-ENOENT, 0)

    def obj_get(self, path: str, file_flags: int = 0) -> int:
        """``BPF_OBJ_GET`` on the virtual bpffs: -ENOENT when nothing is pinned there."""
        rc = self._fault("obj_get", flags=file_flags)
        if rc:
            return rc
        if file_flags & ~OBJ_FLAG_MASK:
            return -EINVAL
        mode = file_mode(file_flags)
        if mode is None:
            return -EINVAL
        p = os.path.normpath(os.fsdecode(path))
        obj = self._pins.get(p)
        if obj is None:
            return -EACCES if self._dir_exists(p) else -ENOENT
        return self._install(obj, *mode)

    def obj_pin(self, fd: int, path: str) -> int:
        """``BPF_OBJ_PIN``: -EPERM off bpffs, -ENOENT without the parent dir, -EEXIST if taken."""
        rc = self._fault("obj_pin", fd=fd)
        if rc:
            return rc
        rc, f = self._file(fd)
        if rc or f is None:
            return rc
        p = os.path.normpath(os.fsdecode(path))
        parent = os.path.dirname(p)
        if not self.is_bpffs(parent):
            return -EPERM
        if not self._dir_exists(parent):
            return -ENOENT
        if p in self._pins or self._dir_exists(p):
            return -EEXIST
        f.obj.refs += 1
        self._pins[p] = f.obj
        return 0

    def obj_unpin(self, path: str) -> int:
        """unlink(2) of a pin on the virtual bpffs: 0, -ENOENT, -EPERM off bpffs."""
        rc = self._fault("obj_unpin")
        if rc:
            return rc
        if not self.is_bpffs(path):
            return -EPERM
        return self.unlink(path)

    def map_pin_paths(self, map_id: int) -> list[str]:
        """Pinned paths of map ``map_id``, sorted.  Cost: O(pins)."""
        return sorted(p for p, o in self._pins.items() if isinstance(o, FakeMap) and o.id == map_id)

"""The map as a kernel object: fresh info, fdinfo, freezing and pins (a Map mixin).

Costs are per method: one syscall, or one /proc read (about 10 us), or a walk of every
bpffs mount for :meth:`pinned_paths`.  Kernel floor: 4.13 (info), 5.2 (freeze).
"""

from __future__ import annotations

import errno as _errno

from ._core import MapCore
from ._typing import K, V
from .errors import InvalidArgumentError, NotBpffsError, PinNotFoundError, error_from_errno
from .types import MapInfo, OpenFlags


class ObjectOps(MapCore[K, V]):
    """Info, freezing and pins of the open map (part of :class:`~bpfmaps.maps.Map`)."""

    __slots__ = ()

    def refresh_info(self) -> MapInfo:
        """Ask the kernel again (one syscall)."""
        h = self._h
        rc, info = h.backend.map_info(self._fd())
        if rc < 0 or info is None:
            raise self._error(rc or -_errno.EINVAL, "info")
        h.info = info
        return info

    def fdinfo(self) -> dict[str, str]:
        """The kernel's /proc/self/fdinfo lines for this map's fd (``frozen``,
        ``memlock``, ``map_id``, ...) as strings.  Cost: one open+read of a proc file
        (about 10 us).  Raises MapClosedError after close()."""
        rc, d = self._h.backend.map_fdinfo(self._fd())
        if rc < 0 or d is None:
            raise self._error(rc or -_errno.EINVAL, "fdinfo")
        out: dict[str, str] = d
        return out

    @property
    def frozen(self) -> bool:
        """True once BPF_MAP_FREEZE was applied (by anyone): the live state, read from
        /proc/self/fdinfo on every access (about 10 us; Linux 5.2)."""
        return self.fdinfo().get("frozen", "0") == "1"

    @property
    def bytes_memlock(self) -> int:
        """Bytes of memory the kernel charges to this map (fdinfo ``memlock``): read
        on every access (about 10 us).  For most types it is fixed at create time."""
        return int(self.fdinfo().get("memlock", "0"))

    def pinned_paths(self) -> list[str]:
        """Every path on a mounted bpffs where this map is pinned (the kernel keeps no
        list: this walks every bpffs mount and opens each pinned object, like bpftool's
        ``map show -f``; cost O(objects pinned on the system)).  Pins in bpffs mounts
        this process cannot see are not found."""
        paths: list[str] = self._h.backend.map_pin_paths(self._h.info.id)
        return paths

    @property
    def is_pinned(self) -> bool:
        """True when :meth:`pinned_paths` finds at least one pin (same cost)."""
        return bool(self.pinned_paths())

    def freeze(self) -> None:
        """Make the map read-only for user space (BPF_MAP_FREEZE, Linux 5.2).  Later
        updates raise PermissionDeniedError.  Irreversible."""
        rc = self._h.backend.map_freeze(self._fd())
        if rc:
            raise self._error(rc, "freeze")

    def unpin(self, path: str) -> None:
        """Remove the pin of this map at ``path`` (unlink on the bpffs).  The map
        lives on while fds or other pins refer to it.  Cost: one OBJ_GET, one
        OBJ_GET_INFO_BY_FD and one unlink.

        Raises NotBpffsError when ``path`` is not on a bpffs, PinNotFoundError when
        nothing is pinned there, InvalidArgumentError when another object (another map,
        a program) is pinned there (nothing is removed then).
        """
        h = self._h
        self._fd()
        path = str(path)
        be = h.backend
        where = f"{h.desc} at {path!r}"
        if not be.is_bpffs(path):
            raise NotBpffsError(
                _errno.EPERM,
                "unpin",
                map=where,
                hint="path is not on a bpf file system (mount -t bpf bpf DIR)",
            )
        fd = be.obj_get(path, int(OpenFlags.RDONLY))
        if fd == -_errno.ENOENT:
            raise PinNotFoundError(
                _errno.ENOENT, "unpin", map=where, hint="nothing is pinned at this path"
            )
        other = None
        if fd == -_errno.EINVAL:
            other = "a program (or other non-map object)"  # OBJ_GET of a prog with RDONLY
        elif fd < 0:
            raise error_from_errno(-fd, "unpin", map=where)
        else:
            try:
                rc, info = be.map_info(fd)
            finally:
                be.close(fd)
            if rc < 0 or info is None:
                other = "an object that is not a BPF map"
            elif info.id != h.info.id:
                other = f"another map ({info.describe()})"
        if other is not None:
            raise InvalidArgumentError(
                _errno.EINVAL, "unpin", map=where, hint=f"the pin is {other}; not removed"
            )
        rc = be.obj_unpin(path)
        if rc:
            raise error_from_errno(-rc, "unpin", map=where)

    def pin(self, path: str) -> None:
        """Pin at ``path`` on a bpffs (BPF_OBJ_PIN): the map outlives this process.
        Raises NotBpffsError when the path is not on a bpffs, PinExistsError when it
        exists."""
        h = self._h
        path = str(path)
        rc = h.backend.obj_pin(self._fd(), path)
        if rc:
            detail = "not-bpffs" if rc != -_errno.EEXIST and not h.backend.is_bpffs(path) else None
            raise error_from_errno(-rc, "pin", map=f"{h.desc} at {path!r}", detail=detail)

"""The open map behind every :class:`~bpfmaps.maps.Map` view, and how one is opened.

A :class:`_Handle` owns the fd and what the kernel said at open (``MapInfo``, the
value buffer size); every view of the map (``m.raw``, ``m.typed(...)``) shares it.
The ``by_*`` functions and :func:`create` turn an id, a pin, a name, an fd or a
create request into a handle, with the error reports of ``Map.from_*``/``Map.create``.

Costs: by id, pin or fd: two syscalls (get an fd, OBJ_GET_INFO_BY_FD); by name: a
walk of every map id (two or three syscalls per map) first.  Kernel floor: 4.13 (ids,
GET_FD_BY_ID, map names); map BTF 4.18.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Callable, Iterator
from typing import Any, Optional

from ._fd import OwnedFd
from .backend import Backend, default_backend
from .codecs import U32, Raw
from .errors import AmbiguousMapError, MapNotFoundError, error_from_errno
from .types import ARRAY_TYPES, PERCPU_TYPES, MapFlags, MapInfo, MapType, OpenFlags, round_up8

__all__ = ["map_ids"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.]{0,15}$")


class _Handle(OwnedFd):
    """The open map shared by a Map and its views (``m.raw``, typed views); owns the fd."""

    __slots__ = ("info", "ncpus", "vbs", "desc", "NULL", "open_flags", "update_elem", "unmap")
    backend: Backend
    info: MapInfo
    ncpus: int
    vbs: int
    desc: str
    NULL: Any
    open_flags: int
    update_elem: Callable[[int, Any, Any, int], int]
    #: set by :mod:`bpfmaps.memory` while the map's values are mmap'ed: unmaps them
    #: before the fd closes (BufferError, nothing closed, while views are exported)
    unmap: Optional[Callable[..., None]]

    def __init__(self, backend: Backend, fd: int, info: MapInfo, open_flags: int = 0) -> None:
        OwnedFd.__init__(self, backend, fd, f"BPF map {info.describe()}")
        self.info = info
        self.ncpus = backend.possible_cpus() if info.type in PERCPU_TYPES else 1
        self.vbs = (
            round_up8(info.value_size) * self.ncpus
            if info.type in PERCPU_TYPES
            else info.value_size
        )
        self.desc = info.describe()
        self.NULL = backend.NULL
        self.open_flags = open_flags
        self.update_elem = backend.map_update_elem
        self.unmap = None

    def close(self) -> None:
        if self.fd >= 0 and self.unmap is not None:
            self.unmap(self)
        OwnedFd.close(self)

    def __del__(self) -> None:
        unmap = getattr(self, "unmap", None)
        if unmap is not None and getattr(self, "fd", -1) >= 0:
            unmap(self, collecting=True)
        OwnedFd.__del__(self)


def check(rc: int, op: str, **kw: Any) -> int:
    """``rc``, or the error for ``-rc`` (see :func:`~bpfmaps.errors.error_from_errno`)."""
    if rc < 0:
        raise error_from_errno(-rc, op, **kw)
    return rc


def map_ids(backend: Optional[Backend] = None) -> Iterator[int]:
    """Yield the id of every map on the system, in increasing order (MAP_GET_NEXT_ID).

    Cost: one syscall per map.  Kernel 4.13."""
    be = backend or default_backend()
    start = 0
    while True:
        rc, nxt = be.map_get_next_id(start)
        if rc == -_errno.ENOENT:
            return
        check(rc, "map_get_next_id")
        if nxt <= start:  # ids only grow; anything else would loop forever
            return
        yield nxt
        start = nxt


def open_flags(readonly: bool, writeonly: bool) -> int:
    """The OpenFlags of ``readonly``/``writeonly`` (ValueError for both)."""
    if readonly and writeonly:
        raise ValueError("readonly and writeonly exclude each other")
    return int(OpenFlags.RDONLY if readonly else OpenFlags.WRONLY if writeonly else 0)


def handle_of(backend: Backend, fd: int, op: str, flags: int = 0) -> _Handle:
    """The handle of an fd just opened (OBJ_GET_INFO_BY_FD); closes ``fd`` on failure
    (BPFError with a "not a BPF map" hint when the fd is another object)."""
    rc, info = backend.map_info(fd)
    if rc < 0:
        backend.close(fd)
        raise error_from_errno(
            -rc, op, hint="the object is not a BPF map" if rc == -_errno.EINVAL else None
        )
    assert info is not None  # rc == 0
    try:
        return _Handle(backend, fd, info, flags)
    except BaseException:
        backend.close(fd)
        raise


def by_id(map_id: int, backend: Optional[Backend], readonly: bool, writeonly: bool) -> _Handle:
    """See :meth:`bpfmaps.maps.Map.from_id`."""
    be = backend or default_backend()
    flags = open_flags(readonly, writeonly)
    fd = be.map_get_fd_by_id(int(map_id), flags)
    if fd < 0:
        raise error_from_errno(-fd, "open_by_id", map=f"id {map_id}")
    return handle_of(be, fd, "open_by_id", flags)


def by_pin(path: str, backend: Optional[Backend], readonly: bool, writeonly: bool) -> _Handle:
    """See :meth:`bpfmaps.maps.Map.from_pin`."""
    be = backend or default_backend()
    flags = open_flags(readonly, writeonly)
    path = str(path)
    fd = be.obj_get(path, flags)
    if fd < 0:
        detail = "not-bpffs" if fd != -_errno.ENOENT and not be.is_bpffs(path) else None
        raise error_from_errno(-fd, "open_pin", map=path, detail=detail)
    return handle_of(be, fd, "open_pin", flags)


def by_name(name: str, backend: Optional[Backend], readonly: bool, writeonly: bool) -> _Handle:
    """See :meth:`bpfmaps.maps.Map.from_name`."""
    if len(name.encode()) > 15:
        raise ValueError(
            f"map names are at most 15 bytes; {name!r} is longer (like bpftool's \"can't parse name\")"
        )
    be = backend or default_backend()
    matches: list[int] = []
    for mid in map_ids(be):
        fd = be.map_get_fd_by_id(mid, 0)
        if fd < 0:
            continue  # vanished, or no access to this one
        try:
            rc, info = be.map_info(fd)
        finally:
            be.close(fd)
        if rc == 0 and info is not None and info.name == name:
            matches.append(mid)
    if not matches:
        raise MapNotFoundError(
            _errno.ENOENT, "open_by_name", map=repr(name), hint="no map has this name"
        )
    if len(matches) > 1:
        raise AmbiguousMapError(name, matches)
    return by_id(matches[0], be, readonly, writeonly)


def by_fd(fd: int, backend: Optional[Backend]) -> _Handle:
    """See :meth:`bpfmaps.maps.Map.from_fd`."""
    be = backend or default_backend()
    dup = be.dup(int(fd))
    if dup < 0:
        raise error_from_errno(-dup, "dup", map=f"fd {fd}")
    return handle_of(be, dup, "from_fd")


def create(
    type: MapType | int | str,
    key_size: int,
    value_size: int,
    max_entries: int,
    name: Optional[str],
    flags: int,
    inner_map: Any,
    numa_node: Optional[int],
    map_extra: int,
    backend: Optional[Backend],
    btf: Optional[tuple[Any, Any]],
) -> _Handle:
    """See :meth:`bpfmaps.maps.Map.create`; ``btf``: the (key, value) codecs to describe
    in BTF, or None."""
    mt = MapType.parse(type)
    if name is None:
        name = ""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid map name {name!r}: at most 15 characters of [A-Za-z0-9_.]")
    inner_fd = -1
    if inner_map is not None:
        inner_fd = inner_map.fileno() if hasattr(inner_map, "fileno") else int(inner_map)
    elif mt in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        raise ValueError(f"{mt.name.lower()} needs inner_map=<a Map used as the template>")
    flags = int(flags)
    if numa_node is not None:
        if int(numa_node) < 0:
            raise ValueError(f"numa_node must be a node number >= 0, got {numa_node}")
        flags |= MapFlags.NUMA_NODE
    be = backend or default_backend()
    btf_args: dict[str, int] = {}
    if btf is not None:
        btf_args = _btf_create_args(be, mt, key_size, value_size, btf[0], btf[1], name)
    try:
        fd = be.map_create(
            int(mt),
            key_size,
            value_size,
            max_entries,
            flags,
            name.encode(),
            inner_fd,
            int(numa_node or 0),
            map_extra,
            **btf_args,
        )
    finally:
        if btf_args:
            be.close(btf_args["btf_fd"])
    if fd < 0:
        hint = None
        if fd == -_errno.EINVAL:
            hint = "the kernel rejected these sizes/flags for this map type"
            if btf_args:
                hint += " (or the key/value BTF: queue/stack maps take none)"
            if numa_node is not None:
                hint += f" (or NUMA node {numa_node} is not online)"
        elif fd in (-_errno.EPERM, -_errno.EACCES):
            hint = "creating maps needs CAP_BPF (or CAP_SYS_ADMIN)"
        raise error_from_errno(
            -fd,
            "create",
            map=f"{mt.name.lower()} {name!r}",
            detail=f"(key {key_size}, value {value_size}, max_entries {max_entries}, flags {MapFlags(flags)!r})",
            hint=hint,
        )
    return handle_of(be, fd, "create")


def _btf_create_args(
    be: Backend, mt: MapType, key_size: int, value_size: int, key: Any, value: Any, name: str
) -> dict[str, int]:
    """BTF_LOAD the key/value description; the MAP_CREATE arguments (caller closes btf_fd)."""
    from .btf.fromcodec import btf_for_map

    if key is None and key_size == 4 and mt in ARRAY_TYPES:
        key = U32  # array maps want a 4-byte int key type
    if key is None and key_size:
        key = Raw(key_size, "key")
    if value is None:
        value = Raw(value_size, "value")
    blob, kid, vid = btf_for_map(key if key_size else None, value, key_size, value_size)
    fd, log = be.btf_load(blob, log_size=1 << 16)
    if fd < 0:
        last = [ln for ln in log.splitlines() if ln.strip()][-1:] if log else []
        raise error_from_errno(
            -fd,
            "btf_load",
            map=f"{mt.name.lower()} {name!r}",
            hint="the kernel rejected the BTF made from the codecs"
            + (f": {last[0]}" if last else ""),
        )
    return {"btf_fd": fd, "btf_key_type_id": kid, "btf_value_type_id": vid}

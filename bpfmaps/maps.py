"""The typed :class:`Map`: one open BPF map, with codecs and a Mapping-style API.

Costs: every element operation is one bpf(2) syscall (about 0.3-1.5 us); sizes are
checked in Python before the call.  Opening by name walks every map id on the
system (two or three syscalls per map).  ``len()`` of a hash-like map walks all
keys (one syscall per key).  Bulk operations (``update_many``, ``items``, ...)
are in :mod:`bpfmaps.bulk` and use the kernel's batch commands.

Kernel floor: 4.13 (ids, GET_FD_BY_ID, map names), 5.2 (freeze), 5.6 (batch
commands, with a transparent fallback below), 5.14 (lookup-and-delete on hash
maps, with a lookup+delete fallback below).
"""

from __future__ import annotations

import errno as _errno
import re
import sys as _sys
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar, Union, overload

from . import codecs as _codecs
from . import memory as _memory
from ._fd import OwnedFd
from ._typing import K, V
from .backend import Backend, default_backend
from .errors import (
    ENOTSUPP,
    AmbiguousMapError,
    BatchError,
    CodecError,
    InvalidArgumentError,
    IterationAbortedError,
    MapClosedError,
    MapNotFoundError,
    NotBpffsError,
    PermissionDeniedError,
    PinNotFoundError,
    error_from_errno,
)
from .types import (
    ARRAY_TYPES,
    FD_VALUE_TYPES,
    MAP_IN_MAP_TYPES,
    PERCPU_TYPES,
    MapFlags,
    MapInfo,
    MapType,
    OpenFlags,
    UpdateFlags,
    round_up8,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from typing_extensions import Buffer, Self

    from .batching import MapBatch
    from .bulk import BatchResult
    from .codecs import AllCPUs, Codec
    from .sync import SyncResult

__all__ = ["Map", "map_ids", "CodecSpec"]

_T = TypeVar("_T")
_K2 = TypeVar("_K2")
_V2 = TypeVar("_V2")
#: what ``key=``/``value=`` accept: a codec (``Codec[T]`` gives ``T``), a ctypes type (its
#: instances), ``bytes`` or None (raw bytes), or a struct format string (untyped: Any)
CodecSpec = Union[_codecs.Codec[_T], type[_T], str, None]

_MISSING: Any = object()
_sys_byteorder = _sys.byteorder
#: fd arrays: BPF_ANY only (NOEXIST/EXIST -> EINVAL)
_FD_ARRAY_TYPES = frozenset({MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS})
_NAME_RE = re.compile(r"^[A-Za-z0-9_.]{0,15}$")


class _Handle(OwnedFd):
    """The open map shared by a Map and its views (``m.raw``, typed views); owns the fd."""

    __slots__ = ("info", "ncpus", "vbs", "desc", "NULL", "open_flags", "update_elem")
    backend: Backend
    info: MapInfo
    ncpus: int
    vbs: int
    desc: str
    NULL: Any
    open_flags: int
    update_elem: Callable[[int, Any, Any, int], int]

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

    def close(self) -> None:
        if self.fd >= 0 and MapFlags.MMAPABLE & self.info.flags:
            _memory.release(self)  # BufferError (nothing closed) while memory() views live
        OwnedFd.close(self)

    def __del__(self) -> None:
        if getattr(self, "fd", -1) >= 0 and MapFlags.MMAPABLE & self.info.flags:
            _memory.release(self, collecting=True)
        OwnedFd.__del__(self)


def _btf_codecs(h: _Handle, key: Any = None, value: Any = None) -> dict[str, Any]:
    """Codecs from the map's BTF; explicit ``key``/``value`` win for their side."""
    from .btf.typed import map_codecs

    kc, vc = map_codecs(h.backend, h.info, h.desc)
    return {"key": key if key is not None else kc, "value": value if value is not None else vc}


def _btf_create_args(
    be: Backend, mt: MapType, key_size: int, value_size: int, key: Any, value: Any, name: str
) -> dict[str, int]:
    """BTF_LOAD the key/value description; the MAP_CREATE arguments (caller closes btf_fd)."""
    from .btf.fromcodec import btf_for_map

    if key is None and key_size == 4 and mt in ARRAY_TYPES:
        key = _codecs.U32  # array maps want a 4-byte int key type
    if key is None and key_size:
        key = _codecs.Raw(key_size, "key")
    if value is None:
        value = _codecs.Raw(value_size, "value")
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


def _check(rc: int, op: str, **kw: Any) -> int:
    if rc < 0:
        raise error_from_errno(-rc, op, **kw)
    return rc


def map_ids(backend: Optional[Backend] = None) -> Iterator[int]:
    """Yield the id of every map on the system, in increasing order (MAP_GET_NEXT_ID)."""
    be = backend or default_backend()
    start = 0
    while True:
        rc, nxt = be.map_get_next_id(start)
        if rc == -_errno.ENOENT:
            return
        _check(rc, "map_get_next_id")
        if nxt <= start:  # ids only grow; anything else would loop forever
            return
        yield nxt
        start = nxt


class Map(MutableMapping[K, V], Generic[K, V]):
    """One open BPF map: a ``Map[K, V]`` with keys of type ``K`` and values of type ``V``.

    The types come from the codecs: ``Map.create(..., key=codecs.U32, value=MyStruct)``
    is a ``Map[int, MyStruct]``; a map opened without codecs (raw bytes) or with a format
    string is a ``Map[Any, Any]`` for type checkers (:attr:`raw` is a ``Map[bytes, bytes]``).

    Open with :meth:`from_id`, :meth:`from_pin`, :meth:`from_name`, :meth:`from_fd`
    or :meth:`create`.  Keys and values go through codecs (raw ``bytes`` by default;
    see :mod:`bpfmaps.codecs`).  Per-CPU maps read and write a list with one value
    per possible CPU (or :class:`~bpfmaps.codecs.AllCPUs`); map-in-map and prog-array
    maps take Map/Program objects (or fds) and read back object ids; queue and stack
    maps use :meth:`push`, :meth:`pop` and :meth:`peek`.

    The Map owns one fd; ``close()`` (idempotent) or a ``with`` block releases it, and
    a Map collected while open emits a ResourceWarning.  Views made with :attr:`raw`
    or :meth:`typed` share that fd: closing any of them closes the map.
    """

    __slots__ = (
        "_h",
        "_key_codec",
        "_value_codec",
        "_kenc",
        "_kdec",
        "_venc",
        "_vdec",
        "_rk",
        "_rv",
    )
    _h: _Handle
    _key_codec: Optional[Codec[K]]
    _value_codec: Codec[V]
    _kenc: Callable[[Any], bytes]
    _kdec: Optional[Callable[[bytes], K]]
    _venc: Callable[[Any], bytes]
    _vdec: Callable[[bytes], V]
    _rk: int
    _rv: int

    # ------------------------------------------------------------------ opening
    def __init__(self, _handle: _Handle, key: Any = None, value: Any = None) -> None:
        if not isinstance(_handle, _Handle):
            raise TypeError("use Map.from_id/from_pin/from_name/from_fd/create to open a map")
        self._h = _handle
        info = _handle.info
        if info.key_size == 0:
            kc: Any = None
        else:
            kc = _codecs.as_codec(key, info.key_size, "key")
        if value is None and info.type in FD_VALUE_TYPES:
            vc: Any = _codecs.ObjectId()
        else:
            vc = _codecs.as_codec(value, info.value_size, "value")
        if info.type in PERCPU_TYPES:
            vc = _codecs.PerCPU(vc, _handle.ncpus)
        self._key_codec = kc
        self._value_codec = vc
        self._kenc = kc.encode if kc is not None else self._keyless
        self._kdec = kc.decode if kc is not None else None
        self._venc = vc.encode
        self._vdec = vc.decode
        self._set_raw_sizes()

    def _set_raw_sizes(self) -> None:
        # sizes for the raw-bytes fast path of __setitem__ (-1: codec must run)
        kc: Any = self._key_codec
        vc: Any = self._value_codec
        self._rk = kc.size if type(kc) is _codecs.Raw else -1
        self._rv = vc.size if type(vc) is _codecs.Raw else -1

    @classmethod
    def _open(
        cls,
        backend: Backend,
        fd: int,
        op: str,
        open_flags: int = 0,
        btf: bool = False,
        **codecs: Any,
    ) -> Map[Any, Any]:
        rc, info = backend.map_info(fd)
        if rc < 0:
            backend.close(fd)
            raise error_from_errno(
                -rc, op, hint="the object is not a BPF map" if rc == -_errno.EINVAL else None
            )
        assert info is not None  # rc == 0
        try:
            h = _Handle(backend, fd, info, open_flags)
        except BaseException:
            backend.close(fd)
            raise
        try:
            if btf:
                codecs = _btf_codecs(h, **codecs)
            return cls(h, **codecs)
        except BaseException:
            # close through the handle: it must not keep (and later close again) an fd
            # number the process may have reused by then
            h.close()
            raise

    @staticmethod
    def _open_flags(readonly: bool, writeonly: bool) -> int:
        if readonly and writeonly:
            raise ValueError("readonly and writeonly exclude each other")
        return int(OpenFlags.RDONLY if readonly else OpenFlags.WRONLY if writeonly else 0)

    @classmethod
    def from_id(
        cls,
        map_id: int,
        *,
        backend: Optional[Backend] = None,
        readonly: bool = False,
        writeonly: bool = False,
        key: CodecSpec[K] = None,
        value: CodecSpec[V] = None,
        btf: bool = False,
    ) -> Map[K, V]:
        """Open the map with this id (BPF_MAP_GET_FD_BY_ID + OBJ_GET_INFO_BY_FD).

        Raises MapNotFoundError (a LookupError) when no such map exists,
        PermissionDeniedError without CAP_SYS_ADMIN.  ``btf=True``: key and value codecs
        from the map's BTF (see :meth:`typed`).
        """
        be = backend or default_backend()
        flags = cls._open_flags(readonly, writeonly)
        fd = be.map_get_fd_by_id(int(map_id), flags)
        if fd < 0:
            raise error_from_errno(-fd, "open_by_id", map=f"id {map_id}")
        return cls._open(be, fd, "open_by_id", flags, btf, key=key, value=value)

    @classmethod
    def from_pin(
        cls,
        path: str,
        *,
        backend: Optional[Backend] = None,
        readonly: bool = False,
        writeonly: bool = False,
        key: CodecSpec[K] = None,
        value: CodecSpec[V] = None,
        btf: bool = False,
    ) -> Map[K, V]:
        """Open the map pinned at ``path`` on a bpffs (BPF_OBJ_GET).

        Raises PinNotFoundError (a FileNotFoundError) when nothing is pinned there,
        NotBpffsError when the path is not on a bpf file system, BPFError with a
        "not a BPF map" hint when a program is pinned there.
        """
        be = backend or default_backend()
        flags = cls._open_flags(readonly, writeonly)
        path = str(path)
        fd = be.obj_get(path, flags)
        if fd < 0:
            detail = "not-bpffs" if fd != -_errno.ENOENT and not be.is_bpffs(path) else None
            raise error_from_errno(-fd, "open_pin", map=path, detail=detail)
        return cls._open(be, fd, "open_pin", flags, btf, key=key, value=value)

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        backend: Optional[Backend] = None,
        readonly: bool = False,
        writeonly: bool = False,
        key: CodecSpec[K] = None,
        value: CodecSpec[V] = None,
        btf: bool = False,
    ) -> Map[K, V]:
        """Open the one map whose kernel name is exactly ``name`` (15 characters at most).

        Walks every map id (cost: O(number of maps) syscalls).  Raises
        MapNotFoundError when none matches, AmbiguousMapError (listing the ids) when
        several do.  Maps that disappear during the walk are skipped.
        """
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
        return cls.from_id(
            matches[0],
            backend=be,
            readonly=readonly,
            writeonly=writeonly,
            key=key,
            value=value,
            btf=btf,
        )

    @classmethod
    def from_fd(
        cls,
        fd: int,
        *,
        backend: Optional[Backend] = None,
        key: CodecSpec[K] = None,
        value: CodecSpec[V] = None,
        btf: bool = False,
    ) -> Map[K, V]:
        """Open a map from an fd you own; the Map works on a duplicate (F_DUPFD_CLOEXEC),
        so closing the Map leaves your fd open.  ``btf=True``: codecs from the map's BTF."""
        be = backend or default_backend()
        dup = be.dup(int(fd))
        if dup < 0:
            raise error_from_errno(-dup, "dup", map=f"fd {fd}")
        return cls._open(be, dup, "from_fd", 0, btf, key=key, value=value)

    @classmethod
    def create(
        cls,
        type: MapType | int | str,
        key_size: int,
        value_size: int,
        max_entries: int,
        name: Optional[str] = None,
        flags: int = 0,
        inner_map: Any = None,
        *,
        numa_node: Optional[int] = None,
        map_extra: int = 0,
        backend: Optional[Backend] = None,
        key: CodecSpec[K] = None,
        value: CodecSpec[V] = None,
        btf: bool = False,
    ) -> Map[K, V]:
        """Create a map (BPF_MAP_CREATE).  ``inner_map`` (a Map or fd) is the template
        for array_of_maps/hash_of_maps.  The map lives while an fd or pin refers to it.

        ``numa_node=N`` places the map's memory on NUMA node N: it sets
        ``MapFlags.NUMA_NODE`` itself (an offline or out-of-range node is EINVAL).

        Raises ValueError for a bad name (at most 15 of ``[A-Za-z0-9_.]``) or a negative
        numa_node, InvalidArgumentError for sizes/flags the kernel rejects for this
        type, PermissionDeniedError without CAP_BPF/CAP_SYS_ADMIN.

        ``btf=True`` describes the key and value codecs in BTF (BTF_LOAD, then
        MAP_CREATE with btf_fd and the key/value type ids), so ``bpftool map dump``
        prints members and a value with a ``struct bpf_spin_lock`` allows
        ``UpdateFlags.LOCK``; see :func:`bpfmaps.btf.fromcodec.layout_of` for the codecs
        it accepts (CodecError otherwise).  Costs one more syscall; kernel >= 5.1 for
        spin locks, 4.18 for map BTF.
        """
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
        if btf:
            btf_args = _btf_create_args(be, mt, key_size, value_size, key, value, name)
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
        return cls._open(be, fd, "create", key=key, value=value)

    # ------------------------------------------------------------------ views
    @overload
    def typed(self, key: CodecSpec[_K2], value: CodecSpec[_V2]) -> Map[_K2, _V2]: ...
    @overload
    def typed(self, key: CodecSpec[_K2]) -> Map[_K2, V]: ...
    @overload
    def typed(self, *, value: CodecSpec[_V2]) -> Map[K, _V2]: ...
    @overload
    def typed(self) -> Map[K, V]: ...
    @overload
    def typed(
        self, key: Any = ..., value: Any = ..., *, btf: bool
    ) -> Map[Any, Any]: ...  # codecs from the map's BTF: types known at run time only

    def typed(
        self, key: Any = _MISSING, value: Any = _MISSING, *, btf: bool = False
    ) -> Map[Any, Any]:
        """Another view of the same open map with other codecs (shares the fd).

        A codec not given is kept from this view (``m.typed(value="<Q")`` keeps the
        key codec); pass ``None`` to get raw bytes for that side.  No syscall.

        ``btf=True`` builds the codecs not given (``None`` given: raw bytes) from the
        map's BTF: structs and unions
        decode to generated dataclasses, enums to IntEnum members, char arrays to bytes
        ... (docs/btf.md has the rules).  Cost: 3 syscalls; each distinct BTF is parsed
        and compiled once per process.  Raises NoBTFError (a CodecError) naming the map
        when it has no BTF.
        """
        if btf:
            from .btf.typed import map_codecs

            kc, vc = map_codecs(self._h.backend, self._h.info, self._h.desc)
            return Map(
                self._h,
                key=kc if key is _MISSING else key,
                value=vc if value is _MISSING else value,
            )
        v: Map[Any, Any] = Map(
            self._h,
            key=None if key is _MISSING else key,
            value=None if value is _MISSING else value,
        )
        if key is _MISSING and self._key_codec is not None:
            v._key_codec = self._key_codec
            v._kenc, v._kdec = self._kenc, self._kdec
        if value is _MISSING:
            v._value_codec = self._value_codec
            v._venc, v._vdec = self._venc, self._vdec
        v._set_raw_sizes()
        return v

    @property
    def raw(self) -> Map[bytes, bytes]:
        """A view with raw codecs: keys are ``bytes`` of key_size, values ``bytes`` of
        exactly :attr:`value_buf_size` (for per-CPU maps the packed kernel buffer; for
        map-in-map/prog-array maps 4-byte fds on write and ids on read)."""
        v: Map[bytes, bytes] = Map.__new__(Map)
        h = self._h
        v._h = h
        info = h.info
        kc = _codecs.Raw(info.key_size, "key") if info.key_size else None
        vc = _codecs.Raw(h.vbs, "value")
        v._key_codec, v._value_codec = kc, vc
        v._kenc = kc.encode if kc is not None else v._keyless
        v._kdec = kc.decode if kc is not None else None
        v._venc, v._vdec = vc.encode, vc.decode
        v._set_raw_sizes()
        return v

    @property
    def key_codec(self) -> Optional[Codec[K]]:
        """The key codec in use (None for maps without keys: queue, stack, ...)."""
        return self._key_codec

    @property
    def value_codec(self) -> Codec[V]:
        """The value codec in use (for per-CPU maps a :class:`~bpfmaps.codecs.PerCPU`)."""
        return self._value_codec

    # ------------------------------------------------------------------ properties
    @property
    def info(self) -> MapInfo:
        """What the kernel reported at open (OBJ_GET_INFO_BY_FD)."""
        return self._h.info

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

    @property
    def id(self) -> int:
        """Kernel map id."""
        return self._h.info.id

    @property
    def name(self) -> str:
        """Kernel map name (<= 15 chars)."""
        return self._h.info.name

    @property
    def type(self) -> Union[MapType, int]:
        """The MapType (a plain int for types this version does not know)."""
        return self._h.info.type

    @property
    def key_size(self) -> int:
        """Bytes of a key (0 for queue/stack and other keyless maps)."""
        return self._h.info.key_size

    @property
    def value_size(self) -> int:
        """Bytes of a value (for per-CPU maps: of one CPU's value)."""
        return self._h.info.value_size

    @property
    def max_entries(self) -> int:
        """The map's capacity."""
        return self._h.info.max_entries

    @property
    def flags(self) -> int:
        """The map's creation flags (BPF_F_*)."""
        return self._h.info.flags

    @property
    def backend(self) -> Backend:
        """The Backend this map lives in."""
        return self._h.backend

    @property
    def ncpus(self) -> int:
        """Possible CPUs (1 unless per-CPU)."""
        return self._h.ncpus

    @property
    def value_buf_size(self) -> int:
        """Bytes of one value in the kernel's buffer: value_size, or
        possible_cpus * round_up(value_size, 8) for per-CPU maps."""
        return self._h.vbs

    @property
    def is_percpu(self) -> bool:
        """True for per-CPU map types (values are lists, one entry per possible CPU)."""
        return self._h.info.type in PERCPU_TYPES

    @property
    def closed(self) -> bool:
        return self._h.fd < 0

    def fileno(self) -> int:
        """The fd (still owned by this Map).  Raises MapClosedError after close()."""
        return self._fd()

    def _fd(self) -> int:
        fd = self._h.fd
        if fd < 0:
            raise MapClosedError(f"map {self._h.desc} is closed")
        return fd

    def close(self) -> None:
        """Close the fd (idempotent).  Shared views are closed too."""
        self._h.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        h = self._h
        i = h.info
        t = i.type.name if isinstance(i.type, MapType) else i.type
        state = f"fd={h.fd}" if h.fd >= 0 else "closed"
        be = "" if h.backend.name == "kernel" else f" backend={h.backend.name}"
        return (
            f"<Map id={i.id} name={i.name!r} type={t} key_size={i.key_size} "
            f"value_size={i.value_size} max_entries={i.max_entries} {state}{be}>"
        )

    # ------------------------------------------------------------------ errors
    def _error(self, rc: int, op: str, key: Any = None) -> Exception:
        h = self._h
        if h.fd < 0:
            return MapClosedError(f"map {h.desc} is closed")
        err = -rc
        return error_from_errno(
            err,
            op,
            map=h.desc,
            key=key,
            max_entries=h.info.max_entries,
            hint=self._hint(err, op, key),
        )

    def _hint(self, err: int, op: str, key: Any) -> Optional[str]:
        """What causes ``err`` for ``op`` on this map type and handle (None: the generic
        hint of :func:`~bpfmaps.errors.error_from_errno`).  Only called on failure."""
        h = self._h
        info = h.info
        t = info.type
        tn = self._type_name()
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
            if t in _FD_ARRAY_TYPES and base == "lookup":
                return "this slot is empty (or the index is out of range)"
            if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
                return f"array index out of range (max_entries={info.max_entries})"
            return "key does not exist"
        if err in (_errno.EPERM, _errno.EACCES):
            ro = h.open_flags & OpenFlags.RDONLY
            wo = h.open_flags & OpenFlags.WRONLY
            if writes and ro:
                return "the map was opened read-only"
            if reads and wo:
                return "the map was opened write-only"
            if writes and base != "freeze" and self._is_frozen():
                return "the map is frozen (read-only for user space)"
            return "this process lacks CAP_BPF/CAP_SYS_ADMIN (unprivileged bpf(2) is disabled)"
        if err == _errno.EINVAL:
            if base == "delete" and t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
                return "array elements cannot be deleted; write a zero value instead"
            if base == "update" and t in _FD_ARRAY_TYPES:
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

    def _is_frozen(self) -> bool:
        try:
            rc, d = self._h.backend.map_fdinfo(self._h.fd)
        except Exception:
            return False
        return rc == 0 and d is not None and d.get("frozen") == "1"

    def _keyless(self, key: Any) -> Any:
        raise TypeError(f"{self._type_name()} maps have no keys; {self._keyless_use()}")

    def _keyless_use(self) -> str:
        t = self._h.info.type
        if t in (MapType.RINGBUF, MapType.USER_RINGBUF):
            return "they have no element operations (read the ring through its mmap)"
        if t == MapType.BLOOM_FILTER:
            return "use push() to add and peek() to test membership"
        return "use push(), pop() and peek()"

    def _type_name(self) -> str:
        t = self._h.info.type
        return t.name.lower() if isinstance(t, MapType) else str(t)

    # ------------------------------------------------------------------ elements
    def __getitem__(self, key: K) -> V:
        """Lookup (one syscall).  Raises KeyNotFoundError (a KeyError) when missing."""
        h = self._h
        k = self._kenc(key)
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_elem(h.fd, k, buf, 0)
        if rc:
            raise self._error(rc, "lookup", key)
        return self._vdec(h.backend.tobytes(buf, h.vbs))

    def __setitem__(self, key: K, value: Union[V, AllCPUs[Any]]) -> None:
        """Upsert (BPF_ANY; one syscall).  Raises MapFullError, PermissionDeniedError..."""
        h = self._h
        k: Any = key  # the raw-bytes fast path checks the runtime type
        if (
            type(k) is bytes
            and type(value) is bytes
            and len(k) == self._rk
            and len(value) == self._rv
        ):
            rc = h.update_elem(h.fd, k, value, 0)
        else:
            rc = h.update_elem(h.fd, self._kenc(key), self._venc(value), 0)
        if rc:
            raise self._error(rc, "update", key)

    def __delitem__(self, key: K) -> None:
        """Delete (one syscall).  KeyNotFoundError when missing; InvalidArgumentError on arrays."""
        h = self._h
        rc = h.backend.map_delete_elem(h.fd, self._kenc(key))
        if rc:
            raise self._error(rc, "delete", key)

    def __contains__(self, key: object) -> bool:
        h = self._h
        try:
            k = self._kenc(key)
        except CodecError:
            return False
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_elem(h.fd, k, buf, 0)
        if rc == 0:
            return True
        if rc == -_errno.ENOENT:
            return False
        raise self._error(rc, "lookup", key)

    def lookup(self, key: K, flags: int = 0) -> V:
        """Lookup with flags (e.g. ``UpdateFlags.LOCK`` for maps with a bpf_spin_lock)."""
        h = self._h
        k = self._kenc(key)
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_elem(h.fd, k, buf, int(flags))
        if rc:
            raise self._error(rc, "lookup", key)
        return self._vdec(h.backend.tobytes(buf, h.vbs))

    @overload
    def get(self, key: K) -> Optional[V]: ...
    @overload
    def get(self, key: K, default: Union[V, _T]) -> Union[V, _T]: ...

    def get(self, key: K, default: Any = None) -> Any:
        """``m[key]``, or ``default`` when the key is missing (one LOOKUP_ELEM)."""
        h = self._h
        k = self._kenc(key)
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_elem(h.fd, k, buf, 0)
        if rc == 0:
            return self._vdec(h.backend.tobytes(buf, h.vbs))
        if rc == -_errno.ENOENT:
            return default
        raise self._error(rc, "lookup", key)

    @overload  # type: ignore[override]
    def update(
        self, key: K, value: Union[V, AllCPUs[Any]], /, *, flags: int = UpdateFlags.ANY
    ) -> None: ...
    @overload
    def update(
        self,
        pairs: Union[Mapping[K, V], Iterable[tuple[K, V]]],
        /,
        *,
        flags: int = UpdateFlags.ANY,
    ) -> BatchResult: ...

    def update(self, *args: Any, flags: int = UpdateFlags.ANY, **kwargs: Any) -> Any:
        """``m.update(key, value, flags=UpdateFlags.NOEXIST)`` writes one element with
        flags (ANY, NOEXIST, EXIST, LOCK): KeyExistsError for NOEXIST on an existing key,
        KeyNotFoundError for EXIST on a missing one.

        ``m.update(mapping_or_pairs)`` (the MutableMapping form) writes many elements
        through :meth:`update_many` and returns its result.
        """
        if len(args) == 2 and not kwargs:
            key, value = args
            h = self._h
            rc = h.backend.map_update_elem(h.fd, self._kenc(key), self._venc(value), int(flags))
            if rc:
                raise self._error(rc, "update", key)
            return None
        if len(args) > 1:
            raise TypeError("update() takes (key, value) or one mapping/iterable of pairs")
        pairs: Any = list(args[0].items() if hasattr(args[0], "items") else args[0]) if args else []
        pairs.extend(kwargs.items())
        return self.update_many(pairs, flags=flags)

    def setdefault(self, key: K, default: Union[V, AllCPUs[Any], None] = None) -> V:
        """Insert ``default`` if ``key`` is absent (NOEXIST update), else return its value.
        Either way the result is what ``m[key]`` would return (decoded; an id for
        map-in-map/prog-array maps).  The insert is atomic against other writers: the
        kernel decides which write wins (except on prog_array/array_of_maps, which
        accept only BPF_ANY: there it is a lookup then a write)."""
        h = self._h
        kv = self._venc(default)
        k = self._kenc(key)
        if h.info.type in _FD_ARRAY_TYPES:
            # fd arrays accept only BPF_ANY: look up, then write (not atomic)
            got = self.get(key, _MISSING)
            if got is not _MISSING:
                return got
            rc = h.backend.map_update_elem(h.fd, k, kv, UpdateFlags.ANY)
            if rc:
                raise self._error(rc, "update", key)
            return self[key]
        rc = h.backend.map_update_elem(h.fd, k, kv, UpdateFlags.NOEXIST)
        if rc == 0:
            if h.info.type in FD_VALUE_TYPES:
                return self[key]  # what was stored reads back as an id, not the fd/object
            return self._vdec(kv)  # what m[key] returns now (e.g. a list for AllCPUs)
        if rc == -_errno.EEXIST:
            return self[key]
        raise self._error(rc, "update", key)

    @overload
    def pop(self) -> V: ...
    @overload
    def pop(self, key: K, /) -> V: ...
    @overload
    def pop(self, key: K, default: Union[V, _T], /) -> Union[V, _T]: ...

    def pop(self, *args: Any) -> Any:
        """``m.pop(key[, default])``: remove and return (LOOKUP_AND_DELETE_ELEM; on kernels
        before 5.14, a lookup then a delete).  For queue/stack maps, ``m.pop()`` takes the
        next element (FIFO/LIFO) and raises KeyNotFoundError when empty."""
        h = self._h
        if h.info.key_size == 0:
            if args:
                raise TypeError(f"{self._type_name()}.pop() takes no key")
            buf = h.backend.alloc(h.vbs)
            rc = h.backend.map_lookup_and_delete_elem(h.fd, h.NULL, buf, 0)
            if rc:
                raise self._error(rc, "pop")
            return self._vdec(h.backend.tobytes(buf, h.vbs))
        if not 1 <= len(args) <= 2:
            raise TypeError("pop expected 1 or 2 arguments")
        key = args[0]
        k = self._kenc(key)
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_and_delete_elem(h.fd, k, buf, 0)
        op = "lookup_and_delete"
        if rc in (-_errno.EINVAL, -524, -_errno.EOPNOTSUPP):
            # Only hash maps have LOOKUP_AND_DELETE (5.14+); elsewhere (map-in-map,
            # prog arrays, LPM tries, older kernels) a lookup then a delete.  Plain
            # arrays fail the delete with EINVAL, like ``del m[k]``.
            op = "lookup"
            rc = h.backend.map_lookup_elem(h.fd, k, buf, 0)
            if rc == 0:
                op = "delete"
                rc = h.backend.map_delete_elem(h.fd, k)
        if rc == 0:
            return self._vdec(h.backend.tobytes(buf, h.vbs))
        if rc == -_errno.ENOENT and len(args) == 2:
            return args[1]
        raise self._error(rc, op, key)

    def popitem(self) -> tuple[K, V]:
        """Remove and return some (key, value) pair; KeyError when the map is empty.
        Arrays: InvalidArgumentError (elements cannot be deleted).  Queue/stack: TypeError
        (no keys; use pop()).  Fd arrays (prog_array, array_of_maps, ...): the first
        filled slot, KeyError when none is (every index exists there, filled or not).

        Bounded: at most max_entries + 1 GET_NEXT_KEY steps (keys removed concurrently
        are skipped), then IterationAbortedError.  Cost: one GET_NEXT_KEY plus one
        LOOKUP_AND_DELETE (or lookup + delete) per attempt."""
        if self._kdec is None:
            raise TypeError(f"{self._type_name()} maps have no keys; {self._keyless_use()}")
        h = self._h
        fd_array = h.info.type in FD_VALUE_TYPES and h.info.type != MapType.HASH_OF_MAPS
        limit = h.info.max_entries + 1
        prev: Optional[bytes] = None
        for _ in range(limit):
            try:
                kraw = self._next_raw(prev)
            except KeyError:
                raise KeyError("popitem(): map is empty") from None
            key = self._kdec(kraw)
            try:
                return key, self.pop(key)
            except KeyError:
                # an empty fd-array slot: go on from it; a hash key removed
                # concurrently: GET_NEXT_KEY from it restarts at the first key
                prev = kraw
        if fd_array:
            raise KeyError("popitem(): map is empty")
        raise IterationAbortedError(
            f"popitem(): map {h.desc} changed under it for more than {limit} steps"
        )

    # queue / stack
    def push(self, value: Union[V, AllCPUs[Any]], flags: int = UpdateFlags.ANY) -> None:
        """Queue/stack push (UPDATE_ELEM with a NULL key).  ``flags=UpdateFlags.EXIST``
        overwrites the oldest element when full; otherwise a full map raises MapFullError."""
        h = self._h
        rc = h.backend.map_update_elem(h.fd, h.NULL, self._venc(value), int(flags))
        if rc:
            raise self._error(rc, "push")

    def peek(self) -> V:
        """Queue/stack: the next element without removing it; KeyNotFoundError when empty."""
        h = self._h
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_elem(h.fd, h.NULL, buf, 0)
        if rc:
            raise self._error(rc, "peek")
        return self._vdec(h.backend.tobytes(buf, h.vbs))

    # ------------------------------------------------------------------ per-CPU
    def _cpu_numbers(self, key: K, what: str) -> list[Any]:
        h = self._h
        if h.info.type not in PERCPU_TYPES:
            raise TypeError(
                f"{what}() aggregates the per-CPU values of per-CPU maps; "
                f"this is a {self._type_name()} map (read m[key] directly)"
            )
        vals: Any = self[key]
        if vals and isinstance(vals[0], (bytes, bytearray)):
            size = h.info.value_size
            if size not in (1, 2, 4, 8):
                raise TypeError(
                    f"{what}() needs numeric values: give the map a numeric value codec, "
                    f"e.g. m.typed(value='<Q') (values here are {size} raw bytes)"
                )
            vals = [int.from_bytes(v, _sys_byteorder) for v in vals]
        for v in vals:
            if not isinstance(v, (int, float)):
                raise TypeError(
                    f"{what}() needs numeric per-CPU values, got {type(v).__name__}: "
                    "use a scalar value codec (e.g. m.typed(value='<Q'))"
                )
        out: list[Any] = vals
        return out

    def sum(self, key: K) -> Union[int, float]:
        """Sum of ``key``'s per-CPU values (BCC's ``table.sum(k)``): one lookup.
        Raw values of 1, 2, 4 or 8 bytes count as native unsigned integers.  Raises
        TypeError on maps that are not per-CPU or values that are not numbers,
        KeyNotFoundError when the key is missing."""
        total: Union[int, float] = sum(self._cpu_numbers(key, "sum"))
        return total

    def max(self, key: K) -> Union[int, float]:
        """Largest of ``key``'s per-CPU values (one lookup); rules as :meth:`sum`."""
        top: Union[int, float] = max(self._cpu_numbers(key, "max"))
        return top

    def min(self, key: K) -> Union[int, float]:
        """Smallest of ``key``'s per-CPU values (one lookup); rules as :meth:`sum`."""
        low: Union[int, float] = min(self._cpu_numbers(key, "min"))
        return low

    def average(self, key: K) -> float:
        """:meth:`sum` divided by the number of possible CPUs (BCC's ``average``), as a
        float; one lookup."""
        vals = self._cpu_numbers(key, "average")
        avg: float = sum(vals) / len(vals)
        return avg

    def zero(self, key: Any = _MISSING) -> None:
        """Write an all-zero value: to ``key`` (one update, which also creates it on a
        hash map), or, with no key, to every existing key (BCC's ``table.zero()``: keys
        stay, values become 0; one walk plus one batched update).  For every CPU on
        per-CPU maps.  Not for queue/stack/ringbuf (TypeError) or map-in-map/prog-array
        maps (TypeError: an empty slot is a delete).  Errors as :meth:`update`."""
        h = self._h
        t = h.info.type
        if h.info.key_size == 0:
            raise TypeError(f"{self._type_name()} maps have no keys to zero; {self._keyless_use()}")
        if t in FD_VALUE_TYPES:
            raise TypeError(
                f"{self._type_name()} values are object references; delete the slot instead"
            )
        raw = self.raw
        z = bytes(h.vbs)
        if key is not _MISSING:
            k = self._kenc(key)
            rc = h.update_elem(h.fd, k, z, 0)
            if rc:
                raise self._error(rc, "update", key)
            return
        if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            from . import bulk

            bulk.clear(self)  # arrays: zero every index
            return
        keys = list(raw._iter_raw_keys())
        if keys:  # packed buffers: one UPDATE_BATCH per chunk, no object per element
            raw.update_many(b"".join(keys), z * len(keys))

    # ------------------------------------------------------------------ iteration
    def _next_raw(self, kraw: Optional[bytes]) -> bytes:
        h = self._h
        ks = h.info.key_size
        buf = h.backend.alloc(ks)
        rc = h.backend.map_get_next_key(h.fd, h.NULL if kraw is None else kraw, buf)
        if rc:
            raise self._error(rc, "next_key", kraw)
        out: bytes = h.backend.tobytes(buf, ks)
        return out

    def next_key(self, key: Optional[K] = None) -> K:
        """The key after ``key`` (the first key when ``key`` is None or was deleted).
        Raises KeyNotFoundError after the last key (GET_NEXT_KEY; one syscall)."""
        if self._kdec is None:
            raise InvalidArgumentError(
                _errno.EINVAL,
                "next_key",
                map=self._h.desc,
                hint=f"{self._type_name()} maps have no keys",
            )
        return self._kdec(self._next_raw(None if key is None else self._kenc(key)))

    def _iter_raw_keys(self) -> Iterator[bytes]:
        h = self._h
        if h.info.key_size == 0:
            raise TypeError(
                f"{self._type_name()} maps have no keys to iterate; {self._keyless_use()}"
            )
        be = h.backend
        ks = h.info.key_size
        limit = h.info.max_entries + 1
        buf = be.alloc(ks)
        rc = be.map_get_next_key(h.fd, h.NULL, buf)
        steps = 0
        while rc == 0:
            k = be.tobytes(buf, ks)
            steps += 1
            if steps > limit:
                raise IterationAbortedError(
                    f"map {h.desc} changed under iteration for more than max_entries+1 "
                    f"({limit}) steps; keys may repeat when others delete concurrently"
                )
            yield k
            rc = be.map_get_next_key(h.fd, k, buf)
        if rc != -_errno.ENOENT:
            raise self._error(rc, "next_key")

    def __iter__(self) -> Iterator[K]:
        """Iterate keys with GET_NEXT_KEY (one syscall per key).

        Bounded: at most max_entries+1 steps, then IterationAbortedError.  When other
        writers delete the current key, the kernel restarts from the first key, so a
        key may be seen twice; inserts during iteration may or may not be seen.
        """
        dec = self._kdec
        for k in self._iter_raw_keys():  # keyless maps (dec is None): TypeError here
            yield dec(k)  # type: ignore[misc]

    def keys(self) -> Iterator[K]:  # type: ignore[override]
        """An iterator over keys; see :meth:`__iter__`."""
        return iter(self)

    def items(self, batch_size: Optional[int] = None) -> Iterator[tuple[K, V]]:  # type: ignore[override]
        """Iterate (key, value) pairs, through BPF_MAP_LOOKUP_BATCH where the kernel and
        map type support it (``batch_size`` elements per syscall), else one GET_NEXT_KEY
        and one LOOKUP per key.  Same consistency rules as :meth:`__iter__`."""
        from . import bulk

        return bulk.iter_items(self, batch_size=batch_size)

    def values(self, batch_size: Optional[int] = None) -> Iterator[V]:  # type: ignore[override]
        """Iterate values; see :meth:`items`."""
        from . import bulk

        return bulk.iter_values(self, batch_size=batch_size)

    def __len__(self) -> int:
        """Number of elements.  Arrays: max_entries (every index exists, O(1)).
        Hash-like maps: walks every key, one syscall per key (O(n)).  Queue/stack (and
        other keyless maps): TypeError (the kernel cannot count them without popping)."""
        t = self._h.info.type
        if self._h.info.key_size == 0:
            raise TypeError(
                f"len() of a {self._type_name()} map: the kernel has no way to count its "
                "elements without removing them"
            )
        if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            return self._h.info.max_entries
        if t in FD_VALUE_TYPES:  # fd arrays iterate every slot; count the filled ones
            return sum(1 for k in self._iter_raw_keys() if k in self.raw)
        n = 0
        for _ in self._iter_raw_keys():
            n += 1
        return n

    def __bool__(self) -> bool:
        t = self._h.info.type
        if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            return self._h.info.max_entries > 0
        if t in FD_VALUE_TYPES:
            return len(self) > 0
        if self._h.info.key_size == 0:
            try:
                self.peek()
            except KeyError:
                return False
            return True
        try:
            self._next_raw(None)
        except KeyError:
            return False
        return True

    def clear(self) -> None:
        """Remove everything.  Hash-like: delete every key (batched where possible).
        Arrays: write zero values to every index.  Queue/stack: pop until empty.
        Raises PermissionDeniedError on a read-only/write-only handle or a frozen map."""
        from . import bulk

        h = self._h
        arrays = (MapType.ARRAY, MapType.PERCPU_ARRAY)
        if h.open_flags & OpenFlags.RDONLY or (
            h.open_flags & OpenFlags.WRONLY and h.info.type not in arrays
        ):
            # the kernel refuses every write on a read-only fd, and finding the keys
            # needs reads: fail even when the map is empty, without a syscall
            op = "delete" if h.open_flags & OpenFlags.RDONLY else "next_key"
            raise PermissionDeniedError(
                _errno.EPERM, "clear", map=h.desc, hint=self._hint(_errno.EPERM, op, None)
            )
        try:
            bulk.clear(self)
        except BatchError as e:
            # read-only/write-only handle or frozen map: nothing can be removed, so
            # raise the element error itself (PermissionDeniedError, with its hint)
            if isinstance(e.__cause__, PermissionDeniedError):
                raise e.__cause__ from None
            raise

    # ------------------------------------------------------------------ bulk (bpfmaps.bulk)
    def update_many(
        self,
        pairs_or_keys: Union[Mapping[K, V], Iterable[tuple[K, V]], Iterable[K], Buffer],
        values: Union[Iterable[Union[V, AllCPUs[Any]]], Buffer, None] = None,
        *,
        flags: int = UpdateFlags.ANY,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
        parallel: bool = False,
    ) -> BatchResult:
        """Write many elements (BPF_MAP_UPDATE_BATCH, in chunks; kernel 5.6, per-element C
        fallback below): pairs, a mapping, two sequences or two packed buffers.  Raises
        CodecError (nothing applied) or BatchError; see :func:`bpfmaps.bulk.update_many`."""
        from . import bulk

        return bulk.update_many(
            self, pairs_or_keys, values, flags=flags, on_error=on_error,
            chunk_size=chunk_size, parallel=parallel,
        )  # fmt: skip

    @overload
    def lookup_many(
        self, keys: Union[Iterable[K], Buffer], *, flags: int = 0, chunk_size: Optional[int] = None
    ) -> list[V]: ...
    @overload
    def lookup_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: _T,
        flags: int = 0,
        chunk_size: Optional[int] = None,
    ) -> list[Union[V, _T]]: ...

    def lookup_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: Any = _MISSING,
        flags: int = 0,
        chunk_size: Optional[int] = None,
    ) -> list[Any]:
        """Look up many keys, in order (one LOOKUP_ELEM per key, looped in C): a list of
        values, ``default`` for missing keys when given, else BatchError (with the values
        found in ``err.results``); see :func:`bpfmaps.bulk.lookup_many`."""
        from . import bulk

        if default is _MISSING:  # bulk has its own sentinel: pass a default only if given
            return bulk.lookup_many(self, keys, flags=flags, chunk_size=chunk_size)
        return bulk.lookup_many(self, keys, default=default, flags=flags, chunk_size=chunk_size)

    def delete_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        on_error: str = "stop",
        missing_ok: bool = False,
        chunk_size: Optional[int] = None,
    ) -> BatchResult:
        """Delete many keys in order (BPF_MAP_DELETE_BATCH, kernel 5.6; C loop below).
        Raises CodecError or BatchError; see :func:`bpfmaps.bulk.delete_many`."""
        from . import bulk

        return bulk.delete_many(
            self, keys, on_error=on_error, missing_ok=missing_ok, chunk_size=chunk_size
        )

    @overload
    def pop_many(
        self, keys: Union[Iterable[K], Buffer], *, chunk_size: Optional[int] = None
    ) -> list[V]: ...
    @overload
    def pop_many(
        self, keys: Union[Iterable[K], Buffer], *, default: _T, chunk_size: Optional[int] = None
    ) -> list[Union[V, _T]]: ...

    def pop_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: Any = _MISSING,
        chunk_size: Optional[int] = None,
    ) -> list[Any]:
        """Remove and return many keys, in order (one LOOKUP_AND_DELETE per key, in C);
        BatchError keeps what was popped in ``err.results``; see
        :func:`bpfmaps.bulk.pop_many`."""
        from . import bulk

        if default is _MISSING:
            return bulk.pop_many(self, keys, chunk_size=chunk_size)
        return bulk.pop_many(self, keys, default=default, chunk_size=chunk_size)

    def pop_all(self, *, batch_size: Optional[int] = None) -> list[tuple[K, V]]:
        """Drain the map: every (key, value) pair, removed (LOOKUP_AND_DELETE_BATCH on
        hash maps, kernel 5.6; else a C loop); see :func:`bpfmaps.bulk.pop_all`."""
        from . import bulk

        return bulk.pop_all(self, batch_size=batch_size)

    def replace(
        self,
        key: Any,
        template: Any = None,
        *,
        name: Optional[str] = None,
        key_codec: Any = None,
        value_codec: Any = None,
    ) -> AbstractContextManager[Map[Any, Any]]:
        """``with outer.replace(key) as new:`` a new inner map with the current one's
        spec (or ``template``'s); fill it; on a clean exit it is swapped into
        ``outer[key]`` with one UPDATE_ELEM (atomic for BPF programs), on an exception
        nothing is swapped and it is freed.  One MAP_CREATE + one UPDATE_ELEM.  See
        :func:`bpfmaps.replace.replace`."""
        from .replace import replace

        return replace(self, key, template, name=name, key_codec=key_codec, value_codec=value_codec)

    def memory(self) -> memoryview:
        """The values of a BPF_F_MMAPABLE array as one memoryview (element i at
        ``i * round_up(value_size, 8)``): plain memory access, no syscall, shared with
        BPF programs; read-only for frozen maps; ``numpy.frombuffer`` works.  No
        atomicity; close() refuses while views live.  One mmap on the first call.
        InvalidArgumentError for other maps.  Kernel 5.5.  See bpfmaps.memory."""
        return _memory.map_memory(self)

    def sync(
        self,
        desired: Any,
        values: Any = None,
        *,
        delete_extra: bool = True,
        on_error: str = "stop",
        dry_run: bool = False,
        batch_size: Optional[int] = None,
    ) -> SyncResult:
        """Make the map hold exactly ``desired`` (a mapping, pairs, or keys + values),
        writing only the delta; returns SyncResult(added, changed, removed, unchanged).
        One LOOKUP_BATCH read + the delta's batch writes; SyncError (a BatchError) on
        failure.  See :func:`bpfmaps.sync.sync`."""
        from .sync import sync

        return sync(
            self, desired, values, delete_extra=delete_extra, on_error=on_error,
            dry_run=dry_run, batch_size=batch_size,
        )  # fmt: skip

    def batch(
        self,
        *,
        auto_flush: Optional[int] = None,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
    ) -> MapBatch[K, V]:
        """A context manager that buffers writes and applies them on exit (UPDATE_BATCH /
        DELETE_BATCH in program order; no syscall before); BatchError on failure; see
        :class:`bpfmaps.batching.MapBatch`."""
        from .batching import MapBatch

        return MapBatch(self, auto_flush=auto_flush, on_error=on_error, chunk_size=chunk_size)

    # ------------------------------------------------------------------ object ops
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

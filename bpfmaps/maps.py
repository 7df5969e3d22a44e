"""The typed :class:`Map`: one open BPF map, with codecs and a Mapping-style API.

Costs: every element operation is one bpf(2) syscall (about 0.3-1.5 us); sizes are
checked in Python before the call.  Opening by name walks every map id on the
system (two or three syscalls per map).  ``len()`` of a hash-like map walks all
keys (one syscall per key).  Bulk operations (``update_many``, ``items``, ...)
are in :mod:`bpfmaps.bulk` and use the kernel's batch commands.

Kernel floor: 4.13 (ids, GET_FD_BY_ID, map names), 5.2 (freeze), 5.6 (batch
commands, with a transparent fallback below), 5.14 (lookup-and-delete on hash
maps, with a lookup+delete fallback below).

The class is assembled from one module per concern: the handle and opening
(``bpfmaps._handle``), the view with its properties, errors and element operations
(``bpfmaps._core``), per-CPU aggregates (``bpfmaps._percpu``), bulk work and its
helpers (``bpfmaps._bulkops``) and the kernel-object operations (``bpfmaps._objects``);
this module adds the constructors, typed views and the MutableMapping API.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union, cast, overload

from ._bulkops import BulkOps
from ._core import MISSING, btf_codecs, btf_map_codecs
from ._handle import _Handle, by_fd, by_id, by_name, by_pin, map_ids
from ._handle import create as _create
from ._hints import FD_ARRAY_TYPES
from ._objects import ObjectOps
from ._percpu import PerCPUOps
from ._typing import K, V
from .backend import Backend
from .bulk import clear, iter_items, iter_values
from .codecs import Codec
from .errors import (
    ENOTSUPP,
    BatchError,
    InvalidArgumentError,
    IterationAbortedError,
    PermissionDeniedError,
)
from .replace import replace as _replace
from .types import FD_VALUE_TYPES, MapType, OpenFlags, UpdateFlags

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from typing_extensions import Self

    from .bulk import BatchResult
    from .codecs import AllCPUs

__all__ = ["Map", "map_ids", "CodecSpec"]

_T = TypeVar("_T")
_K2 = TypeVar("_K2")
_V2 = TypeVar("_V2")
#: what ``key=``/``value=`` accept: a codec (``Codec[T]`` gives ``T``), a ctypes type (its
#: instances), ``bytes`` or None (raw bytes), or a struct format string (untyped: Any)
CodecSpec = Union[Codec[_T], type[_T], str, None]


class Map(PerCPUOps[K, V], BulkOps[K, V], ObjectOps[K, V], MutableMapping[K, V]):
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

    __slots__ = ()

    # ------------------------------------------------------------------ opening
    @classmethod
    def _wrap(cls, h: _Handle, btf: bool, key: Any, value: Any) -> Self:
        """A view of a new handle; closes the handle when the codecs fail."""
        try:
            codecs = btf_codecs(h, key, value) if btf else {"key": key, "value": value}
            return cls(h, **codecs)
        except BaseException:
            # close through the handle: it must not keep (and later close again) an fd
            # number the process may have reused by then
            h.close()
            raise

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
        return cls._wrap(by_id(map_id, backend, readonly, writeonly), btf, key, value)

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
        return cls._wrap(by_pin(path, backend, readonly, writeonly), btf, key, value)

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
        return cls._wrap(by_name(name, backend, readonly, writeonly), btf, key, value)

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
        return cls._wrap(by_fd(fd, backend), btf, key, value)

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
        described = (key, value) if btf else None  # the codecs to describe in BTF
        h = _create(
            type, key_size, value_size, max_entries, name, flags, inner_map, numa_node,
            map_extra, backend, described,
        )  # fmt: skip
        return cls._wrap(h, False, key, value)

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
        self, key: Any = MISSING, value: Any = MISSING, *, btf: bool = False
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
            kc, vc = btf_map_codecs(self._h)
            return Map(
                self._h,
                key=kc if key is MISSING else key,
                value=vc if value is MISSING else value,
            )
        v: Map[Any, Any] = Map(
            self._h,
            key=None if key is MISSING else key,
            value=None if value is MISSING else value,
        )
        if key is MISSING and self._key_codec is not None:
            v._key_codec = self._key_codec
            v._kenc, v._kdec = self._kenc, self._kdec
        if value is MISSING:
            v._value_codec = self._value_codec
            v._venc, v._vdec = self._venc, self._vdec
        v._set_raw_sizes()
        return v

    if TYPE_CHECKING:  # the view of MapCore.raw is a Map too

        @property
        def raw(self) -> Map[bytes, bytes]: ...

    # ------------------------------------------------------------------ elements (the rest: MapCore)
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
        if h.info.type in FD_ARRAY_TYPES:
            # fd arrays accept only BPF_ANY: look up, then write (not atomic)
            got = self.get(key, MISSING)
            if got is not MISSING:
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
            return self._pop_next()
        if not 1 <= len(args) <= 2:
            raise TypeError("pop expected 1 or 2 arguments")
        key = args[0]
        k = self._kenc(key)
        buf = h.backend.alloc(h.vbs)
        rc = h.backend.map_lookup_and_delete_elem(h.fd, k, buf, 0)
        op = "lookup_and_delete"
        if rc in (-_errno.EINVAL, -ENOTSUPP, -_errno.EOPNOTSUPP):
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

    # ------------------------------------------------------------------ iteration
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
        return iter_items(self, batch_size=batch_size)

    def values(self, batch_size: Optional[int] = None) -> Iterator[V]:  # type: ignore[override]
        """Iterate values; see :meth:`items`."""
        return iter_values(self, batch_size=batch_size)

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
            clear(self)
        except BatchError as e:
            # read-only/write-only handle or frozen map: nothing can be removed, so
            # raise the element error itself (PermissionDeniedError, with its hint)
            if isinstance(e.__cause__, PermissionDeniedError):
                raise e.__cause__ from None
            raise

    # ------------------------------------------------------------------ map-in-map
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
        cm = _replace(self, key, template, name=name, key_codec=key_codec, value_codec=value_codec)
        # replace() makes the new map with type(self): a Map
        return cast("AbstractContextManager[Map[Any, Any]]", cm)

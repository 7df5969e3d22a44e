"""Kernel constants and the :class:`MapInfo` record (pure Python, no extension needed).

:class:`MapType`, :class:`UpdateFlags`, :class:`MapFlags` and :class:`OpenFlags` are
``enum.IntEnum``/``enum.IntFlag`` classes, built on first use: importing this module
loads neither ``enum`` nor ``typing`` (``bpfmaps batch file`` starts in about 15 ms and
those two cost about as much again).  bpfmaps' own code uses the same numbers as plain
ints: :data:`MAP_TYPE` ``.HASH`` is ``1`` (the enum members compare and hash equal to
them), and the sets ``*_INTS`` are the sets ``*_TYPES`` of plain ints.
:class:`MapInfo` keeps the map type as the kernel reported it (:attr:`MapInfo.raw_type`);
:attr:`MapInfo.type` is the :class:`MapType` member.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from enum import IntEnum, IntFlag
    from typing import Any, NamedTuple, Union

    from ._objinfo import BTFInfo as BTFInfo
    from ._objinfo import ProgInfo as ProgInfo
else:
    from ._record import NamedTuple

    # the class statements below make plain classes of ints; __getattr__ turns each
    # into its enum on first use (_enum)
    IntEnum = IntFlag = object

__all__ = [
    "MapType",
    "UpdateFlags",
    "MapFlags",
    "OpenFlags",
    "MapInfo",
    "ProgInfo",
    "BTFInfo",
    "PERCPU_TYPES",
    "KEYLESS_TYPES",
    "ARRAY_TYPES",
    "MAP_IN_MAP_TYPES",
    "FD_VALUE_TYPES",
    "round_up8",
    "possible_cpus",
]


class MapType(IntEnum):
    """``enum bpf_map_type`` (include/uapi/linux/bpf.h)."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @classmethod
    def parse(cls, value: MapType | int | str) -> MapType:
        """Accept a MapType, its number, or a name like ``"hash"``/``"lru_hash"``."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"unknown map type {value!r}") from None

    @property
    def bpftool_name(self) -> str:
        """The name bpftool and libbpf use (``lru_percpu_hash``)."""
        return self.name.lower()


class UpdateFlags(IntFlag):
    """``BPF_ANY``, ``BPF_NOEXIST``, ``BPF_EXIST``, ``BPF_F_LOCK`` for element updates."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2
    LOCK = 4


class MapFlags(IntFlag):
    """``map_flags`` for MAP_CREATE."""

    NONE = 0
    NO_PREALLOC = 1 << 0
    NO_COMMON_LRU = 1 << 1
    NUMA_NODE = 1 << 2
    RDONLY = 1 << 3
    WRONLY = 1 << 4
    STACK_BUILD_ID = 1 << 5
    ZERO_SEED = 1 << 6
    RDONLY_PROG = 1 << 7
    WRONLY_PROG = 1 << 8
    CLONE = 1 << 9
    MMAPABLE = 1 << 10
    PRESERVE_ELEMS = 1 << 11
    INNER_MAP = 1 << 12


class OpenFlags(IntFlag):
    """``open_flags`` / ``file_flags`` for GET_FD_BY_ID and OBJ_GET."""

    RDWR = 0
    RDONLY = 1 << 3
    WRONLY = 1 << 4


#: the enums' numbers as plain ints, for bpfmaps' own use (no enum built): MAP_TYPE.HASH
#: is 1.  (Type checkers see the enum classes: each member is its int.)
MAP_TYPE = MapType
UPDATE_FLAGS = UpdateFlags
MAP_FLAGS = MapFlags
OPEN_FLAGS = OpenFlags
_ENUMS = {c.__name__: c for c in (MapType, UpdateFlags, MapFlags, OpenFlags)}
if not TYPE_CHECKING:
    del MapType, UpdateFlags, MapFlags, OpenFlags  # the enums: built by __getattr__
    del IntEnum, IntFlag

#: the per-CPU map types (values are ``possible_cpus() * round_up8(value_size)`` bytes)
PERCPU_INTS = frozenset(
    {
        MAP_TYPE.PERCPU_HASH,
        MAP_TYPE.PERCPU_ARRAY,
        MAP_TYPE.LRU_PERCPU_HASH,
        MAP_TYPE.PERCPU_CGROUP_STORAGE,
    }
)
#: the map types without keys
KEYLESS_INTS = frozenset({MAP_TYPE.QUEUE, MAP_TYPE.STACK, MAP_TYPE.BLOOM_FILTER})
#: the map types indexed by a u32
ARRAY_INTS = frozenset(
    {
        MAP_TYPE.ARRAY,
        MAP_TYPE.PERCPU_ARRAY,
        MAP_TYPE.PROG_ARRAY,
        MAP_TYPE.ARRAY_OF_MAPS,
        MAP_TYPE.PERF_EVENT_ARRAY,
        MAP_TYPE.CGROUP_ARRAY,
    }
)
#: the map types whose values are maps
MAP_IN_MAP_INTS = frozenset({MAP_TYPE.ARRAY_OF_MAPS, MAP_TYPE.HASH_OF_MAPS})
#: Map types whose values are written as fds and read back as object ids.
FD_VALUE_INTS = MAP_IN_MAP_INTS | {MAP_TYPE.PROG_ARRAY}
#: the public sets of MapType members, built with the enums (__getattr__)
_SETS = {
    "PERCPU_TYPES": PERCPU_INTS,
    "KEYLESS_TYPES": KEYLESS_INTS,
    "ARRAY_TYPES": ARRAY_INTS,
    "MAP_IN_MAP_TYPES": MAP_IN_MAP_INTS,
    "FD_VALUE_TYPES": FD_VALUE_INTS,
}
if TYPE_CHECKING:
    PERCPU_TYPES: frozenset[MapType]
    KEYLESS_TYPES: frozenset[MapType]
    ARRAY_TYPES: frozenset[MapType]
    MAP_IN_MAP_TYPES: frozenset[MapType]
    FD_VALUE_TYPES: frozenset[MapType]


def _enum(plain: type) -> Any:
    """The enum class of one of the plain classes above: the same members, methods
    and docstring, ``enum.IntFlag`` for the flag classes.  Cost: about 1 ms (the
    ``enum`` import once, then the class)."""
    import enum

    base = enum.IntFlag if plain.__name__.endswith("Flags") else enum.IntEnum
    meta: Any = type(base)  # enum's metaclass (EnumMeta; EnumType from 3.11)
    ns = meta.__prepare__(plain.__name__, (base,))
    for k, v in vars(plain).items():
        if k not in ("__dict__", "__weakref__"):
            ns[k] = v
    return meta(plain.__name__, (base,), ns)


def _public(name: str) -> Any:
    """A public enum or set of this module, built on first use (the module's
    ``__getattr__``, PEP 562; also what its own functions call: a function's global
    lookup does not call ``__getattr__``).  Cost: O(1) once built."""
    value = globals().get(name)
    if value is not None:
        return value
    # setdefault: when two threads build one at once, both get the one published
    plain = _ENUMS.get(name)
    if plain is not None:
        return globals().setdefault(name, _enum(plain))
    if name in ("ProgInfo", "BTFInfo"):  # start-up: program and BTF records on first use
        from ._objinfo import BTFInfo, ProgInfo

        globals().update(ProgInfo=ProgInfo, BTFInfo=BTFInfo)
        return globals()[name]
    ints = _SETS.get(name)
    if ints is not None:
        mt = _public("MapType")
        return globals().setdefault(name, frozenset(mt(t) for t in ints))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENUMS) | set(_SETS) | {"ProgInfo", "BTFInfo"})


if not TYPE_CHECKING:  # (hidden from type checkers: they see the classes above)
    __getattr__ = _public


def round_up8(n: int) -> int:
    return (n + 7) & ~7


#: one op record of a batch-file plan and of :meth:`~bpfmaps._loopbase.Loops.exec_ops`:
#: ``struct bpfm_op`` of bpfmaps/_native/ops.h (kind, flags, map, line, key_off,
#: value_off, pos; tests/bpftool/test_bpftool_scan.py checks the layout against it)
OP_FORMAT = "=IIIIIIQ"
OP_SIZE = 32
_LITTLE = sys.byteorder == "little"


class OpRecords:
    """``struct.Struct(OP_FORMAT)``'s view of op records (``size``, ``format``,
    ``pack``, ``unpack_from``, ``iter_unpack``, the same tuples) on builtins alone:
    ``import struct`` loads an extension module, ~0.4 ms of a small batch file's
    start-up, which reads a handful of records.  The one Python definition of the
    record (:data:`OP`: bpfmaps.loops and the bpftool plan use it).  Cost: ~0.5 us a record."""

    __slots__ = ()
    format = OP_FORMAT
    size = OP_SIZE

    @staticmethod
    def pack(kind: int, flags: int, m: int, line: int, ko: int, vo: int, pos: int) -> bytes:
        """The 32 bytes of one record; OverflowError for a field out of its range."""
        if (kind | flags | m | line | ko | vo) >> 32 or pos >> 64:
            raise OverflowError(
                f"op record field out of range: {(kind, flags, m, line, ko, vo, pos)}"
            )
        if _LITTLE:
            n = kind | flags << 32 | m << 64 | line << 96 | ko << 128 | vo << 160 | pos << 192
            return n.to_bytes(32, "little")
        n = kind << 224 | flags << 192 | m << 160 | line << 128 | ko << 96 | vo << 64 | pos
        return n.to_bytes(32, "big")

    @staticmethod
    def unpack_from(buf: Any, offset: int = 0) -> tuple[int, int, int, int, int, int, int]:
        """(kind, flags, map, line, key_off, value_off, pos) of the record at byte
        ``offset`` of ``buf``; ValueError when ``buf`` has no 32 bytes there."""
        mv = memoryview(buf).cast("B")[offset : offset + OP_SIZE]
        if offset < 0 or len(mv) != OP_SIZE:
            raise ValueError(
                f"no op record at byte {offset} of a {memoryview(buf).nbytes}-byte buffer"
            )
        w = mv.cast("I")
        pos = w[6] | w[7] << 32 if _LITTLE else w[6] << 32 | w[7]
        return w[0], w[1], w[2], w[3], w[4], w[5], pos

    @staticmethod
    def iter_unpack(buf: Any) -> Iterator[tuple[int, int, int, int, int, int, int]]:
        """The records of ``buf`` in order (its size a multiple of 32, else ValueError)."""
        mv = memoryview(buf).cast("B")
        if len(mv) % OP_SIZE:
            raise ValueError(f"op records: {len(mv)} bytes is not a multiple of {OP_SIZE}")
        w = mv.cast("I")
        lo, hi = (w[6::8], w[7::8]) if _LITTLE else (w[7::8], w[6::8])
        for kind, flags, m, line, ko, vo, a, b in zip(
            w[0::8], w[1::8], w[2::8], w[3::8], w[4::8], w[5::8], lo, hi
        ):
            yield kind, flags, m, line, ko, vo, a | b << 32


#: the op record view (see :class:`OpRecords`)
OP = OpRecords()


#: possible_cpus() once read (not functools.lru_cache: functools costs ~2 ms of start-up)
_ncpus: list[int] = []


def possible_cpus() -> int:
    """Number of possible CPUs from /sys/devices/system/cpu/possible (e.g. ``0-1`` -> 2).

    Per-CPU map values are ``possible_cpus() * round_up8(value_size)`` bytes.  One
    read, cached for the process.  OSError when /sys is not mounted.  (Here, not in
    :mod:`bpfmaps._host`, which re-exports it: every run of ``bpfmaps batch file`` asks
    it, and the rest of _host is one module less at start-up.)
    """
    if _ncpus:
        return _ncpus[0]
    n = _read_possible()
    _ncpus[:] = [n]
    return n


def _read_possible() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    n = 0
    for part in text.split(","):
        if "-" in part:
            _lo, hi = part.split("-")
            n = max(n, int(hi) + 1)
        elif part:
            n = max(n, int(part) + 1)
    return n


def _map_type_or_int(value: int) -> MapType | int:
    try:
        return _public("MapType")(value)  # type: ignore[no-any-return]
    except ValueError:
        return value


class MapInfo(NamedTuple):
    """What ``BPF_OBJ_GET_INFO_BY_FD`` reports for a map (an immutable record).

    ``type`` reads as a :class:`MapType` member when the number names one, else as the
    int; the record keeps the number as given (:attr:`raw_type`)."""

    id: int
    type: Union[MapType, int]
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    name: str = ""
    ifindex: int = 0
    btf_vmlinux_value_type_id: int = 0
    netns_dev: int = 0
    netns_ino: int = 0
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    map_extra: int = 0
    #: id of the kernel (vmlinux/module) BTF a struct_ops value type lives in (Linux 6.7+)
    btf_vmlinux_id: int = 0

    @classmethod
    def make(cls, type: int, **kw: Any) -> MapInfo:
        """The record of map type ``type`` (read back as a :class:`MapType` when it
        names one, else as the int); ``kw`` are the other fields.  No syscall."""
        return cls(type=type, **kw)

    @property
    def raw_type(self) -> int:
        """The map type as stored, a plain int for records the kernel backend made
        (no enum is built: what bpfmaps' own code reads).  Cost: O(1)."""
        return self[1]

    @property
    def is_percpu(self) -> bool:
        return self[1] in PERCPU_INTS

    @property
    def is_keyless(self) -> bool:
        return self.key_size == 0

    def describe(self) -> str:
        """Short description for error messages: ``id 12 'name'``."""
        return f"id {self.id} {self.name!r}" if self.name else f"id {self.id}"


def _map_info_type(self: MapInfo) -> MapType | int:
    return _map_type_or_int(self[1])


if not TYPE_CHECKING:
    # the field reads the stored number as a MapType member (building the enum then)
    MapInfo.type = property(
        _map_info_type,
        doc="The map type: a MapType member when the number names one, else the int.",
    )

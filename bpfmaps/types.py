"""Kernel constants and the :class:`MapInfo` record (pure Python, no extension needed)."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple, Union

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
]


class MapType(enum.IntEnum):
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


class UpdateFlags(enum.IntFlag):
    """``BPF_ANY``, ``BPF_NOEXIST``, ``BPF_EXIST``, ``BPF_F_LOCK`` for element updates."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2
    LOCK = 4


class MapFlags(enum.IntFlag):
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


class OpenFlags(enum.IntFlag):
    """``open_flags`` / ``file_flags`` for GET_FD_BY_ID and OBJ_GET."""

    RDWR = 0
    RDONLY = 1 << 3
    WRONLY = 1 << 4


PERCPU_TYPES = frozenset(
    {
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_PERCPU_HASH,
        MapType.PERCPU_CGROUP_STORAGE,
    }
)
KEYLESS_TYPES = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})
ARRAY_TYPES = frozenset(
    {
        MapType.ARRAY,
        MapType.PERCPU_ARRAY,
        MapType.PROG_ARRAY,
        MapType.ARRAY_OF_MAPS,
        MapType.PERF_EVENT_ARRAY,
        MapType.CGROUP_ARRAY,
    }
)
MAP_IN_MAP_TYPES = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
#: Map types whose values are written as fds and read back as object ids.
FD_VALUE_TYPES = MAP_IN_MAP_TYPES | {MapType.PROG_ARRAY}


def round_up8(n: int) -> int:
    return (n + 7) & ~7


def _map_type_or_int(value: int) -> MapType | int:
    try:
        return MapType(value)
    except ValueError:
        return value


class MapInfo(NamedTuple):
    """What ``BPF_OBJ_GET_INFO_BY_FD`` reports for a map (an immutable record)."""

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
        """The record with ``type`` as a :class:`MapType` when it names one (else the int);
        ``kw`` are the other fields.  No syscall."""
        return cls(type=_map_type_or_int(type), **kw)

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_TYPES

    @property
    def is_keyless(self) -> bool:
        return self.key_size == 0

    def describe(self) -> str:
        """Short description for error messages: ``id 12 'name'``."""
        return f"id {self.id} {self.name!r}" if self.name else f"id {self.id}"


class ProgInfo(NamedTuple):
    """What OBJ_GET_INFO_BY_FD reports for a program (the fields bpfmaps uses).

    Defined here (L0) so that both backends build it without importing each other."""

    id: int
    type: int
    name: str = ""
    #: the 8-byte program tag (a hash of the instructions; bpftool's ``tag``)
    tag: bytes = b""


class BTFInfo(NamedTuple):
    """What OBJ_GET_INFO_BY_FD reports for a BTF object, with its raw blob."""

    id: int
    data: bytes
    name: str = ""
    kernel_btf: bool = False

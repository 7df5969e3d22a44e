"""array and percpu_array (``kernel/bpf/arraymap.c``), with the pages of an mmap'd
``BPF_F_MMAPABLE`` array, and the array alloc check shared with the fd arrays."""

from __future__ import annotations

import errno
import mmap
from typing import Any, ClassVar, Optional, Union

from ...types import MapType
from .base import (
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_NOEXIST,
    E2BIG,
    EEXIST,
    EINVAL,
    ENOENT,
    F_ACCESS_MASK,
    F_INNER_MAP,
    F_MMAPABLE,
    F_NUMA_NODE,
    F_PRESERVE_ELEMS,
    FakeMap,
    MapEnv,
    access_ok,
    percpu_value_fits,
)
from .limits import ARRAY_VALUE_SIZE_MAX

__all__ = ["ARRAY_CREATE_FLAG_MASK", "ArrayMap", "DenseValues"]

ARRAY_CREATE_FLAG_MASK = F_NUMA_NODE | F_MMAPABLE | F_ACCESS_MASK | F_PRESERVE_ELEMS | F_INNER_MAP


class DenseValues:
    """The values of an mmap'd ArrayMap (index -> value bytes), backed by pages:
    element i at ``i * stride``, ``value_size`` bytes (the rest of the slot is zero).
    Every fd of the map sees the same bytes, as in the kernel."""

    def __init__(self, pages: mmap.mmap, stride: int, value_size: int, old: dict[int, Any]) -> None:
        self.pages: mmap.mmap = pages
        self.stride: int = stride
        self.vs: int = value_size
        for i, v in old.items():
            self[i] = v

    def get(self, i: int, default: Any = None) -> bytes:
        o = i * self.stride
        return self.pages[o : o + self.vs]

    def __getitem__(self, i: int) -> bytes:
        return self.get(i)

    def __setitem__(self, i: int, value: bytes) -> None:
        o = i * self.stride
        self.pages[o : o + self.vs] = bytes(value[: self.vs]).ljust(self.vs, b"\0")

    def __contains__(self, i: object) -> bool:
        return True

    def values(self) -> list[bytes]:
        return []


class ArrayMap(FakeMap):
    """array and percpu_array: zero-filled, every index exists."""

    lookup_batch_kind: ClassVar[Optional[str]] = "generic"
    has_update_batch: ClassVar[bool] = True

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        #: sparse (a missing index reads as zeroes) until mmap'd
        self.data: Union[dict[int, Any], DenseValues] = {}

    @classmethod
    def alloc_check(
        cls,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        map_extra: int = 0,
    ) -> int:
        """``array_map_alloc_check``: 0 or -errno.  Cost: O(1)."""
        percpu = map_type == MapType.PERCPU_ARRAY
        if (
            max_entries == 0
            or key_size != 4
            or value_size == 0
            or flags & ~ARRAY_CREATE_FLAG_MASK
            or not access_ok(flags)
            or (percpu and flags & F_NUMA_NODE)
        ):
            return -EINVAL
        if map_type != MapType.ARRAY and flags & (F_MMAPABLE | F_INNER_MAP):
            return -EINVAL
        if flags & F_PRESERVE_ELEMS:
            return -EINVAL
        if value_size > ARRAY_VALUE_SIZE_MAX:
            return -E2BIG
        if percpu and not percpu_value_fits(value_size):
            return -E2BIG
        return 0

    @property
    def percpu(self) -> bool:
        return self.type == MapType.PERCPU_ARRAY

    def count(self) -> int:
        return self.max_entries

    @staticmethod
    def index(key: bytes) -> int:
        """The u32 index a key names.  Cost: O(1)."""
        return int.from_bytes(key[:4], "little")

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        assert key is not None
        i = self.index(key)
        if i >= self.max_entries:
            return -ENOENT, None
        v: bytes = self.data.get(i, bytes(self.value_buf_size))
        return 0, v

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -EINVAL
        i = self.index(key)
        if i >= self.max_entries:
            return -E2BIG
        if flags & BPF_NOEXIST:
            return -EEXIST
        if not self.percpu:
            # the kernel stores round_up(value_size, 8) per element but copies value_size
            value = value[: self.value_size]
        self.data[i] = value
        return 0

    def delete(self, key: Optional[bytes]) -> int:
        return -EINVAL

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        if key is None:
            return 0, (0).to_bytes(4, "little")
        i = self.index(key)
        if i >= self.max_entries:
            return 0, (0).to_bytes(4, "little")
        if i == self.max_entries - 1:
            return -ENOENT, None
        return 0, (i + 1).to_bytes(4, "little")

    def mmap_pages(self, size: int, readonly: bool) -> tuple[int, Optional[mmap.mmap], bool]:
        """mmap of the array: (rc, its pages, read-only?).  The first call moves the
        values into one anonymous mapping of at least ``size`` bytes.  -ENODEV for
        per-CPU arrays, -EINVAL without ``BPF_F_MMAPABLE``.  Cost: O(max_entries) once."""
        if self.type != MapType.ARRAY:
            return -errno.ENODEV, None, False
        if not self.flags & F_MMAPABLE:
            return -EINVAL, None, False
        data = self.data
        if not isinstance(data, DenseValues):
            stride = (self.value_size + 7) & ~7
            pages = mmap.mmap(-1, max(mmap.PAGESIZE, size))
            data = self.data = DenseValues(pages, stride, self.value_size, data)
        return 0, data.pages, readonly or self.frozen

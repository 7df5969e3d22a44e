"""Fake mmap'd arrays: an ArrayMap's values moved into one anonymous mapping."""

from __future__ import annotations

import mmap
from typing import Any

from ..types import MapFlags, MapType

ENODEV, EINVAL, ENOMEM = 19, 22, 12


class DenseValues:
    """The ``data`` dict of an ArrayMap (index -> value bytes), backed by pages:
    element i at ``i * stride``, ``value_size`` bytes (the rest of the slot is zero)."""

    def __init__(self, pages: mmap.mmap, stride: int, value_size: int, old: dict) -> None:
        self.pages, self.stride, self.vs = pages, stride, value_size
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


def dense_pages(m: Any, size: int, readonly: bool) -> tuple[int, Any, bool]:
    if m.type != MapType.ARRAY:
        return -ENODEV, None, False
    if not m.flags & MapFlags.MMAPABLE:
        return -EINVAL, None, False
    data = m.data
    if not isinstance(data, DenseValues):
        stride = (m.value_size + 7) & ~7
        pages = mmap.mmap(-1, max(mmap.PAGESIZE, size))
        m.data = DenseValues(pages, stride, m.value_size, data)
    return 0, m.data.pages, readonly or m.frozen

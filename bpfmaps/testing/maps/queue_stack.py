"""queue and stack (``kernel/bpf/queue_stack_maps.c``): keyless, bounded."""

from __future__ import annotations

from typing import Any, Optional

from ...types import MapType
from .base import (
    BPF_EXIST,
    BPF_NOEXIST,
    E2BIG,
    EINVAL,
    ENOENT,
    F_ACCESS_MASK,
    F_NUMA_NODE,
    FakeMap,
    MapEnv,
    access_ok,
)
from .limits import KMALLOC_MAX_SIZE

__all__ = ["QUEUE_STACK_CREATE_FLAG_MASK", "QueueStack"]

QUEUE_STACK_CREATE_FLAG_MASK = F_NUMA_NODE | F_ACCESS_MASK


class QueueStack(FakeMap):
    """queue and stack (``kernel/bpf/queue_stack_maps.c``): keyless, bounded."""

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.items: list[bytes] = []  # oldest first

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
        """``queue_stack_map_alloc_check``: no key, a value, bounded.  Cost: O(1)."""
        if (
            max_entries == 0
            or key_size != 0
            or value_size == 0
            or flags & ~QUEUE_STACK_CREATE_FLAG_MASK
            or not access_ok(flags)
        ):
            return -EINVAL
        if value_size > KMALLOC_MAX_SIZE:
            return -E2BIG
        return 0

    def count(self) -> int:
        return len(self.items)

    def _top(self) -> int:
        return 0 if self.type == MapType.QUEUE else -1

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:  # peek
        if not self.items:
            return -ENOENT, None
        return 0, self.items[self._top()]

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:  # push
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return -EINVAL
        if len(self.items) >= self.max_entries:
            if not flags & BPF_EXIST:
                return -E2BIG
            self.items.pop(0)  # overwrite the oldest element
        self.items.append(value)
        return 0

    def lookup_and_delete(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:  # pop
        if not self.items:
            return -ENOENT, None
        return 0, self.items.pop(self._top())

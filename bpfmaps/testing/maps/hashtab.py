"""hash and percpu_hash (``kernel/bpf/hashtab.c``), and the hash-table alloc check
shared by every hash type (LRU and hash-of-maps included)."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from ...errors import ENOTSUPP
from ...types import MapType
from .._jhash import jhash
from .base import (
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_NOEXIST,
    E2BIG,
    EEXIST,
    EINVAL,
    ENOENT,
    F_ACCESS_MASK,
    F_NO_COMMON_LRU,
    F_NO_PREALLOC,
    F_NUMA_NODE,
    F_ZERO_SEED,
    FakeMap,
    MapEnv,
    access_ok,
    percpu_value_fits,
    roundup_pow_of_two,
)
from .limits import HTAB_ELEM_SIZE, KMALLOC_MAX_SIZE

__all__ = ["HTAB_CREATE_FLAG_MASK", "HashMap", "PercpuHashMap"]

HTAB_CREATE_FLAG_MASK = F_NO_PREALLOC | F_NO_COMMON_LRU | F_NUMA_NODE | F_ACCESS_MASK | F_ZERO_SEED
_PERCPU = frozenset({MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})
_LRU = frozenset({MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})


class HashMap(FakeMap):
    """hash (and the base of percpu_hash, LRU and hash_of_maps).

    Keys live in ``n_buckets = roundup_pow_of_two(max_entries)`` buckets chosen with the
    kernel's jhash; each bucket lists its keys newest first, like the kernel's hlist.
    With ``BPF_F_ZERO_SEED`` the kernel's seed is 0 too, so iteration order and batch
    chunking are identical to the kernel's; otherwise the fake's seed is its own.
    """

    lookup_batch_kind: ClassVar[Optional[str]] = "htab"
    has_update_batch: ClassVar[bool] = True
    has_delete_batch: ClassVar[bool] = True
    has_lookup_and_delete: ClassVar[bool] = True
    #: an update of an existing key replaces the value in place (no re-link at the head)
    in_place_update: ClassVar[bool] = False

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.hashrnd: int = 0 if self.flags & F_ZERO_SEED else env.rng.getrandbits(32)
        self.n_buckets: int = roundup_pow_of_two(self.max_entries)
        self.buckets: list[list[bytes]] = [[] for _ in range(self.n_buckets)]
        self.data: dict[bytes, Any] = {}

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
        """``htab_map_alloc_check``: 0 or -errno.  Cost: O(1)."""
        percpu = map_type in _PERCPU
        lru = map_type in _LRU
        if flags & ~HTAB_CREATE_FLAG_MASK or not access_ok(flags):
            return -EINVAL
        if not lru and flags & F_NO_COMMON_LRU:
            return -EINVAL
        if lru and flags & F_NO_PREALLOC:
            return -ENOTSUPP
        if flags & F_NUMA_NODE and (percpu or flags & F_NO_COMMON_LRU):
            return -EINVAL
        if max_entries == 0 or key_size == 0 or value_size == 0:
            return -EINVAL
        if key_size + value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE:
            return -E2BIG
        if percpu and not percpu_value_fits(value_size):
            return -E2BIG
        return 0

    @property
    def percpu(self) -> bool:
        return self.type in _PERCPU

    def bucket_of(self, key: bytes) -> int:
        """The bucket index of ``key`` (jhash with this map's seed).  Cost: O(key_size)."""
        return jhash(key, self.hashrnd) & (self.n_buckets - 1)

    def count(self) -> int:
        return len(self.data)

    def read(self, key: bytes) -> bytes:
        """The value of a present key as user space reads it.  Cost: O(1)."""
        return self._read_value(self.data[key])

    def _read_value(self, stored: Any) -> bytes:
        return bytes(stored)

    def _drop(self, stored: Any) -> None:
        """A stored value leaves the map (fd-valued maps drop its reference)."""

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        assert key is not None
        if key not in self.data:
            return -ENOENT, None
        return 0, self.read(key)

    def _insert_head(self, key: bytes) -> None:
        b = self.buckets[self.bucket_of(key)]
        if key in self.data:
            b.remove(key)
        b.insert(0, key)

    def remove(self, key: bytes) -> Any:
        """Unlink a present key and return what was stored.  Cost: O(bucket length)."""
        self.buckets[self.bucket_of(key)].remove(key)
        v = self.data.pop(key)
        self._drop(v)
        return v

    def _store(self, key: bytes, value: Any, flags: int) -> int:
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -EINVAL
        exists = key in self.data
        if exists and (flags & ~BPF_F_LOCK) == BPF_NOEXIST:
            return -EEXIST
        if not exists and (flags & ~BPF_F_LOCK) == BPF_EXIST:
            return -ENOENT
        if not exists and len(self.data) >= self.max_entries:
            return -E2BIG
        if self.in_place_update and exists:
            self.data[key] = value
            return 0
        self._insert_head(key)
        self.data[key] = value
        return 0

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
        return self._store(key, value, flags)

    def delete(self, key: Optional[bytes]) -> int:
        assert key is not None
        if key not in self.data:
            return -ENOENT
        self.remove(key)
        return 0

    def lookup_and_delete(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        assert key is not None
        if key not in self.data:
            return -ENOENT, None
        v = self.read(key)
        self.remove(key)
        return 0, v

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        i = 0
        if key is not None and key in self.data:
            i = self.bucket_of(key)
            b = self.buckets[i]
            pos = b.index(key)
            if pos + 1 < len(b):
                return 0, b[pos + 1]
            i += 1
        for j in range(i, self.n_buckets):
            if self.buckets[j]:
                return 0, self.buckets[j][0]
        return -ENOENT, None

    def release(self) -> None:
        for v in self.data.values():
            self._drop(v)
        self.data.clear()


class PercpuHashMap(HashMap):
    """percpu_hash: updates of existing keys happen in place."""

    in_place_update: ClassVar[bool] = True

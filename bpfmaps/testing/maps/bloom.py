"""bloom_filter (``kernel/bpf/bloom_filter.c``, Linux 5.16): keyless; an update
pushes a value (sets ``k`` bits), a lookup tests one (0: maybe present, -ENOENT:
absent); no delete, no iteration, no batches.

The bit array and the hashes are the kernel's (``jhash`` of the value with seed
``hash_seed + i`` for i < k, masked to the array size), so with ``BPF_F_ZERO_SEED``
even the false positives are the kernel's; without it the seed is the fake's own.
"""

from __future__ import annotations

import errno
from typing import Any, ClassVar, Optional

from .._jhash import jhash
from .base import (
    BPF_ANY,
    E2BIG,
    EINVAL,
    ENOENT,
    F_ACCESS_MASK,
    F_NUMA_NODE,
    F_ZERO_SEED,
    FakeMap,
    MapEnv,
    access_ok,
    roundup_pow_of_two,
)
from .limits import KMALLOC_MAX_SIZE

__all__ = ["BLOOM_CREATE_FLAG_MASK", "BloomFilter", "bloom_bitset_mask"]

EOPNOTSUPP = errno.EOPNOTSUPP
BLOOM_CREATE_FLAG_MASK = F_NUMA_NODE | F_ZERO_SEED | F_ACCESS_MASK
#: hash functions when ``map_extra`` is 0
DEFAULT_HASH_FUNCS = 5
_U32 = 0xFFFFFFFF


def bloom_bitset_mask(max_entries: int, nr_hash_funcs: int) -> int:
    """``bloom_map_alloc``'s bit-array size minus one: ``max_entries * k * 7 / 5`` bits
    (1/ln 2 approximated by 7/5), at least 64, rounded up to a power of two; the
    whole u32 range when that exceeds 2^31 bits.  Cost: O(1)."""
    nr_bits = max_entries * nr_hash_funcs
    if nr_bits > _U32:
        return _U32
    nr_bits = nr_bits // 5 * 7
    if nr_bits > _U32 or nr_bits > 1 << 31:
        return _U32
    nr_bits = 64 if nr_bits <= 64 else roundup_pow_of_two(nr_bits)
    return nr_bits - 1


class BloomFilter(FakeMap):
    """bloom_filter (see the module docstring)."""

    #: LOOKUP_ELEM reads the value to test from the value buffer and writes nothing
    lookup_reads_value: ClassVar[bool] = True

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.nr_hash_funcs: int = self.map_extra or DEFAULT_HASH_FUNCS
        self.bitset_mask: int = bloom_bitset_mask(self.max_entries, self.nr_hash_funcs)
        self.hash_seed: int = 0 if self.flags & F_ZERO_SEED else env.rng.getrandbits(32)
        #: the set bits of the array (sparse)
        self.bits: set[int] = set()
        self.pushes: int = 0

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
        """``bloom_map_alloc_check`` (values up to KMALLOC_MAX_SIZE, else E2BIG), then
        ``bloom_map_alloc``'s checks: no key, a value, entries, flags, at most 15 hash
        functions in ``map_extra``.  Cost: O(1)."""
        if value_size > KMALLOC_MAX_SIZE:
            return -E2BIG
        if (
            key_size != 0
            or value_size == 0
            or max_entries == 0
            or flags & ~BLOOM_CREATE_FLAG_MASK
            or not access_ok(flags)
            or map_extra & ~0xF
        ):
            return -EINVAL
        return 0

    def count(self) -> int:
        return self.pushes

    def _hashes(self, value: bytes) -> list[int]:
        seed = self.hash_seed
        return [
            jhash(value, (seed + i) & _U32) & self.bitset_mask for i in range(self.nr_hash_funcs)
        ]

    def peek_value(self, value: bytes) -> int:
        """``bloom_map_peek_elem``: 0 when every bit of ``value`` is set, else -ENOENT.
        Cost: k hashes of the value."""
        bits = self.bits
        return 0 if all(h in bits for h in self._hashes(value)) else -ENOENT

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -EINVAL, None  # programs use peek; user space goes through peek_value

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        """``bloom_map_push_elem``: only BPF_ANY; sets the value's k bits."""
        if flags != BPF_ANY:
            return -EINVAL
        self.bits.update(self._hashes(value))
        self.pushes += 1
        return 0

    def delete(self, key: Optional[bytes]) -> int:
        return -EOPNOTSUPP

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -EOPNOTSUPP, None

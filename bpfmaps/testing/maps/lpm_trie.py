"""lpm_trie (``kernel/bpf/lpm_trie.c``): longest-prefix match over (prefix length,
data bits) keys."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from .base import (
    BPF_EXIST,
    BPF_NOEXIST,
    EEXIST,
    EINVAL,
    ENOENT,
    ENOSPC,
    F_ACCESS_MASK,
    F_NO_PREALLOC,
    F_NUMA_NODE,
    FakeMap,
    MapEnv,
    access_ok,
)
from .limits import LPM_KEY_SIZE_MAX, LPM_KEY_SIZE_MIN, LPM_VAL_SIZE_MAX

__all__ = ["LPM_CREATE_FLAG_MASK", "LpmTrie"]

LPM_CREATE_FLAG_MASK = F_NO_PREALLOC | F_ACCESS_MASK | F_NUMA_NODE


class LpmTrie(FakeMap):
    """lpm_trie (``kernel/bpf/lpm_trie.c``).

    Key = native-endian u32 prefix length + data bytes (most significant bit first).
    Entries are identified by (prefixlen, first prefixlen bits); an update stores the
    whole data of the key written last.  ``GET_NEXT_KEY`` walks the trie in post-order
    (children before parents, the 0-branch before the 1-branch), as the kernel does.
    """

    lookup_batch_kind: ClassVar[Optional[str]] = "generic"
    has_update_batch: ClassVar[bool] = True
    has_delete_batch: ClassVar[bool] = True

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.data_size: int = self.key_size - 4
        self.max_prefixlen: int = self.data_size * 8
        # (prefixlen, bit string) -> (full key bytes, value)
        self.nodes: dict[tuple[int, str], tuple[bytes, bytes]] = {}

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
        """``trie_alloc``'s checks: BPF_F_NO_PREALLOC required, a u32 prefix length plus
        1-256 data bytes, values up to ``LPM_VAL_SIZE_MAX``.  Cost: O(1)."""
        if (
            max_entries == 0
            or not flags & F_NO_PREALLOC
            or flags & ~LPM_CREATE_FLAG_MASK
            or not access_ok(flags)
            or key_size < LPM_KEY_SIZE_MIN
            or key_size > LPM_KEY_SIZE_MAX
            or value_size < 1
            or value_size > LPM_VAL_SIZE_MAX
        ):
            return -EINVAL
        return 0

    def count(self) -> int:
        return len(self.nodes)

    def _bits(self, key: bytes, n: int) -> str:
        v = int.from_bytes(key[4 : 4 + self.data_size], "big")
        return format(v, f"0{self.max_prefixlen}b")[:n] if n else ""

    @staticmethod
    def _plen(key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def _ident(self, key: bytes) -> tuple[int, str]:
        pl = self._plen(key)
        return pl, self._bits(key, pl)

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        assert key is not None
        pl = self._plen(key)
        if pl > self.max_prefixlen:
            return -ENOENT, None
        bits = self._bits(key, pl)
        for n in range(pl, -1, -1):
            hit = self.nodes.get((n, bits[:n]))
            if hit is not None:
                return 0, hit[1]
        return -ENOENT, None

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
        if flags > BPF_EXIST:
            return -EINVAL
        pl = self._plen(key)
        if pl > self.max_prefixlen:
            return -EINVAL
        ident = (pl, self._bits(key, pl))
        if ident in self.nodes:
            if flags == BPF_NOEXIST:
                return -EEXIST
        else:
            if flags == BPF_EXIST:
                return -ENOENT
            if len(self.nodes) >= self.max_entries:
                return -ENOSPC
        self.nodes[ident] = (bytes(key), value)
        return 0

    def delete(self, key: Optional[bytes]) -> int:
        assert key is not None
        pl = self._plen(key)
        if pl > self.max_prefixlen:
            return -EINVAL
        if self.nodes.pop((pl, self._bits(key, pl)), None) is None:
            return -ENOENT
        return 0

    def _order(self) -> list[tuple[int, str]]:
        return sorted(self.nodes, key=lambda ident: ident[1] + "2")

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        order = self._order()
        if not order:
            return -ENOENT, None
        if key is not None and self._plen(key) <= self.max_prefixlen:
            ident = self._ident(key)
            if ident in self.nodes:
                i = order.index(ident)
                if i + 1 >= len(order):
                    return -ENOENT, None
                return 0, self.nodes[order[i + 1]][0]
        return 0, self.nodes[order[0]][0]

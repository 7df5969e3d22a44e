"""The fake kernel's map types by ``MapType``: :data:`MAP_CLASSES`.

The one module that knows every family; nothing in this package imports it (the
families import only :mod:`.base`, :mod:`.limits` and the family they extend), so
the registry sits on top.  Pure data: no cost beyond importing the families.
"""

from __future__ import annotations

from ...types import MapType
from .arraymap import ArrayMap
from .base import FakeMap
from .bloom import BloomFilter
from .fd_maps import ArrayOfMaps, HashOfMaps, ProgArray
from .hashtab import HashMap, PercpuHashMap
from .lpm_trie import LpmTrie
from .lru import LruHashMap
from .queue_stack import QueueStack
from .ringbuf import FakeRingBuf

__all__ = ["MAP_CLASSES"]

#: the map types the fake implements; other valid types get EINVAL at MAP_CREATE, as
#: from a kernel built without them
MAP_CLASSES: dict[int, type[FakeMap]] = {
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: PercpuHashMap,
    MapType.LRU_HASH: LruHashMap,
    MapType.LRU_PERCPU_HASH: LruHashMap,
    MapType.HASH_OF_MAPS: HashOfMaps,
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.PROG_ARRAY: ProgArray,
    MapType.ARRAY_OF_MAPS: ArrayOfMaps,
    MapType.LPM_TRIE: LpmTrie,
    MapType.QUEUE: QueueStack,
    MapType.STACK: QueueStack,
    MapType.RINGBUF: FakeRingBuf,
    MapType.BLOOM_FILTER: BloomFilter,
}

"""The fake kernel's map types, one module per kernel family.

=================  ==========================================================
module             map types
=================  ==========================================================
``hashtab``        hash, percpu_hash
``lru``            lru_hash, lru_percpu_hash
``arraymap``       array, percpu_array (mmap'able arrays too)
``fd_maps``        hash_of_maps, array_of_maps, prog_array (values are fds)
``lpm_trie``       lpm_trie
``queue_stack``    queue, stack
``ringbuf``        ringbuf
``bloom``          bloom_filter
=================  ==========================================================

:data:`MAP_CLASSES` (built in ``registry``, the one module that imports every family)
maps each implemented type to its class; each class checks its own creation
arguments (``alloc_check``).  ``base`` holds the shared pieces
(:class:`~.base.FakeMap`, :class:`~.base.MapEnv`, the flag bits) and ``limits`` the
allocator limits.  Nothing here knows the fake kernel: see :mod:`.base`.
"""

from __future__ import annotations

from .arraymap import ArrayMap
from .base import FakeMap, FakeObject, FakeProg, FdRefs, MapEnv
from .bloom import BloomFilter
from .fd_maps import ArrayOfMaps, FdArrayMap, HashOfMaps, MapMeta, ProgArray
from .hashtab import HashMap, PercpuHashMap
from .lpm_trie import LpmTrie
from .lru import LruHashMap
from .queue_stack import QueueStack
from .registry import MAP_CLASSES
from .ringbuf import FakeRing, FakeRingBuf, FakeRingRecord

__all__ = [
    "MAP_CLASSES",
    "ArrayMap",
    "ArrayOfMaps",
    "BloomFilter",
    "FakeMap",
    "FakeObject",
    "FakeProg",
    "FakeRing",
    "FakeRingBuf",
    "FakeRingRecord",
    "FdArrayMap",
    "FdRefs",
    "HashMap",
    "HashOfMaps",
    "LpmTrie",
    "LruHashMap",
    "MapEnv",
    "MapMeta",
    "PercpuHashMap",
    "ProgArray",
    "QueueStack",
]

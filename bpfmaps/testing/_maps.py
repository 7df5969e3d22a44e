"""In-memory map types of the fake kernel.

Each class reproduces one family of ``kernel/bpf/*.c`` map ops at the level user
space can observe: results, errnos, ``GET_NEXT_KEY`` order and batch chunking.
The syscall-level checks (fd, permissions, flags common to all maps) live in
:mod:`bpfmaps.testing.fake`; the methods here receive keys and values of exactly
the map's key size / value-buffer size and return ``0``/``-errno``.

Verified behaviour is exercised against the real kernel by tests/contract.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Optional

from ..errors import ENOTSUPP
from ..types import MapType, round_up8
from ._jhash import jhash

if TYPE_CHECKING:  # pragma: no cover
    from .fake import FakeKernel

EPERM, ENOENT, E2BIG, EBADF, ENOMEM = (
    errno.EPERM,
    errno.ENOENT,
    errno.E2BIG,
    errno.EBADF,
    errno.ENOMEM,
)
EEXIST, EINVAL, ENOSPC = errno.EEXIST, errno.EINVAL, errno.ENOSPC

BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 0, 1, 2, 4

# map_flags
F_NO_PREALLOC = 1 << 0
F_NO_COMMON_LRU = 1 << 1
F_NUMA_NODE = 1 << 2
F_RDONLY = 1 << 3
F_WRONLY = 1 << 4
F_ZERO_SEED = 1 << 6
F_RDONLY_PROG = 1 << 7
F_WRONLY_PROG = 1 << 8
F_MMAPABLE = 1 << 10
F_PRESERVE_ELEMS = 1 << 11
F_INNER_MAP = 1 << 12
F_ACCESS_MASK = F_RDONLY | F_RDONLY_PROG | F_WRONLY | F_WRONLY_PROG

HTAB_CREATE_FLAG_MASK = F_NO_PREALLOC | F_NO_COMMON_LRU | F_NUMA_NODE | F_ACCESS_MASK | F_ZERO_SEED
ARRAY_CREATE_FLAG_MASK = F_NUMA_NODE | F_MMAPABLE | F_ACCESS_MASK | F_PRESERVE_ELEMS | F_INNER_MAP
LPM_CREATE_FLAG_MASK = F_NO_PREALLOC | F_ACCESS_MASK | F_NUMA_NODE
QUEUE_STACK_CREATE_FLAG_MASK = F_NUMA_NODE | F_ACCESS_MASK

KMALLOC_MAX_SIZE = 1 << 22  # 4 MiB with 4 KiB pages and MAX_PAGE_ORDER 10
PCPU_MIN_UNIT_SIZE = 32 << 10
#: sizeof(struct htab_elem) on x86-64: key_size + value_size >= KMALLOC_MAX_SIZE - 48 is E2BIG
HTAB_ELEM_SIZE = 48
#: array_map_alloc_check: value_size above INT_MAX is E2BIG (arrays are vmalloc'ed, so
#: values far above KMALLOC_MAX_SIZE are fine; per-CPU arrays are bound by the unit size)
ARRAY_VALUE_SIZE_MAX = (1 << 31) - 1
#: sizeof(struct lpm_trie_node) as measured on Linux 6.18 (kernels whose node still has an
#: rcu_head allow 24 bytes less)
LPM_NODE_SIZE = 24
LPM_DATA_SIZE_MAX = 256
LPM_KEY_SIZE_MIN = 4 + 1
LPM_KEY_SIZE_MAX = 4 + LPM_DATA_SIZE_MAX
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - LPM_NODE_SIZE
LRU_LOCAL_FREE_TARGET = 128
LRU_PERCPU_FREE_TARGET = 4


def access_ok(flags: int) -> bool:
    """``bpf_map_flags_access_ok``: RDONLY_PROG and WRONLY_PROG are exclusive."""
    both = F_RDONLY_PROG | F_WRONLY_PROG
    return (flags & both) != both


def roundup_pow_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


class FakeProg:
    """A loaded program: only its identity matters to maps (prog arrays hold them)."""

    kind = "prog"

    def __init__(self, prog_id: int, prog_type: int, name: str) -> None:
        self.id = prog_id
        self.type = prog_type
        self.name = name
        self.refs = 0


class FakeMap:
    """Base class: the object behind a map fd (``struct bpf_map``)."""

    kind = "map"
    #: which batch commands exist for this type: "htab", "generic" or None
    lookup_batch_kind: Optional[str] = None
    has_update_batch = False
    has_delete_batch = False
    has_lookup_and_delete = False
    #: values are fds on write and object ids on read
    fd_values = False

    def __init__(
        self,
        fk: FakeKernel,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        name: str,
        map_extra: int = 0,
    ) -> None:
        self.fk = fk
        self.type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.map_extra = map_extra
        self.id = 0
        self.refs = 0
        self.frozen = False
        self.inner_meta: Optional[FakeMap] = None  # template of map-in-map

    # -- sizes -------------------------------------------------------------------
    @property
    def percpu(self) -> bool:
        return False

    @property
    def value_buf_size(self) -> int:
        """``bpf_map_value_size``: what user space reads and writes per element."""
        if self.percpu:
            return round_up8(self.value_size) * self.fk.ncpus
        return self.value_size

    # -- element ops (override) -------------------------------------------------
    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -EINVAL, None

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        return -EINVAL

    def delete(self, key: Optional[bytes]) -> int:
        return -EINVAL

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -EINVAL, None

    def lookup_and_delete(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -ENOTSUPP, None

    def count(self) -> int:
        """Number of elements (for tests and ``repr``)."""
        return 0

    def release(self) -> None:
        """The map is being freed: drop references its values hold."""

    # -- helpers -----------------------------------------------------------------
    def _fd_value(self, value: bytes) -> tuple[int, Any]:
        """Resolve a fd written as a value to the object it names (``map_fd_get_ptr``)."""
        return -EINVAL, None

    def _read_fd_value(self, obj: Any) -> bytes:
        return obj.id.to_bytes(4, "little")

    def __repr__(self) -> str:
        try:
            t = MapType(self.type).name.lower()
        except ValueError:
            t = str(self.type)
        return f"<FakeMap id={self.id} {t} {self.name!r} {self.count()}/{self.max_entries}>"


# ---------------------------------------------------------------------------------------------
# hash family


class HashMap(FakeMap):
    """hash, percpu_hash and hash_of_maps (``kernel/bpf/hashtab.c``).

    Keys live in ``n_buckets = roundup_pow_of_two(max_entries)`` buckets chosen with the
    kernel's jhash; each bucket lists its keys newest first, like the kernel's hlist.
    With ``BPF_F_ZERO_SEED`` the kernel's seed is 0 too, so iteration order and batch
    chunking are identical to the kernel's; otherwise the fake's seed is its own.
    """

    lookup_batch_kind = "htab"
    has_update_batch = True
    has_delete_batch = True
    has_lookup_and_delete = True
    in_place_update = False

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.hashrnd = 0 if self.flags & F_ZERO_SEED else self.fk._rng.getrandbits(32)
        self.n_buckets = roundup_pow_of_two(self.max_entries)
        self.buckets: list[list[bytes]] = [[] for _ in range(self.n_buckets)]
        self.data: dict[bytes, Any] = {}

    @property
    def percpu(self) -> bool:
        return self.type in (MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)

    def bucket_of(self, key: bytes) -> int:
        return jhash(key, self.hashrnd) & (self.n_buckets - 1)

    def count(self) -> int:
        return len(self.data)

    def _read(self, key: bytes) -> bytes:
        v = self.data[key]
        return self._read_fd_value(v) if self.fd_values else v

    def lookup(self, key):
        if key not in self.data:
            return -ENOENT, None
        return 0, self._read(key)

    def _insert_head(self, key: bytes) -> None:
        b = self.buckets[self.bucket_of(key)]
        if key in self.data:
            b.remove(key)
        b.insert(0, key)

    def _remove(self, key: bytes) -> Any:
        self.buckets[self.bucket_of(key)].remove(key)
        v = self.data.pop(key)
        if self.fd_values:
            self.fk._put(v)
        return v

    def update(self, key, value, flags):
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

    def delete(self, key):
        if key not in self.data:
            return -ENOENT
        self._remove(key)
        return 0

    def lookup_and_delete(self, key):
        if key not in self.data:
            return -ENOENT, None
        v = self._read(key)
        self._remove(key)
        return 0, v

    def next_key(self, key):
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
        if self.fd_values:
            for v in self.data.values():
                self.fk._put(v)
        self.data.clear()


class PercpuHashMap(HashMap):
    in_place_update = True


class HashOfMaps(HashMap):
    """hash_of_maps: values are inner-map fds on write, inner-map ids on read (in place)."""

    fd_values = True
    has_lookup_and_delete = False
    in_place_update = True

    def update(self, key, value, flags):
        # bpf_fd_htab_map_update_elem resolves the fd before any flag check
        rc, obj = self.fk._map_fd_get_ptr(self, value)
        if rc:
            return rc
        old = self.data.get(key)
        rc = HashMap.update(self, key, obj, flags)
        if rc:
            self.fk._put(obj)
        elif old is not None:
            self.fk._put(old)
        return rc


class LruHashMap(HashMap):
    """lru_hash and lru_percpu_hash (``hashtab.c`` + ``bpf_lru_list.c``).

    The fake models the kernel's LRU bookkeeping as seen from one CPU (CPU 0):
    free nodes move from the global free list to the CPU's local list
    ``target_free`` at a time (``clamp(max_entries / possible_cpus / 2, 1, 128)``);
    new nodes wait on the CPU's pending list and join the global inactive/active
    lists at the next refill; when the global free list runs dry the refill evicts
    from the inactive tail, giving referenced nodes a second chance (a node is
    referenced when its key was replaced by an update; per-CPU LRU maps mark in-place
    updates).  With ``BPF_F_NO_COMMON_LRU`` each CPU owns ``max_entries /
    possible_cpus`` nodes and evicts 4 at a time.  A process staying on one CPU sees
    the same evictions from the kernel (tests/contract pins itself to check this);
    one migrating between CPUs sees different but equally valid ones.
    """

    NR_SCANS = 128

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        ncpus = self.fk.ncpus
        self.percpu_lru = bool(self.flags & F_NO_COMMON_LRU)
        # lists as Python lists: index 0 is the tail (oldest), append() adds at the head
        self.inactive: list[bytes] = []
        self.active: list[bytes] = []
        self.pending: list[bytes] = []
        self.ref: dict[bytes, bool] = {}
        if self.percpu_lru:
            self.global_free = 0
            self.local_free = self.max_entries // ncpus
            self.target_free = LRU_PERCPU_FREE_TARGET
            self.nr_scans = LRU_PERCPU_FREE_TARGET
        else:
            self.global_free = self.max_entries
            self.local_free = 0
            self.target_free = min(max(self.max_entries // ncpus // 2, 1), LRU_LOCAL_FREE_TARGET)
            self.nr_scans = self.NR_SCANS
        self.evictions = 0

    # -- list plumbing ---------------------------------------------------------------
    def _where(self, key: bytes) -> list[bytes]:
        for lst in (self.pending, self.inactive, self.active):
            if key in lst:
                return lst
        raise KeyError(key)

    def _unlink(self, key: bytes) -> list[bytes]:
        lst = self._where(key)
        lst.remove(key)
        return lst

    def _rotate(self) -> None:
        if len(self.inactive) < len(self.active):  # inactive list low
            for key in list(self.active)[: self.nr_scans]:
                self.active.remove(key)
                if self.ref.get(key):
                    self.ref[key] = False
                    self.active.append(key)
                else:
                    self.inactive.append(key)
        for key in list(self.inactive)[: self.nr_scans]:
            if self.ref.get(key):
                self.inactive.remove(key)
                self.ref[key] = False
                self.active.append(key)

    def _flush(self) -> None:
        """``__local_list_flush``: pending nodes join the global lists, oldest first;
        referenced ones go to the active list and lose the mark (measured on 6.18)."""
        for key in self.pending:
            if self.ref.get(key):
                self.ref[key] = False
                self.active.append(key)
            else:
                self.inactive.append(key)
        self.pending.clear()

    def _shrink(self, n: int) -> int:
        done = 0
        for key in list(self.inactive)[: self.nr_scans]:
            if done >= n:
                break
            if self.ref.get(key):
                self.inactive.remove(key)
                self.ref[key] = False
                self.active.append(key)
            else:
                self._evict(key)
                done += 1
        if done == 0:
            victims = self.inactive or self.active
            if victims:
                self._evict(victims[0])
                done = 1
        self.evictions += done
        return done

    def _evict(self, key: bytes) -> None:
        """The node of ``key`` leaves the map and lands on this CPU's local free list."""
        self._unlink(key)
        self.ref.pop(key, None)
        HashMap._remove(self, key)
        self.local_free += 1

    def _pop_free(self) -> bool:
        if self.percpu_lru:
            self._rotate()  # bpf_percpu_lru_pop_free rotates on every pop
        if self.local_free == 0:
            if self.percpu_lru:
                self._shrink(self.target_free)
            else:
                self._flush()
                self._rotate()
                moved = min(self.target_free, self.global_free)
                self.global_free -= moved
                self.local_free += moved
                if moved < self.target_free:
                    self._shrink(self.target_free - moved)
        if self.local_free == 0:
            return False
        self.local_free -= 1
        return True

    def _free_node_of(self, key: bytes) -> None:
        """``bpf_lru_push_free`` for the node currently holding ``key``."""
        lst = self._unlink(key)
        self.ref.pop(key, None)
        if self.percpu_lru or lst is self.pending:
            self.local_free += 1
        else:
            self.global_free += 1

    def _attach_new(self, key: bytes, referenced: bool) -> None:
        if self.percpu_lru:
            self.inactive.append(key)
        else:
            self.pending.append(key)
        self.ref[key] = referenced

    # -- ops ---------------------------------------------------------------------------
    def update(self, key, value, flags):
        if flags > BPF_EXIST:
            return -EINVAL
        if self.percpu:
            return self._update_percpu(key, value, flags)
        if not self._pop_free():
            return -ENOMEM
        exists = key in self.data
        if (exists and flags == BPF_NOEXIST) or (not exists and flags == BPF_EXIST):
            self.local_free += 1  # the new node was pending: back to the local free list
            return -EEXIST if exists else -ENOENT
        if exists:
            self._free_node_of(key)
        self._insert_head(key)
        self.data[key] = value
        self._attach_new(key, referenced=exists)
        return 0

    def _update_percpu(self, key: bytes, value: bytes, flags: int) -> int:
        popped = False
        if flags != BPF_EXIST:
            if not self._pop_free():
                return -ENOMEM
            popped = True
        exists = key in self.data
        if (exists and flags == BPF_NOEXIST) or (not exists and flags == BPF_EXIST):
            if popped:
                self.local_free += 1
            return -EEXIST if exists else -ENOENT
        if exists:
            self.data[key] = value  # in place; marks the node referenced
            self.ref[key] = True
            if popped:
                self.local_free += 1
            return 0
        self._insert_head(key)
        self.data[key] = value
        self._attach_new(key, referenced=False)
        return 0

    def _remove(self, key: bytes) -> Any:
        self._free_node_of(key)
        return HashMap._remove(self, key)


# ---------------------------------------------------------------------------------------------
# array family


class ArrayMap(FakeMap):
    """array and percpu_array (``kernel/bpf/arraymap.c``): zero-filled, every index exists."""

    lookup_batch_kind = "generic"
    has_update_batch = True

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.data: dict[int, Any] = {}  # sparse: missing index = zeroes

    @property
    def percpu(self) -> bool:
        return self.type == MapType.PERCPU_ARRAY

    def count(self) -> int:
        return self.max_entries

    @staticmethod
    def index(key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def lookup(self, key):
        i = self.index(key)
        if i >= self.max_entries:
            return -ENOENT, None
        return 0, self.data.get(i, bytes(self.value_buf_size))

    def update(self, key, value, flags):
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

    def delete(self, key):
        return -EINVAL

    def next_key(self, key):
        if key is None:
            return 0, (0).to_bytes(4, "little")
        i = self.index(key)
        if i >= self.max_entries:
            return 0, (0).to_bytes(4, "little")
        if i == self.max_entries - 1:
            return -ENOENT, None
        return 0, (i + 1).to_bytes(4, "little")


class FdArrayMap(ArrayMap):
    """prog_array and array_of_maps: slots hold objects; write a fd, read an id."""

    fd_values = True

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.owner_prog_type: Optional[int] = None
        if self.type == MapType.PROG_ARRAY:
            self.lookup_batch_kind = None
            self.has_update_batch = False

    def count(self) -> int:
        return len(self.data)

    def lookup(self, key):
        i = self.index(key)
        if i >= self.max_entries or i not in self.data:
            return -ENOENT, None
        return 0, self._read_fd_value(self.data[i])

    def update(self, key, value, flags):
        if flags != BPF_ANY:
            return -EINVAL
        i = self.index(key)
        if i >= self.max_entries:
            return -E2BIG
        if self.type == MapType.PROG_ARRAY:
            rc, obj = self.fk._prog_fd_get_ptr(self, value)
        else:
            rc, obj = self.fk._map_fd_get_ptr(self, value)
        if rc:
            return rc
        old = self.data.get(i)
        self.data[i] = obj
        if old is not None:
            self.fk._put(old)
        return 0

    def delete(self, key):
        i = self.index(key)
        if i >= self.max_entries:
            return -E2BIG
        if i not in self.data:
            return -ENOENT
        self.fk._put(self.data.pop(i))
        return 0

    def release(self) -> None:
        for v in self.data.values():
            self.fk._put(v)
        self.data.clear()


# ---------------------------------------------------------------------------------------------
# LPM trie


class LpmTrie(FakeMap):
    """lpm_trie (``kernel/bpf/lpm_trie.c``).

    Key = native-endian u32 prefix length + data bytes (most significant bit first).
    Entries are identified by (prefixlen, first prefixlen bits); an update stores the
    whole data of the key written last.  ``GET_NEXT_KEY`` walks the trie in post-order
    (children before parents, the 0-branch before the 1-branch), as the kernel does.
    """

    lookup_batch_kind = "generic"
    has_update_batch = True
    has_delete_batch = True

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.data_size = self.key_size - 4
        self.max_prefixlen = self.data_size * 8
        # (prefixlen, bit string) -> (full key bytes, value)
        self.nodes: dict[tuple[int, str], tuple[bytes, bytes]] = {}

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

    def lookup(self, key):
        pl = self._plen(key)
        if pl > self.max_prefixlen:
            return -ENOENT, None
        bits = self._bits(key, pl)
        for n in range(pl, -1, -1):
            hit = self.nodes.get((n, bits[:n]))
            if hit is not None:
                return 0, hit[1]
        return -ENOENT, None

    def update(self, key, value, flags):
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

    def delete(self, key):
        pl = self._plen(key)
        if pl > self.max_prefixlen:
            return -EINVAL
        if self.nodes.pop((pl, self._bits(key, pl)), None) is None:
            return -ENOENT
        return 0

    def _order(self) -> list[tuple[int, str]]:
        return sorted(self.nodes, key=lambda ident: ident[1] + "2")

    def next_key(self, key):
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


# ---------------------------------------------------------------------------------------------
# queue / stack


class QueueStack(FakeMap):
    """queue and stack (``kernel/bpf/queue_stack_maps.c``): keyless, bounded."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.items: list[bytes] = []  # oldest first

    def count(self) -> int:
        return len(self.items)

    def _top(self) -> int:
        return 0 if self.type == MapType.QUEUE else -1

    def lookup(self, key):  # peek
        if not self.items:
            return -ENOENT, None
        return 0, self.items[self._top()]

    def update(self, key, value, flags):  # push
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return -EINVAL
        if len(self.items) >= self.max_entries:
            if not flags & BPF_EXIST:
                return -E2BIG
            self.items.pop(0)  # overwrite the oldest element
        self.items.append(value)
        return 0

    def lookup_and_delete(self, key):  # pop
        if not self.items:
            return -ENOENT, None
        return 0, self.items.pop(self._top())


MAP_CLASSES: dict[int, type[FakeMap]] = {
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: PercpuHashMap,
    MapType.LRU_HASH: LruHashMap,
    MapType.LRU_PERCPU_HASH: LruHashMap,
    MapType.HASH_OF_MAPS: HashOfMaps,
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.PROG_ARRAY: FdArrayMap,
    MapType.ARRAY_OF_MAPS: FdArrayMap,
    MapType.LPM_TRIE: LpmTrie,
    MapType.QUEUE: QueueStack,
    MapType.STACK: QueueStack,
}
HASH_TYPES = frozenset(
    {
        MapType.HASH,
        MapType.PERCPU_HASH,
        MapType.LRU_HASH,
        MapType.LRU_PERCPU_HASH,
        MapType.HASH_OF_MAPS,
    }
)
ARRAY_LIKE = frozenset(
    {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS}
)


def create_check(
    map_type: int, key_size: int, value_size: int, max_entries: int, flags: int, ncpus: int
) -> int:
    """The per-type ``map_alloc_check`` of the kernel: 0 or -errno."""
    numa = bool(flags & F_NUMA_NODE)
    if map_type in HASH_TYPES:
        percpu = map_type in (MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)
        lru = map_type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH)
        if map_type == MapType.HASH_OF_MAPS and value_size != 4:
            return -EINVAL
        if flags & ~HTAB_CREATE_FLAG_MASK or not access_ok(flags):
            return -EINVAL
        if not lru and flags & F_NO_COMMON_LRU:
            return -EINVAL
        if lru and flags & F_NO_PREALLOC:
            return -ENOTSUPP
        if numa and (percpu or flags & F_NO_COMMON_LRU):
            return -EINVAL
        if max_entries == 0 or key_size == 0 or value_size == 0:
            return -EINVAL
        if key_size + value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE:
            return -E2BIG
        if percpu and round_up8(value_size) > PCPU_MIN_UNIT_SIZE:
            return -E2BIG
        return 0
    if map_type in ARRAY_LIKE:
        percpu = map_type == MapType.PERCPU_ARRAY
        if map_type in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS):
            if value_size != 4:
                return -EINVAL
            if flags & (F_RDONLY_PROG | F_WRONLY_PROG):
                return -EINVAL
        if (
            max_entries == 0
            or key_size != 4
            or value_size == 0
            or flags & ~ARRAY_CREATE_FLAG_MASK
            or not access_ok(flags)
            or (percpu and numa)
        ):
            return -EINVAL
        if map_type != MapType.ARRAY and flags & (F_MMAPABLE | F_INNER_MAP):
            return -EINVAL
        if flags & F_PRESERVE_ELEMS:
            return -EINVAL
        if value_size > ARRAY_VALUE_SIZE_MAX:
            return -E2BIG
        if percpu and round_up8(value_size) > PCPU_MIN_UNIT_SIZE:
            return -E2BIG
        return 0
    if map_type == MapType.LPM_TRIE:
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
    if map_type in (MapType.QUEUE, MapType.STACK):
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
    if map_type == MapType.RINGBUF:
        from ._ringbuf import create_check as ringbuf_check

        return ringbuf_check(key_size, value_size, max_entries, flags)
    return -EINVAL

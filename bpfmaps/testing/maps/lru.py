"""lru_hash and lru_percpu_hash (``kernel/bpf/hashtab.c`` + ``bpf_lru_list.c``): the
hash table of :mod:`.hashtab` with the kernel's LRU bookkeeping."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from .base import BPF_EXIST, BPF_NOEXIST, EEXIST, EINVAL, ENOENT, ENOMEM, F_NO_COMMON_LRU, MapEnv
from .hashtab import HashMap
from .limits import LRU_LOCAL_FREE_TARGET, LRU_PERCPU_FREE_TARGET

__all__ = ["LruHashMap"]


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

    NR_SCANS: ClassVar[int] = 128

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        ncpus = self.ncpus
        self.percpu_lru: bool = bool(self.flags & F_NO_COMMON_LRU)
        # lists as Python lists: index 0 is the tail (oldest), append() adds at the head
        self.inactive: list[bytes] = []
        self.active: list[bytes] = []
        self.pending: list[bytes] = []
        self.ref: dict[bytes, bool] = {}
        self.global_free: int
        self.local_free: int
        self.target_free: int
        self.nr_scans: int
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
        self.evictions: int = 0

    @classmethod
    def effective_max_entries(cls, max_entries: int, flags: int, ncpus: int) -> int:
        """With ``BPF_F_NO_COMMON_LRU`` the kernel rounds max_entries up to a multiple of
        the possible CPUs (down when that overflows a u32).  Cost: O(1)."""
        if not flags & F_NO_COMMON_LRU:
            return max_entries
        max_e = -(-max_entries // ncpus) * ncpus
        if max_e >= 2**32:
            max_e = max_entries // ncpus * ncpus
        return max_e

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
        HashMap.remove(self, key)
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
    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
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

    def remove(self, key: bytes) -> Any:
        self._free_node_of(key)
        return HashMap.remove(self, key)

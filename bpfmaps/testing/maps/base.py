"""The objects behind fake fds, and the base class of the fake map types.

Each map class reproduces one family of ``kernel/bpf/*.c`` map ops at the level user
space can observe: results, errnos, ``GET_NEXT_KEY`` order and batch chunking.  The
syscall-level checks (fd, permissions, flags common to all maps) live in the fake
kernel's command modules; the map methods receive keys and values of exactly the
map's key size / value-buffer size and return ``0``/``-errno``.

A map knows nothing of the kernel that created it.  What it needs from outside comes
in at creation as a :class:`MapEnv`: the number of possible CPUs, the random source of
hash seeds and, for maps whose values are fds, an :class:`FdRefs` (take and drop
references on the objects those fds name).  Each class checks its own creation
arguments (:meth:`FakeMap.alloc_check`, the kernel's ``map_alloc_check``).

Verified behaviour is exercised against the real kernel by tests/contract.
"""

from __future__ import annotations

import errno
import random
from typing import Any, Callable, ClassVar, NamedTuple, Optional, Protocol

from ...errors import ENOTSUPP
from ...types import MapFlags, MapType, round_up8
from .limits import PCPU_MIN_UNIT_SIZE

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_LOCK",
    "BPF_NOEXIST",
    "FakeMap",
    "FakeObject",
    "FakeProg",
    "FdRefs",
    "MapEnv",
    "access_ok",
    "percpu_value_fits",
    "roundup_pow_of_two",
]

EPERM, ENOENT, E2BIG, EBADF, ENOMEM = (
    errno.EPERM,
    errno.ENOENT,
    errno.E2BIG,
    errno.EBADF,
    errno.ENOMEM,
)
EEXIST, EINVAL, ENOSPC = errno.EEXIST, errno.EINVAL, errno.ENOSPC

#: element flags of UPDATE_ELEM / LOOKUP_ELEM
BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 0, 1, 2, 4

#: map_flags (MapFlags as plain ints: the checks below do bit arithmetic on them)
F_NO_PREALLOC = int(MapFlags.NO_PREALLOC)
F_NO_COMMON_LRU = int(MapFlags.NO_COMMON_LRU)
F_NUMA_NODE = int(MapFlags.NUMA_NODE)
F_RDONLY = int(MapFlags.RDONLY)
F_WRONLY = int(MapFlags.WRONLY)
F_ZERO_SEED = int(MapFlags.ZERO_SEED)
F_RDONLY_PROG = int(MapFlags.RDONLY_PROG)
F_WRONLY_PROG = int(MapFlags.WRONLY_PROG)
F_MMAPABLE = int(MapFlags.MMAPABLE)
F_PRESERVE_ELEMS = int(MapFlags.PRESERVE_ELEMS)
F_INNER_MAP = int(MapFlags.INNER_MAP)
F_ACCESS_MASK = F_RDONLY | F_RDONLY_PROG | F_WRONLY | F_WRONLY_PROG


def access_ok(flags: int) -> bool:
    """``bpf_map_flags_access_ok``: RDONLY_PROG and WRONLY_PROG are exclusive.  Cost: O(1)."""
    both = F_RDONLY_PROG | F_WRONLY_PROG
    return (flags & both) != both


def percpu_value_fits(value_size: int) -> bool:
    """A per-CPU value's slot, ``round_up(value_size, 8)``, fits one per-CPU unit
    (``PCPU_MIN_UNIT_SIZE``): the hash and array alloc checks give E2BIG otherwise.
    Cost: O(1)."""
    return round_up8(value_size) <= PCPU_MIN_UNIT_SIZE


def roundup_pow_of_two(n: int) -> int:
    """The kernel's ``roundup_pow_of_two`` (1 for n <= 1).  Cost: O(1)."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


class FakeObject:
    """What a fake fd can name (``struct bpf_map``, ``bpf_prog``, ``btf``): a kind, an
    id, and the count of references (fds, pins, map slots) that keep it alive."""

    kind: ClassVar[str] = "object"

    def __init__(self, obj_id: int = 0) -> None:
        self.id = obj_id
        self.refs = 0


class FakeProg(FakeObject):
    """A loaded program: only its identity matters to maps (prog arrays hold them).

    ``run``: the model :meth:`FakeKernel.prog_test_run` executes (see
    :meth:`FakeKernel.load_prog`); ``tag``: a stand-in for the kernel's tag."""

    kind: ClassVar[str] = "prog"

    def __init__(self, prog_id: int, prog_type: int, name: str) -> None:
        super().__init__(prog_id)
        self.type = prog_type
        self.name = name
        self.tag = b""
        self.run: Optional[Callable[[bytes], Any]] = None


class FdRefs(Protocol):
    """What maps whose values are fds (map-in-map, prog arrays) need from the fd
    table: the object a fd written as a value names (``-EBADF`` when none; no
    reference taken: the map checks the object, then counts its reference), and the
    release of a reference a slot held (``map_fd_put_ptr``)."""

    def resolve(self, value: bytes) -> tuple[int, Optional[FakeObject]]: ...
    def put(self, obj: FakeObject) -> None: ...


class MapEnv(NamedTuple):
    """What a map may use from its surroundings: possible CPUs (per-CPU value sizes,
    LRU lists), the random source of hash seeds, the fd table (fd-valued maps)."""

    ncpus: int
    rng: random.Random
    refs: Optional[FdRefs] = None


class FakeMap(FakeObject):
    """Base class: the object behind a map fd (``struct bpf_map``)."""

    kind: ClassVar[str] = "map"
    #: which LOOKUP_BATCH walk this type has: "htab", "generic" or None
    lookup_batch_kind: ClassVar[Optional[str]] = None
    has_update_batch: ClassVar[bool] = False
    has_delete_batch: ClassVar[bool] = False
    has_lookup_and_delete: ClassVar[bool] = False
    #: values are fds on write and object ids on read
    fd_values: ClassVar[bool] = False
    #: map-in-map: MAP_CREATE takes an inner map fd as the template
    needs_inner_map: ClassVar[bool] = False
    #: LOOKUP_ELEM takes the value to test from the value buffer (:meth:`peek_value`)
    lookup_reads_value: ClassVar[bool] = False

    def __init__(
        self,
        env: MapEnv,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        name: str,
        map_extra: int = 0,
    ) -> None:
        super().__init__()
        self.ncpus: int = env.ncpus
        self.type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.map_extra = map_extra
        self.frozen = False
        #: the inner-map template of a map-in-map (see maps.fd_maps.MapMeta)
        self.inner_meta: Optional[Any] = None
        #: the BTF object the map holds a reference to, and its type ids
        self.btf_obj: Optional[FakeObject] = None
        self.btf_key_type_id = 0
        self.btf_value_type_id = 0
        #: byte offset of the value's ``struct bpf_spin_lock`` (-1: none)
        self.spin_lock_off = -1

    # -- creation ----------------------------------------------------------------
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
        """This type's ``map_alloc_check`` (``map_extra`` for the types that take it):
        0 or -errno.  Cost: O(1)."""
        return -EINVAL

    @classmethod
    def effective_max_entries(cls, max_entries: int, flags: int, ncpus: int) -> int:
        """``max_entries`` as the created map reports it (LRU maps round it).  Cost: O(1)."""
        return max_entries

    # -- sizes -------------------------------------------------------------------
    @property
    def percpu(self) -> bool:
        """Values are per-CPU (one ``round_up8(value_size)`` slot per possible CPU)."""
        return False

    @property
    def value_buf_size(self) -> int:
        """``bpf_map_value_size``: what user space reads and writes per element."""
        if self.percpu:
            return round_up8(self.value_size) * self.ncpus
        return self.value_size

    def mask_lock(self, value: bytes) -> bytes:
        """The kernel never copies a value's ``bpf_spin_lock`` from user space: those
        four bytes stay 0.  Cost: one copy when the map has a lock, else none."""
        off = self.spin_lock_off
        if off < 0:
            return value
        return value[:off] + b"\0\0\0\0" + value[off + 4 :]

    # -- element ops (override) -------------------------------------------------
    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        """LOOKUP_ELEM (peek for queue/stack): (0, value) or (-errno, None)."""
        return -EINVAL, None

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        """UPDATE_ELEM (push for queue/stack): 0 or -errno."""
        return -EINVAL

    def delete(self, key: Optional[bytes]) -> int:
        """DELETE_ELEM: 0 or -errno."""
        return -EINVAL

    def next_key(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        """GET_NEXT_KEY (None: the first key): (0, key) or (-ENOENT, None) after the last."""
        return -EINVAL, None

    def lookup_and_delete(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        """LOOKUP_AND_DELETE_ELEM (pop for queue/stack): (0, value) or (-errno, None)."""
        return -ENOTSUPP, None

    def peek_value(self, value: bytes) -> int:
        """LOOKUP_ELEM of a map that tests values (bloom filters): 0 or -errno."""
        return -EINVAL

    def count(self) -> int:
        """Number of elements (for tests and ``repr``)."""
        return 0

    def release(self) -> None:
        """The map is being freed: drop references its values hold."""

    def __repr__(self) -> str:
        try:
            t = MapType(self.type).name.lower()
        except ValueError:
            t = str(self.type)
        return f"<FakeMap id={self.id} {t} {self.name!r} {self.count()}/{self.max_entries}>"


def read_fd_value(obj: FakeObject) -> bytes:
    """What a read of an fd-valued slot returns: the object's id as a u32."""
    return obj.id.to_bytes(4, "little")


__all__ += ["read_fd_value"]

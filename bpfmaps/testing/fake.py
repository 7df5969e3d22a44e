"""FakeKernel: the Backend protocol over an in-memory model of the kernel's BPF maps.

It implements every method of :class:`bpfmaps.backend.Backend` with the kernel's
results, errnos and batch counts (verified by ``tests/contract`` against a real
kernel), plus what a kernel registry offers: fds, object ids, names, pins on a
virtual bpffs, read-only/write-only handles, freezing, programs for prog arrays.
It never raises for a condition the kernel reports with an errno; it raises
``ValueError`` only for caller bugs the real kernel would turn into out-of-bounds
memory accesses (a key or value buffer shorter than the map's sizes).

The kernel is assembled from one module per concern: :mod:`.fdtable` (fds, ids,
pins), :mod:`.faults` (injection), :mod:`.elements` and :mod:`.batch` (map
commands), :mod:`.progs`, :mod:`._btf`, and the map types in :mod:`.maps`.  This
module adds MAP_CREATE, map info, freeze, mmap and the ring-buffer test hooks.

Everything is O(1) per element except where noted (LPM ``GET_NEXT_KEY`` sorts the
prefixes: O(n log n); hash ``GET_NEXT_KEY`` scans one bucket).  Not thread-safe.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterable
from typing import Any, Optional

from ..errors import ENOTSUPP
from ..types import MapInfo, MapType, round_up8
from ._btf import BTFCommands
from .batch import BatchCommands
from .elements import Buffer
from .faults import Fault, FaultContext
from .fdtable import file_mode, obj_name
from .maps import MAP_CLASSES, ArrayMap, FakeMap, FakeRing, FakeRingBuf, FakeRingRecord, MapEnv
from .maps.base import F_NUMA_NODE, F_RDONLY, F_WRONLY
from .maps.fd_maps import MapMeta
from .progs import ProgCommands

__all__ = ["SUPPORTED_MAP_TYPES", "FakeKernel", "Fault", "FaultContext"]

EINVAL, EPERM = errno.EINVAL, errno.EPERM

#: Map types the fake implements; other valid types get EINVAL, as from a kernel
#: built without them.
SUPPORTED_MAP_TYPES = frozenset(MAP_CLASSES)
#: map types that take ``map_extra``
_EXTRA_TYPES = frozenset({MapType.BLOOM_FILTER, MapType.ARENA})


class FakeKernel(BatchCommands, ProgCommands, BTFCommands):
    """An in-memory kernel implementing the :class:`~bpfmaps.backend.Backend` protocol.

    ``FakeKernel(possible_cpus=2, batch_ops=True, bpffs=("/sys/fs/bpf",), fd_base=10000,
    seed=0)``:

    * ``possible_cpus``: per-CPU value buffers are ``possible_cpus * round_up(value_size, 8)``.
    * ``batch_ops=False`` emulates a kernel before 5.6: the four batch commands answer
      EINVAL (so code under test takes its per-element fallback path).
    * ``bpffs``: directories treated as bpffs mounts (see :meth:`mount_bpffs`).
    * ``fd_base``: fake fds are allocated from here (lowest free first, like the kernel).
    * ``seed``: seeds the per-map hash seed of maps created without ``BPF_F_ZERO_SEED``.

    Fake fds mean nothing to the real kernel: never pass them to ``os.close``.
    """

    name = "fake"
    NULL = None

    def __init__(
        self,
        possible_cpus: int = 2,
        *,
        batch_ops: bool = True,
        bpffs: Iterable[str] = ("/sys/fs/bpf",),
        fd_base: int = 10000,
        seed: int = 0,
    ) -> None:
        if possible_cpus < 1:
            raise ValueError("possible_cpus must be >= 1")
        super().__init__(bpffs=bpffs, fd_base=fd_base)
        self.ncpus = possible_cpus
        self.batch_ops = batch_ops
        self._rng = random.Random(seed)
        self._env = MapEnv(possible_cpus, self._rng, self)

    def __repr__(self) -> str:
        return (
            f"<FakeKernel cpus={self.ncpus} maps={len(self._maps)} progs={len(self._progs)} "
            f"fds={len(self._fds)} pins={len(self._pins)}>"
        )

    # -- resources --------------------------------------------------------------------
    def possible_cpus(self) -> int:
        """The number of possible CPUs this fake models."""
        return self.ncpus

    def alloc(self, size: int) -> bytearray:
        """An output buffer of ``size`` bytes (at least 1)."""
        return bytearray(max(size, 1))

    def tobytes(self, buf: Buffer, size: int, offset: int = 0) -> bytes:
        """``size`` bytes of ``buf`` from ``offset``.  Cost: one copy."""
        return bytes(memoryview(buf).cast("B")[offset : offset + size])

    # -- maps -------------------------------------------------------------------------
    def map_create(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        map_flags: int = 0,
        name: bytes = b"",
        inner_map_fd: int = -1,
        numa_node: int = 0,
        map_extra: int = 0,
        btf_fd: int = -1,
        btf_key_type_id: int = 0,
        btf_value_type_id: int = 0,
    ) -> int:
        """``BPF_MAP_CREATE``: a new fd, or -EINVAL/-E2BIG/-ENOTSUPP/-EBADF as the kernel
        (the common checks here, the type's own in its class's ``alloc_check``).  With
        ``btf_fd``: the key/value types are checked as ``map_check_btf`` does."""
        rc = self._fault("map_create", map_type=int(map_type), flags=int(map_flags))
        if rc:
            return rc
        map_type, map_flags = int(map_type), int(map_flags)
        try:
            MapType(map_type)
        except ValueError:
            return -EINVAL
        if map_type not in _EXTRA_TYPES and map_extra:
            return -EINVAL
        mode = file_mode(map_flags)
        if mode is None:
            return -EINVAL
        if map_flags & F_NUMA_NODE and numa_node != 0:  # one NUMA node
            return -EINVAL
        rc, sname = obj_name(name)
        if rc:
            return rc
        cls = MAP_CLASSES.get(map_type)
        if cls is None:
            return -EINVAL
        rc = cls.alloc_check(map_type, key_size, value_size, max_entries, map_flags, map_extra)
        if rc:
            return rc
        inner: Optional[FakeMap] = None
        if cls.needs_inner_map:
            # bpf_map_meta_alloc: the shim passes fd 0 when there is none; fd 0 is
            # open in any normal process and is not a map -> EINVAL
            if inner_map_fd is None or inner_map_fd <= 0:
                return -EINVAL
            rc, _f, inner = self._map_file(inner_map_fd)
            if rc or inner is None:
                return rc
            if inner.inner_meta is not None:
                return -EINVAL
            if inner.type == MapType.PROG_ARRAY:
                return -ENOTSUPP
        rc, btf_obj, lock_off = self._btf_for_create(
            map_type, key_size, value_size, max_entries, btf_fd, btf_key_type_id, btf_value_type_id
        )
        if rc:
            return rc
        max_e = cls.effective_max_entries(max_entries, map_flags, self.ncpus)
        permanent = map_flags & ~(F_RDONLY | F_WRONLY)
        m = cls(self._env, map_type, key_size, value_size, max_e, permanent, sname, map_extra)
        if inner is not None:
            m.inner_meta = MapMeta(inner)
        if btf_obj is not None:  # the map holds a reference to its BTF
            btf_obj.refs += 1
            m.btf_obj = btf_obj
            m.btf_key_type_id = btf_key_type_id
            m.btf_value_type_id = btf_value_type_id
            m.spin_lock_off = lock_off
        m.id = next(self._map_ids)
        self._maps[m.id] = m
        return self._install(m, *mode)

    def map_info(self, fd: int) -> tuple[int, Optional[MapInfo]]:
        """``BPF_OBJ_GET_INFO_BY_FD`` of a map: (0, info), -EBADFD, -EINVAL (no map)."""
        rc = self._fault("map_info", fd=fd)
        if rc:
            return rc, None
        if fd not in self._fds:
            return -errno.EBADFD, None  # OBJ_GET_INFO_BY_FD says EBADFD, not EBADF
        rc, _f, m = self._map_file(fd)
        if rc or m is None:
            return rc, None
        return 0, MapInfo.make(
            m.type,
            id=m.id,
            key_size=m.key_size,
            value_size=m.value_size,
            max_entries=m.max_entries,
            flags=m.flags,
            name=m.name,
            map_extra=m.map_extra,
            btf_id=m.btf_obj.id if m.btf_obj is not None else 0,
            btf_key_type_id=m.btf_key_type_id,
            btf_value_type_id=m.btf_value_type_id,
        )

    def map_fdinfo(self, fd: int) -> tuple[int, Optional[dict[str, str]]]:
        """/proc/self/fdinfo of a map fd, with the kernel's keys.  ``memlock`` is an
        estimate (the real figure depends on the map type's allocator): the element
        storage, ``max_entries * (round_up8(key_size) + value_buf_size + 32)``, plus
        one page."""
        rc = self._fault("map_fdinfo", fd=fd)
        if rc:
            return rc, None
        rc, f = self._file(fd)
        if rc or f is None:
            return rc, None
        m = f.obj
        if not isinstance(m, FakeMap):
            return -EINVAL, None
        flags = (0o2 if f.can_write and f.can_read else 0o1 if f.can_write else 0) | 0o2000000
        memlock = 4096 + m.max_entries * (round_up8(m.key_size) + m.value_buf_size + 32)
        return 0, {
            "pos": "0",
            "flags": f"{flags:08o}",
            "map_type": str(m.type),
            "key_size": str(m.key_size),
            "value_size": str(m.value_size),
            "max_entries": str(m.max_entries),
            "map_flags": hex(m.flags),
            "map_extra": hex(m.map_extra),
            "memlock": str(memlock),
            "map_id": str(m.id),
            "frozen": "1" if m.frozen else "0",
        }

    def map_freeze(self, fd: int) -> int:
        """``BPF_MAP_FREEZE``: later writes through any fd fail with EPERM."""
        rc = self._fault("map_freeze", fd=fd)
        if rc:
            return rc
        rc, m = self._open_map(fd, write=True)
        if m is None:
            return rc
        m.frozen = True
        return 0

    def map_mmap(self, fd: int, size: int) -> tuple[int, Any, bool]:
        """mmap of a BPF_F_MMAPABLE array: (rc, the map's pages, read-only?).  The
        first call moves the array's values into one shared anonymous mapping (every
        fd of the map sees the same bytes, as in the kernel); frozen maps and
        read-only fds map read-only.  Not modelled: EBUSY on freeze while mapped."""
        rc = self._fault("map_mmap", fd=fd)
        if rc:
            return rc, None, False
        rc, f, m = self._map_file(fd)
        if rc or f is None or m is None:
            return rc, None, False
        if not f.can_write:
            return -EINVAL, None, False  # the kernel refuses to map read-only fds
        if not isinstance(m, ArrayMap):
            return -errno.ENODEV, None, False
        return m.mmap_pages(size, m.frozen)

    # -- ring buffers (bpfmaps.RingBuffer) --------------------------------------------
    def _ring(self, map_or_fd: Any) -> FakeRingBuf:
        fd = map_or_fd.fileno() if hasattr(map_or_fd, "fileno") else int(map_or_fd)
        rc, _f, m = self._map_file(fd)
        if rc or not isinstance(m, FakeRingBuf):
            raise ValueError(f"{map_or_fd!r} is not a ringbuf map of this FakeKernel")
        return m

    def ringbuf_output(self, ring: Any, data: bytes, flags: int = 0) -> int:
        """What ``bpf_ringbuf_output(&ring, data, len, flags)`` does in a BPF program:
        0, or -EAGAIN when the record does not fit.  ``ring``: a Map or fd."""
        return self._ring(ring).output(bytes(data), flags)

    def ringbuf_reserve(self, ring: Any, size: int) -> Optional[FakeRingRecord]:
        """``bpf_ringbuf_reserve``: a record to fill (``rec.data``) and then
        ``submit()`` or ``discard()``, or None when it does not fit.  Until then it is
        busy: readers stop before it."""
        return self._ring(ring).reserve(int(size))

    def ringbuf_open(self, fd: int, size: int) -> FakeRing:
        """The reader of a ring (the kernel backend maps the ring's pages instead).
        OSError(EBADF/EINVAL) when ``fd`` is no ringbuf map."""
        rc, _f, m = self._map_file(fd)
        if rc:
            raise OSError(-rc, os.strerror(-rc))
        if not isinstance(m, FakeRingBuf):
            raise OSError(errno.EINVAL, "not a ringbuf map")
        return FakeRing(m)

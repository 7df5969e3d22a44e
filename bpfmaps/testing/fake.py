"""FakeKernel: the Backend protocol over an in-memory model of the kernel's BPF maps.

It implements every method of :class:`bpfmaps.backend.Backend` with the kernel's
results, errnos and batch counts (verified by ``tests/contract`` against a real
kernel), plus what a kernel registry offers: fds, object ids, names, pins on a
virtual bpffs, read-only/write-only handles, freezing, programs for prog arrays.
It never raises for a condition the kernel reports with an errno; it raises
``ValueError`` only for caller bugs the real kernel would turn into out-of-bounds
memory accesses (a key or value buffer shorter than the map's sizes).

Everything is O(1) per element except where noted (LPM ``GET_NEXT_KEY`` sorts the
prefixes: O(n log n); hash ``GET_NEXT_KEY`` scans one bucket).  Not thread-safe.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from ..types import MapInfo, MapType, ProgInfo, round_up8
from . import _maps as M
from . import _ringbuf  # noqa: F401  (registers the fake ringbuf map type)
from ._btf import BTFMixin
from ._maps import (
    BPF_F_LOCK,
    E2BIG,
    EBADF,
    EINVAL,
    ENOENT,
    ENOSPC,
    ENOTSUPP,
    EPERM,
    F_NUMA_NODE,
    F_RDONLY,
    F_WRONLY,
    FakeMap,
    FakeProg,
)

__all__ = ["FakeKernel", "Fault", "FaultContext"]

EACCES, EEXIST, EFAULT = errno.EACCES, errno.EEXIST, errno.EFAULT
OBJ_FLAG_MASK = F_RDONLY | F_WRONLY
BPF_MAXINSNS = 4096
#: prog types this fake accepts (BPF_PROG_TYPE_SOCKET_FILTER .. BPF_PROG_TYPE_NETFILTER)
MAX_PROG_TYPE = 32
#: bytes ``bpf_obj_name_cpy`` accepts: the kernel's isalnum() (ASCII plus Latin-1
#: letters 0xC0-0xFF except 0xD7 and 0xF7), '_' and '.'
_NAME_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") | (
    frozenset(range(0xC0, 0x100)) - {0xD7, 0xF7}
)

#: Map types the fake implements; other valid types get EINVAL, as from a kernel
#: built without them.
SUPPORTED_MAP_TYPES = frozenset(M.MAP_CLASSES)


@dataclass(frozen=True)
class FaultContext:
    """What a fault predicate sees: the Backend method and its element.

    ``op`` is the Backend method name (``"map_update_elem"``, ``"map_update_batch"``,
    ``"map_create"``, ...); ``index`` is the element index inside a batch command
    (0 for single-element commands); ``key``/``value`` are raw bytes or None.
    """

    op: str
    fd: Optional[int] = None
    map_id: Optional[int] = None
    map_type: Optional[int] = None
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    flags: int = 0
    index: int = 0


@dataclass
class Fault:
    """One injected fault: see :meth:`FakeKernel.inject`."""

    errno: int
    ops: Optional[frozenset[str]]
    remaining: Optional[int]
    when: Optional[Callable[[FaultContext], bool]]
    hits: int = 0

    def matches(self, ctx: FaultContext) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.ops is not None and ctx.op not in self.ops:
            return False
        return self.when is None or bool(self.when(ctx))


class _File:
    """An open fd: the object and the access mode of this handle."""

    __slots__ = ("obj", "can_read", "can_write")

    def __init__(self, obj: Any, can_read: bool = True, can_write: bool = True) -> None:
        self.obj = obj
        self.can_read = can_read
        self.can_write = can_write


def _file_mode(flags: int) -> Optional[tuple[bool, bool]]:
    """``bpf_get_file_flag``: (can_read, can_write), None when RDONLY and WRONLY are both set."""
    if flags & F_RDONLY and flags & F_WRONLY:
        return None
    return (not flags & F_WRONLY, not flags & F_RDONLY)


Buffer = Any


class FakeKernel(BTFMixin):
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
        self.ncpus = possible_cpus
        self.batch_ops = batch_ops
        self.fd_base = fd_base
        self._rng = random.Random(seed)
        self._fds: dict[int, _File] = {}
        self._maps: dict[int, FakeMap] = {}
        self._progs: dict[int, FakeProg] = {}
        self._map_ids = itertools.count(1)
        self._prog_ids = itertools.count(1)
        self._bpffs: set[str] = {os.path.normpath(p) for p in bpffs}
        self._dirs: set[str] = set()
        self._pins: dict[str, Any] = {}
        self._faults: list[Fault] = []
        #: operation name -> number of calls that reached a map (for tests)
        self.calls: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"<FakeKernel cpus={self.ncpus} maps={len(self._maps)} progs={len(self._progs)} "
            f"fds={len(self._fds)} pins={len(self._pins)}>"
        )

    # ==================================================================================
    # test helpers (not part of the Backend protocol)

    def open_fds(self) -> set[int]:
        """The fake fds currently open (for leak checks). O(fds)."""
        return set(self._fds)

    def map_ids(self) -> list[int]:
        """Ids of the maps alive in this fake kernel, ascending."""
        return sorted(self._maps)

    def map_object(self, map_id: int) -> FakeMap:
        """The internal map object with this id (KeyError if none): for white-box tests."""
        return self._maps[map_id]

    def pins(self) -> dict[str, int]:
        """Pinned paths -> object id."""
        return {p: o.id for p, o in self._pins.items()}

    def mount_bpffs(self, path: str) -> str:
        """Treat ``path`` as a bpffs mount point (it need not exist on disk)."""
        p = os.path.normpath(path)
        self._bpffs.add(p)
        return p

    def mkdir(self, path: str) -> int:
        """``mkdir`` inside a virtual bpffs: 0, -ENOENT (no parent), -EEXIST, -EPERM (not bpffs)."""
        p = os.path.normpath(path)
        if not self.is_bpffs(os.path.dirname(p)):
            return -EPERM
        if not self._dir_exists(os.path.dirname(p)):
            return -ENOENT
        if p in self._dirs or p in self._pins or p in self._bpffs:
            return -EEXIST
        self._dirs.add(p)
        return 0

    def unlink(self, path: str) -> int:
        """Remove a pin (``rm /sys/fs/bpf/x``): 0 or -ENOENT.  The object is freed when unused."""
        obj = self._pins.pop(os.path.normpath(path), None)
        if obj is None:
            return -ENOENT
        self._put(obj)
        return 0

    def load_prog(
        self,
        prog_type: int = 1,
        name: str = "",
        run: Optional[Callable[[bytes], Any]] = None,
    ) -> int:
        """Load a trivial program (``r0 = 0; exit``) and return its fd.

        ``run``: what :meth:`prog_test_run` (``Program.test_run``) executes instead
        of BPF instructions: ``run(data)`` returns the return value, or a
        ``(retval, data_out)`` pair.  It may read and write fake maps, as the
        modelled program would.  Without it test runs fail with ENOTSUPP."""
        insns = b"\xb7" + bytes(7) + b"\x95" + bytes(7)
        fd = self.prog_load(prog_type, insns, b"GPL", name.encode())
        if fd >= 0:
            self._fds[fd].obj.run = run
        return fd

    def prog_test_run(
        self,
        fd: int,
        data: bytes,
        data_out_size: int,
        ctx: Optional[bytes] = None,
        ctx_out_size: int = 0,
        repeat: int = 1,
        flags: int = 0,
        cpu: int = 0,
    ) -> tuple[int, int, bytes, bytes, int]:
        """BPF_PROG_TEST_RUN through the program's ``run`` model (see :meth:`load_prog`):
        (rc, retval, data_out, ctx_out, duration_ns)."""
        rc = self._fault("prog_test_run", fd=fd)
        if rc:
            return rc, 0, b"", b"", 0
        rc, f = self._file(fd)
        if rc or f.obj.kind != "prog":
            return (-EBADF if rc else -EINVAL), 0, b"", b"", 0
        run = getattr(f.obj, "run", None)
        if run is None:
            return -ENOTSUPP, 0, b"", b"", 0  # no model to run
        out: Any = None
        for _ in range(max(1, repeat)):
            out = run(bytes(data))
        retval, dout = out if isinstance(out, tuple) else (out, bytes(data))
        if len(dout) > data_out_size:
            return -errno.ENOSPC, int(retval), bytes(dout[:data_out_size]), b"", 0
        return 0, int(retval) & 0xFFFFFFFF, bytes(dout), bytes(ctx or b""), 0

    def inject(
        self,
        err: int,
        ops: Union[str, Iterable[str], None] = None,
        count: Optional[int] = 1,
        when: Optional[Callable[[FaultContext], bool]] = None,
    ) -> Fault:
        """Make the next ``count`` matching operations fail with ``-err``.

        ``ops``: Backend method names (``"map_update_elem"``, ``"map_lookup_batch"``,
        ``"map_create"``, ``"obj_get"``, ...); None matches every operation.
        ``count=None`` fails every match until :meth:`clear_faults`.
        ``when(ctx: FaultContext) -> bool`` narrows the match (e.g. on ``ctx.key``).
        Batch commands check each element (``ctx.index``): a fault at element i stops the
        batch there, with ``count = i`` written back, exactly like a kernel error at i.
        The per-element loops of :mod:`bpfmaps.loops` (``update_elems``, ...) issue
        ``map_*_elem`` operations here, as the C loops issue syscalls.  Returns the :class:`Fault` (``hits`` counts matches).
        """
        if isinstance(ops, str):
            ops = (ops,)
        fault = Fault(abs(err), frozenset(ops) if ops is not None else None, count, when)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def _fault(self, op: str, **kw: Any) -> int:
        self.calls[op] = self.calls.get(op, 0) + 1
        if not self._faults:
            return 0
        ctx = FaultContext(op, **kw)
        for f in self._faults:
            if f.matches(ctx):
                f.hits += 1
                if f.remaining is not None:
                    f.remaining -= 1
                return -f.errno
        return 0

    def _efault(
        self, op: str, fd: int, m: Optional[FakeMap], key=None, value=None, flags=0, index=0
    ):
        if not self._faults:
            if index == 0:
                self.calls[op] = self.calls.get(op, 0) + 1
            return 0
        return self._fault(
            op,
            fd=fd,
            map_id=m.id if m else None,
            map_type=m.type if m else None,
            key=key,
            value=value,
            flags=flags,
            index=index,
        )

    # ==================================================================================
    # resources

    def possible_cpus(self) -> int:
        return self.ncpus

    def alloc(self, size: int) -> bytearray:
        return bytearray(max(size, 1))

    def tobytes(self, buf: Buffer, size: int, offset: int = 0) -> bytes:
        return bytes(memoryview(buf).cast("B")[offset : offset + size])

    def close(self, fd: int) -> int:
        f = self._fds.pop(fd, None)
        if f is None:
            return -EBADF
        self._put(f.obj)
        return 0

    def dup(self, fd: int) -> int:
        f = self._fds.get(fd)
        if f is None:
            return -EBADF
        return self._install(f.obj, f.can_read, f.can_write)

    def is_bpffs(self, path: str) -> bool:
        p = os.path.normpath(path)
        return any(p == r or p.startswith(r.rstrip("/") + "/") for r in self._bpffs)

    def _dir_exists(self, p: str) -> bool:
        return p in self._bpffs or p in self._dirs

    # -- object lifetime ------------------------------------------------------------------
    def _install(self, obj: Any, can_read: bool = True, can_write: bool = True) -> int:
        fd = self.fd_base
        while fd in self._fds:
            fd += 1
        obj.refs += 1
        self._fds[fd] = _File(obj, can_read, can_write)
        return fd

    def _put(self, obj: Any) -> None:
        obj.refs -= 1
        if obj.refs > 0:
            return
        if obj.kind == "map":
            self._maps.pop(obj.id, None)
            obj.release()
            if obj.inner_meta is not None:
                obj.inner_meta = None
            btf_obj = getattr(obj, "btf_obj", None)
            if btf_obj is not None:
                obj.btf_obj = None
                self._put(btf_obj)
        elif obj.kind == "btf":
            self._btf_put(obj)
        else:
            self._progs.pop(obj.id, None)

    def _file(self, fd: int) -> tuple[int, Optional[_File]]:
        f = self._fds.get(fd)
        if f is None:
            return -EBADF, None
        return 0, f

    def _map_file(self, fd: int) -> tuple[int, Optional[_File], Optional[FakeMap]]:
        f = self._fds.get(fd) if isinstance(fd, int) else None
        if f is None:
            return -EBADF, None, None
        if f.obj.kind != "map":
            return -EINVAL, None, None
        return 0, f, f.obj

    @staticmethod
    def _readable(f: _File) -> bool:
        return f.can_read

    @staticmethod
    def _writable(f: _File, m: FakeMap) -> bool:
        return f.can_write and not m.frozen

    # -- buffers --------------------------------------------------------------------------
    @staticmethod
    def _copy_in(buf: Any, size: int, what: str, offset: int = 0) -> bytes:
        mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
        if len(mv) < offset + size:
            raise ValueError(
                f"{what} buffer holds {len(mv) - offset} bytes but the map needs {size}: "
                "the real kernel would read past its end"
            )
        return bytes(mv[offset : offset + size])

    @staticmethod
    def _copy_out(buf: Any, data: bytes, what: str, offset: int = 0) -> None:
        mv = memoryview(buf).cast("B")
        if mv.readonly:
            raise ValueError(f"{what} buffer is read-only")
        if len(mv) < offset + len(data):
            raise ValueError(
                f"{what} buffer holds {len(mv) - offset} bytes but {len(data)} are written: "
                "the real kernel would write past its end"
            )
        mv[offset : offset + len(data)] = data

    def _key(self, m: FakeMap, key: Optional[Buffer]) -> tuple[int, Optional[bytes]]:
        """``__bpf_copy_key``: NULL for keyless maps, EINVAL for a key given to one."""
        if m.key_size == 0:
            return (0, None) if key is None else (-EINVAL, None)
        if key is None:
            return -EFAULT, None
        return 0, self._copy_in(key, m.key_size, "key")

    # ==================================================================================
    # objects

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
        """``BPF_MAP_CREATE``: a new fd, or -EINVAL/-E2BIG/-ENOTSUPP/-EBADF as the kernel.
        With ``btf_fd``: the key/value types are checked as ``map_check_btf`` does."""
        rc = self._fault("map_create", map_type=int(map_type), flags=int(map_flags))
        if rc:
            return rc
        map_type, map_flags = int(map_type), int(map_flags)
        try:
            MapType(map_type)
        except ValueError:
            return -EINVAL
        if map_type not in (MapType.BLOOM_FILTER, MapType.ARENA) and map_extra:
            return -EINVAL
        mode = _file_mode(map_flags)
        if mode is None:
            return -EINVAL
        if map_flags & F_NUMA_NODE and numa_node != 0:  # one NUMA node
            return -EINVAL
        rc, sname = self._name(name)
        if rc:
            return rc
        if map_type not in SUPPORTED_MAP_TYPES:
            return -EINVAL
        rc = M.create_check(map_type, key_size, value_size, max_entries, map_flags, self.ncpus)
        if rc:
            return rc
        inner: Optional[FakeMap] = None
        if map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            # bpf_map_meta_alloc: the shim passes fd 0 when there is none; fd 0 is
            # open in any normal process and is not a map -> EINVAL
            if inner_map_fd is None or inner_map_fd <= 0:
                return -EINVAL
            rc, _f, inner = self._map_file(inner_map_fd)
            if rc:
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
        max_e = max_entries
        if (
            map_type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH)
            and map_flags & M.F_NO_COMMON_LRU
        ):
            max_e = -(-max_entries // self.ncpus) * self.ncpus
            if max_e >= 2**32:
                max_e = max_entries // self.ncpus * self.ncpus
        permanent = map_flags & ~(F_RDONLY | F_WRONLY)
        cls = M.MAP_CLASSES[map_type]
        m = cls(self, map_type, key_size, value_size, max_e, permanent, sname, map_extra)
        if inner is not None:
            m.inner_meta = _MapMeta(inner)
        if btf_obj is not None:  # the map holds a reference to its BTF
            btf_obj.refs += 1
            m.btf_obj = btf_obj
            m.btf_key_type_id = btf_key_type_id
            m.btf_value_type_id = btf_value_type_id
            m.spin_lock_off = lock_off
        m.id = next(self._map_ids)
        self._maps[m.id] = m
        return self._install(m, *mode)

    @staticmethod
    def _name(name: Optional[bytes]) -> tuple[int, str]:
        """``bpf_obj_name_cpy`` after the shim's 15-byte truncation."""
        if not name:
            return 0, ""
        if isinstance(name, str):
            name = name.encode()
        raw = bytes(name)[:15].split(b"\0", 1)[0]
        if any(c not in _NAME_OK for c in raw):
            return -EINVAL, ""
        return 0, raw.decode("utf-8", "replace")

    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int:
        rc = self._fault("map_get_fd_by_id", map_id=map_id, flags=open_flags)
        if rc:
            return rc
        if not 0 <= map_id < 2**32:
            return -EINVAL
        if open_flags & ~OBJ_FLAG_MASK:
            return -EINVAL
        mode = _file_mode(open_flags)
        if mode is None:
            return -EINVAL
        m = self._maps.get(map_id)
        if m is None:
            return -ENOENT
        return self._install(m, *mode)

    def map_get_next_id(self, start_id: int) -> tuple[int, int]:
        rc = self._fault("map_get_next_id")
        if rc:
            return rc, 0
        nxt = [i for i in self._maps if i > start_id]
        return (0, min(nxt)) if nxt else (-ENOENT, 0)

    def prog_get_fd_by_id(self, prog_id: int) -> int:
        rc = self._fault("prog_get_fd_by_id")
        if rc:
            return rc
        if not 0 <= prog_id < 2**32:
            return -EINVAL
        p = self._progs.get(prog_id)
        if p is None:
            return -ENOENT
        return self._install(p)

    def prog_get_next_id(self, start_id: int) -> tuple[int, int]:
        rc = self._fault("prog_get_next_id")
        if rc:
            return rc, 0
        nxt = [i for i in self._progs if i > start_id]
        return (0, min(nxt)) if nxt else (-ENOENT, 0)

    def obj_get(self, path: str, file_flags: int = 0) -> int:
        """``BPF_OBJ_GET`` on the virtual bpffs: -ENOENT when nothing is pinned there."""
        rc = self._fault("obj_get", flags=file_flags)
        if rc:
            return rc
        if file_flags & ~OBJ_FLAG_MASK:
            return -EINVAL
        mode = _file_mode(file_flags)
        if mode is None:
            return -EINVAL
        p = os.path.normpath(os.fsdecode(path))
        obj = self._pins.get(p)
        if obj is None:
            return -EACCES if self._dir_exists(p) else -ENOENT
        return self._install(obj, *mode)

    def obj_pin(self, fd: int, path: str) -> int:
        """``BPF_OBJ_PIN``: -EPERM off bpffs, -ENOENT without the parent dir, -EEXIST if taken."""
        rc = self._fault("obj_pin", fd=fd)
        if rc:
            return rc
        rc, f = self._file(fd)
        if rc:
            return rc
        p = os.path.normpath(os.fsdecode(path))
        parent = os.path.dirname(p)
        if not self.is_bpffs(parent):
            return -EPERM
        if not self._dir_exists(parent):
            return -ENOENT
        if p in self._pins or self._dir_exists(p):
            return -EEXIST
        f.obj.refs += 1
        self._pins[p] = f.obj
        return 0

    def map_info(self, fd: int) -> tuple[int, Optional[MapInfo]]:
        rc = self._fault("map_info", fd=fd)
        if rc:
            return rc, None
        if fd not in self._fds:
            return -errno.EBADFD, None  # OBJ_GET_INFO_BY_FD says EBADFD, not EBADF
        rc, _f, m = self._map_file(fd)
        if rc:
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
            btf_id=m.btf_obj.id if getattr(m, "btf_obj", None) is not None else 0,
            btf_key_type_id=getattr(m, "btf_key_type_id", 0),
            btf_value_type_id=getattr(m, "btf_value_type_id", 0),
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
        if rc:
            return rc, None
        m = f.obj
        if m.kind != "map":
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

    def obj_unpin(self, path: str) -> int:
        """unlink(2) of a pin on the virtual bpffs: 0, -ENOENT, -EPERM off bpffs."""
        rc = self._fault("obj_unpin")
        if rc:
            return rc
        if not self.is_bpffs(path):
            return -EPERM
        return self.unlink(path)

    def map_pin_paths(self, map_id: int) -> list[str]:
        """Pinned paths of map ``map_id``, sorted."""
        return sorted(p for p, o in self._pins.items() if o.kind == "map" and o.id == map_id)

    def prog_info(self, fd: int) -> tuple[int, Optional[ProgInfo]]:
        rc, f = self._file(fd)
        if rc:
            return -errno.EBADFD, None
        if f.obj.kind != "prog":
            return -EINVAL, None
        p = f.obj
        return 0, ProgInfo(id=p.id, type=p.type, name=p.name, tag=getattr(p, "tag", b""))

    # -- ring buffers (bpfmaps.RingBuffer) ----------------------------------------
    def _ring(self, map_or_fd: Any) -> Any:
        fd = map_or_fd.fileno() if hasattr(map_or_fd, "fileno") else int(map_or_fd)
        rc, _f, m = self._map_file(fd)
        if rc or m.type != MapType.RINGBUF:
            raise ValueError(f"{map_or_fd!r} is not a ringbuf map of this FakeKernel")
        return m

    def ringbuf_output(self, ring: Any, data: bytes, flags: int = 0) -> int:
        """What ``bpf_ringbuf_output(&ring, data, len, flags)`` does in a BPF program:
        0, or -EAGAIN when the record does not fit.  ``ring``: a Map or fd."""
        return self._ring(ring).output(bytes(data), flags)

    def ringbuf_reserve(self, ring: Any, size: int) -> Any:
        """``bpf_ringbuf_reserve``: a record to fill (``rec.data``) and then
        ``submit()`` or ``discard()``, or None when it does not fit.  Until then it is
        busy: readers stop before it."""
        return self._ring(ring).reserve(int(size))

    def ringbuf_open(self, fd: int, size: int) -> Any:
        """The reader of a ring (the kernel backend maps the ring's pages instead)."""
        from ._ringbuf import FakeRing

        rc, _f, m = self._map_file(fd)
        if rc:
            raise OSError(-rc, os.strerror(-rc))
        if m.type != MapType.RINGBUF:
            raise OSError(errno.EINVAL, "not a ringbuf map")
        return FakeRing(m)

    def map_mmap(self, fd: int, size: int) -> tuple[int, Any, bool]:
        """mmap of a BPF_F_MMAPABLE array: (rc, the map's pages, read-only?).  The
        first call moves the array's values into one shared anonymous mapping (every
        fd of the map sees the same bytes, as in the kernel); frozen maps and
        read-only fds map read-only.  Not modelled: EBUSY on freeze while mapped."""
        rc = self._fault("map_mmap", fd=fd)
        if rc:
            return rc, None, False
        rc, f, m = self._map_file(fd)
        if rc:
            return rc, None, False
        if not f.can_write:
            return -EINVAL, None, False  # the kernel refuses to map read-only fds
        from ._mmap import dense_pages

        return dense_pages(m, size, m.frozen)

    def map_freeze(self, fd: int) -> int:
        rc = self._fault("map_freeze", fd=fd)
        if rc:
            return rc
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._writable(f, m):
            return -EPERM
        m.frozen = True
        return 0

    def prog_load(self, prog_type: int, insns: bytes, license: bytes, name: bytes = b"") -> int:
        """Accept any non-empty instruction stream (no verifier): a program fd."""
        rc = self._fault("prog_load")
        if rc:
            return rc
        if len(insns) % 8 or not insns:
            return -EINVAL
        if len(insns) // 8 > BPF_MAXINSNS:
            return -E2BIG
        if not 0 <= int(prog_type) <= MAX_PROG_TYPE:
            return -EINVAL
        rc, sname = self._name(name)
        if rc:
            return rc
        p = FakeProg(next(self._prog_ids), int(prog_type), sname)
        # a stand-in for the kernel's tag (a hash of the instructions; not the same bytes)
        p.tag = hashlib.sha1(bytes(insns)).digest()[:8]
        self._progs[p.id] = p
        return self._install(p)

    # -- values that are fds ----------------------------------------------------------
    def _map_fd_get_ptr(self, outer: FakeMap, value: bytes) -> tuple[int, Optional[FakeMap]]:
        """``bpf_map_fd_get_ptr``: the inner map named by a fd, if compatible (takes a ref)."""
        fd = int.from_bytes(value[:4], "little", signed=True)
        rc, _f, inner = self._map_file(fd)
        if rc:
            return rc, None
        if not outer.inner_meta.compatible(inner):
            return -EINVAL, None
        inner.refs += 1
        return 0, inner

    def _prog_fd_get_ptr(self, pa: FakeMap, value: bytes) -> tuple[int, Optional[FakeProg]]:
        fd = int.from_bytes(value[:4], "little", signed=True)
        rc, f = self._file(fd)
        if rc:
            return rc, None
        p = f.obj
        if p.kind != "prog":
            return -EINVAL, None
        if pa.owner_prog_type is None:
            pa.owner_prog_type = p.type
        elif pa.owner_prog_type != p.type:
            return -EINVAL, None
        p.refs += 1
        return 0, p

    # ==================================================================================
    # element commands

    def map_lookup_elem(
        self, fd: int, key: Optional[bytes], value_out: Buffer, flags: int = 0
    ) -> int:
        """``BPF_MAP_LOOKUP_ELEM``: 0 and the value in ``value_out``, or -errno."""
        if flags & ~BPF_F_LOCK:
            return -EINVAL
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._readable(f):
            return -EPERM
        if flags & BPF_F_LOCK and getattr(m, "spin_lock_off", -1) < 0:
            return -EINVAL
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_lookup_elem", fd, m, k, flags=flags)
        if rc:
            return rc
        rc, v = m.lookup(k)
        if rc == 0:
            self._copy_out(value_out, v, "value")
        return rc

    def map_update_elem(self, fd: int, key: Optional[bytes], value: bytes, flags: int = 0) -> int:
        """``BPF_MAP_UPDATE_ELEM`` (push for queue/stack): 0 or -errno."""
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._writable(f, m):
            return -EPERM
        if flags & BPF_F_LOCK and getattr(m, "spin_lock_off", -1) < 0:
            return -EINVAL
        rc, k = self._key(m, key)
        if rc:
            return rc
        if value is None:
            return -EFAULT
        v = self._btf_mask_lock(m, self._copy_in(value, m.value_buf_size, "value"))
        rc = self._efault("map_update_elem", fd, m, k, v, flags)
        if rc:
            return rc
        return m.update(k, v, flags)

    def map_delete_elem(self, fd: int, key: Optional[bytes]) -> int:
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._writable(f, m):
            return -EPERM
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_delete_elem", fd, m, k)
        if rc:
            return rc
        return m.delete(k)

    def map_get_next_key(self, fd: int, key: Optional[bytes], next_key_out: Buffer) -> int:
        """``BPF_MAP_GET_NEXT_KEY``: NULL or a missing key gives the first key; ENOENT after the last."""
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._readable(f):
            return -EPERM
        if key is not None:
            rc, k = self._key(m, key)
            if rc:
                return rc
        else:
            k = None
        rc = self._efault("map_get_next_key", fd, m, k)
        if rc:
            return rc
        rc, nk = m.next_key(k)
        if rc == 0:
            self._copy_out(next_key_out, nk, "next_key")
        return rc

    def map_lookup_and_delete_elem(
        self, fd: int, key: Optional[bytes], value_out: Buffer, flags: int = 0
    ) -> int:
        """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (pop for queue/stack): hash types and queue/stack only."""
        if flags & ~BPF_F_LOCK:
            return -EINVAL
        rc, f, m = self._map_file(fd)
        if rc:
            return rc
        if not self._writable(f, m) or not self._readable(f):
            return -EPERM
        if flags and m.type in (MapType.QUEUE, MapType.STACK):
            return -EINVAL
        if flags & BPF_F_LOCK and getattr(m, "spin_lock_off", -1) < 0:
            return -EINVAL
        rc, k = self._key(m, key)
        if rc:
            return rc
        rc = self._efault("map_lookup_and_delete_elem", fd, m, k, flags=flags)
        if rc:
            return rc
        if m.type not in (MapType.QUEUE, MapType.STACK) and not m.has_lookup_and_delete:
            return -ENOTSUPP
        rc, v = m.lookup_and_delete(k)
        if rc == 0:
            self._copy_out(value_out, v, "value")
        return rc

    # ==================================================================================
    # batch commands

    def _batch_prologue(self, op: str, fd: int, read: bool, write: bool, supported: str):
        """Common part of ``bpf_map_do_batch``: (rc, map)."""
        if not self.batch_ops:
            return -EINVAL, None
        rc, f, m = self._map_file(fd)
        if rc:
            return rc, None
        if read and not self._readable(f):
            return -EPERM, None
        if write and not self._writable(f, m):
            return -EPERM, None
        if not getattr(m, supported):
            return -ENOTSUPP, None
        return 0, m

    def map_update_batch(
        self, fd: int, keys: Buffer, values: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """``BPF_MAP_UPDATE_BATCH``: in order, stop at the first failure; (rc, applied).

        Only ANY (and LOCK on maps with a spin lock) is accepted in ``elem_flags``;
        on such early errors the count is returned unchanged, as the kernel leaves it.
        """
        self.calls["map_update_batch"] = self.calls.get("map_update_batch", 0) + 1
        rc, m = self._batch_prologue("map_update_batch", fd, False, True, "has_update_batch")
        if rc:
            return rc, count
        if elem_flags & ~BPF_F_LOCK or (
            elem_flags & BPF_F_LOCK and getattr(m, "spin_lock_off", -1) < 0
        ):
            return -EINVAL, count
        if count == 0:
            return 0, 0
        ks, vs = m.key_size, m.value_buf_size
        for i in range(count):
            k = self._copy_in(keys, ks, "keys", i * ks) if ks else None
            v = self._btf_mask_lock(m, self._copy_in(values, vs, "values", i * vs))
            rc = self._efault("map_update_batch", fd, m, k, v, elem_flags, i)
            if not rc:
                rc = m.update(k, v, elem_flags)
            if rc:
                return rc, i
        return 0, count

    def map_delete_batch(
        self, fd: int, keys: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """``BPF_MAP_DELETE_BATCH``: in order, stop at the first failure (e.g. ENOENT); (rc, deleted)."""
        self.calls["map_delete_batch"] = self.calls.get("map_delete_batch", 0) + 1
        rc, m = self._batch_prologue("map_delete_batch", fd, False, True, "has_delete_batch")
        if rc:
            return rc, count
        if elem_flags:
            return -EINVAL, count
        if count == 0:
            return 0, 0
        ks = m.key_size
        for i in range(count):
            k = self._copy_in(keys, ks, "keys", i * ks)
            rc = self._efault("map_delete_batch", fd, m, k, index=i)
            if not rc:
                rc = m.delete(k)
            if rc:
                return rc, i
        return 0, count

    def map_lookup_batch(
        self,
        fd: int,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """``BPF_MAP_LOOKUP_BATCH``: (rc, n); rc -ENOENT with a valid n at the end of the map.

        Hash maps: the token is a u32 bucket index; a bucket that does not fit in
        ``count`` gives -ENOSPC when nothing was copied yet.  Arrays/LPM: the token is
        the last key visited.
        """
        return self._lookup_batch(
            "map_lookup_batch",
            fd,
            in_batch,
            out_batch,
            keys_out,
            values_out,
            count,
            elem_flags,
            flags,
            False,
        )

    def map_lookup_and_delete_batch(
        self,
        fd: int,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """``BPF_MAP_LOOKUP_AND_DELETE_BATCH``: hash maps only (-ENOTSUPP elsewhere)."""
        return self._lookup_batch(
            "map_lookup_and_delete_batch",
            fd,
            in_batch,
            out_batch,
            keys_out,
            values_out,
            count,
            elem_flags,
            flags,
            True,
        )

    def _lookup_batch(
        self, op, fd, in_batch, out_batch, keys_out, values_out, count, elem_flags, flags, delete
    ):
        self.calls[op] = self.calls.get(op, 0) + 1
        if not self.batch_ops:
            return -EINVAL, count
        rc, f, m = self._map_file(fd)
        if rc:
            return rc, count
        if not self._readable(f) or (delete and not self._writable(f, m)):
            return -EPERM, count
        kind = m.lookup_batch_kind
        if delete and kind != "htab":
            kind = None
        if kind is None:
            return -ENOTSUPP, count
        if elem_flags:
            return -EINVAL, count
        if kind == "htab":
            if flags:
                return -EINVAL, count
            if count == 0:
                return 0, 0
            return self._htab_batch(
                op, fd, m, in_batch, out_batch, keys_out, values_out, count, delete
            )
        if count == 0:
            return 0, 0
        return self._generic_lookup_batch(
            op, fd, m, in_batch, out_batch, keys_out, values_out, count
        )

    def _generic_lookup_batch(self, op, fd, m, in_batch, out_batch, keys_out, values_out, count):
        ks, vs = m.key_size, m.value_buf_size
        prev = self._copy_in(in_batch, ks, "in_batch") if in_batch is not None else None
        cp = 0
        rc = 0
        while cp < count:
            rc, key = m.next_key(prev)
            if rc:
                break
            rc = self._efault(op, fd, m, key, index=cp)
            if rc:
                return rc, 0
            rc, val = m.lookup(key)
            if rc == 0:
                self._copy_out(keys_out, key, "keys", cp * ks)
                self._copy_out(values_out, val, "values", cp * vs)
                cp += 1
            elif rc != -ENOENT:
                return rc, 0
            prev = key
        if cp:
            self._copy_out(out_batch, prev, "out_batch")
        return rc, cp

    def _htab_batch(self, op, fd, m, in_batch, out_batch, keys_out, values_out, count, delete):
        ks, vs = m.key_size, m.value_buf_size
        batch = (
            int.from_bytes(self._copy_in(in_batch, 4, "in_batch"), "little")
            if in_batch is not None
            else 0
        )
        if batch >= m.n_buckets:
            return -ENOENT, 0
        total = 0
        rc = 0
        while True:
            bucket = list(m.buckets[batch])
            if len(bucket) > count - total:
                if total == 0:
                    rc = -ENOSPC
                break
            for j, key in enumerate(bucket):
                frc = self._efault(op, fd, m, key, index=total + j)
                if frc:
                    return frc, 0
            for key in bucket:
                self._copy_out(keys_out, key, "keys", total * ks)
                self._copy_out(values_out, m._read(key), "values", total * vs)
                total += 1
                if delete:
                    m._remove(key)
            batch += 1
            if batch >= m.n_buckets:
                rc = -ENOENT
                break
        self._copy_out(out_batch, batch.to_bytes(4, "little"), "out_batch")
        return rc, total


class _MapMeta:
    """The inner-map template of a map-in-map (``bpf_map_meta_alloc``/``map_meta_equal``)."""

    def __init__(self, inner: FakeMap) -> None:
        self.type = inner.type
        self.key_size = inner.key_size
        self.value_size = inner.value_size
        self.max_entries = inner.max_entries
        self.flags = inner.flags

    def compatible(self, m: FakeMap) -> bool:
        if m.inner_meta is not None:
            return False
        same = (
            m.type == self.type
            and m.key_size == self.key_size
            and m.value_size == self.value_size
            and m.flags == self.flags
        )
        if not same:
            return False
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY) and not self.flags & M.F_INNER_MAP:
            return m.max_entries == self.max_entries
        return True

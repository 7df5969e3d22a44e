"""KernelBackend: the Backend protocol over the real bpf(2), through the cffi shim.

This module holds the bpf(2) command wrappers and the decoding of what the kernel
reports (map/prog/BTF info).  Its neighbours, each with one concern: the C loops and
their stop flag (:mod:`bpfmaps._kloops`), the mapped ring and perf buffers
(:mod:`bpfmaps._kring`), how Python buffers become C pointers (:mod:`bpfmaps._cbuf`),
and what /sys and /proc say (:mod:`bpfmaps._host`, no extension).  Their public names
are re-exported here.

Each method is one C call (plus, for buffers that are not cffi cdata, one
``ffi.from_buffer``).  Errors come back as ``-errno`` from the C function itself.
Kernel floor: 4.4 for element commands, 4.13 for ids/GET_FD_BY_ID, 5.2 for
FREEZE, 5.4 for the BTF commands, 5.6 for the batch commands (older kernels answer EINVAL, which the batch
layer turns into the per-element fallback).
"""

from __future__ import annotations

import os
from errno import EAGAIN, EINVAL, ENOSPC, EPERM

from ._cbuf import CData, ptr, wptr
from ._ffi import ffi, lib
from ._kloops import KernelLoops, stop_install, stop_pending, stop_set, stop_uninstall
from .types import MapInfo, possible_cpus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from ._host import bpffs_mounts, is_bpffs, read_fdinfo
    from ._kring import KernelPerfRing, KernelRing
    from ._objinfo import BTFInfo, ProgInfo

    Buffer = Any  # bytes-like input, a cdata, or a writable buffer for outputs
    #: the element commands, bound straight to C: (fd, key or NULL, value buffer, flags)
    _ElemCommand = Callable[[int, Any, Any, int], int]

__all__ = [
    "KernelBackend",
    "KernelLoops",
    "KernelPerfRing",
    "KernelRing",
    "bpffs_mounts",
    "is_bpffs",
    "possible_cpus",
    "read_fdinfo",
    "stop_install",
    "stop_pending",
    "stop_set",
    "stop_uninstall",
]

_NULL = ffi.NULL
_CDATA = ffi.CData
#: the ring readers (bpfmaps._kring, which maps memory): loaded on first use
_RINGS = frozenset({"KernelPerfRing", "KernelRing"})
#: the /proc readers (bpfmaps._host), re-exported on first use (start-up)
_HOST = frozenset({"bpffs_mounts", "is_bpffs", "read_fdinfo"})


def _lazy(name: str) -> object:
    if name in _RINGS:
        import bpfmaps._kring as _kring  # not `from . import`: no edge to the package root

        value = globals()[name] = getattr(_kring, name)
        return value
    if name in _HOST:
        import bpfmaps._host as _host  # not `from . import`: no edge to the package root

        value = globals()[name] = getattr(_host, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _RINGS | _HOST)


if not TYPE_CHECKING:  # (hidden from type checkers: they see the names imported above)
    __getattr__ = _lazy


def _count(n: int) -> CData:
    """A ``uint32_t *`` holding ``n`` (the in/out count of the batch commands)."""
    c = ffi.new("uint32_t *")
    c[0] = n
    return c


def _next_id(fn: Callable[[int, CData], int], start_id: int) -> tuple[int, int]:
    """(rc, next id) of one GET_NEXT_ID command (``fn``: map, prog or BTF)."""
    out = ffi.new("uint32_t *")
    rc = fn(start_id, out)
    return rc, int(out[0])


def _lookup_batch(
    fn: Callable[[int, Any, Any, Any, Any, CData, int, int], int],
    fd: int,
    in_batch: Buffer | None,
    out_batch: Buffer,
    keys_out: Buffer,
    values_out: Buffer,
    count: int,
    elem_flags: int,
    flags: int,
) -> tuple[int, int]:
    """(rc, elements filled) of LOOKUP_BATCH or LOOKUP_AND_DELETE_BATCH (``fn``)."""
    c = _count(count)
    rc = fn(
        fd, ptr(in_batch), wptr(out_batch), wptr(keys_out), wptr(values_out), c, elem_flags, flags
    )
    return rc, int(c[0])


def _name(field: CData) -> str:
    """A NUL-terminated name field of an info struct as text."""
    return ffi.string(field).decode("utf-8", "replace")


#: the process-wide instance (see :func:`shared`)
_shared: list[KernelBackend] = []


def shared() -> KernelBackend:
    """The process-wide KernelBackend, made on first call: what
    :func:`bpfmaps.backend.kernel_backend` returns, and what the bpftool runner uses
    when no backend was given and :mod:`bpfmaps.backend` was never imported (no
    ``use_backend`` block can then be active).  Stateless apart from cached constants,
    so two threads' first calls may both build one: both get the first published.
    Cost: O(1) after the first call; no syscall."""
    if not _shared:
        _shared.append(KernelBackend())
    return _shared[0]


def _map_info_record(info: CData) -> MapInfo:
    """The MapInfo of a ``struct bpfm_map_info``: every field positionally, in
    MapInfo's order (the record's fast path: keywords bind in Python, ~25 us a map of a
    small file's start-up; tests/core/test_core_open.py checks the order by name)."""
    return MapInfo(
        info.id,
        info.type,
        info.key_size,
        info.value_size,
        info.max_entries,
        info.map_flags,
        _name(info.name),
        info.ifindex,
        info.btf_vmlinux_value_type_id,
        info.netns_dev,
        info.netns_ino,
        info.btf_id,
        info.btf_key_type_id,
        info.btf_value_type_id,
        info.map_extra,
        info.btf_vmlinux_id,
    )


class KernelBackend:
    """The real kernel.  Stateless apart from cached constants; safe to share.
    Methods follow :class:`bpfmaps.backend.Backend` (its docstrings are theirs)."""

    name: str = "kernel"
    NULL: CData = _NULL

    def __init__(self) -> None:
        # Hot element commands are bound straight to the C functions: bytes and
        # cdata buffers go in without any Python-level wrapper.
        self.map_update_elem: _ElemCommand = lib.bpfm_map_update_elem
        self.map_lookup_elem: _ElemCommand = lib.bpfm_map_lookup_elem
        self.map_lookup_and_delete_elem: _ElemCommand = lib.bpfm_map_lookup_and_delete_elem
        self.map_get_next_key: Callable[[int, Any, Any], int] = lib.bpfm_map_get_next_key
        self.map_delete_elem: Callable[[int, Any], int] = lib.bpfm_map_delete_elem
        self.map_freeze: Callable[[int], int] = lib.bpfm_map_freeze
        self.close: Callable[[int], int] = lib.bpfm_close
        self.dup: Callable[[int], int] = lib.bpfm_dup
        #: the C loops (:func:`bpfmaps.loops.of` returns them for this backend)
        self.loops: KernelLoops = KernelLoops()

    def __repr__(self) -> str:
        return "<KernelBackend>"

    # -- resources -------------------------------------------------------------
    def possible_cpus(self) -> int:
        """See :func:`bpfmaps.types.possible_cpus` (cached)."""
        return possible_cpus()

    def alloc(self, size: int) -> CData:
        """A zeroed ``char[max(size, 1)]`` for output arguments."""
        return ffi.new("char[]", max(size, 1))

    def tobytes(self, buf: Buffer, size: int, offset: int = 0) -> bytes:
        """``size`` bytes of ``buf`` (cdata or any buffer) from ``offset``: one copy."""
        if isinstance(buf, _CDATA):
            return bytes(ffi.unpack(buf + offset, size))
        return bytes(memoryview(buf)[offset : offset + size])

    def is_bpffs(self, path: str) -> bool:
        """See :func:`bpfmaps._host.is_bpffs`."""
        from ._host import is_bpffs  # start-up: /proc readers on first use

        return is_bpffs(path)

    # -- objects ---------------------------------------------------------------
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
        """MAP_CREATE: a new fd or -errno.  Kernel 4.4 (BTF ids 4.18, map_extra 5.16)."""
        return lib.bpfm_map_create_btf(
            int(map_type), key_size, value_size, max_entries, int(map_flags), name or _NULL,
            inner_map_fd, numa_node, map_extra, btf_fd, btf_key_type_id, btf_value_type_id,
        )  # fmt: skip

    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int:
        """MAP_GET_FD_BY_ID: a new fd or -errno (-EINVAL for an id outside u32).  4.13."""
        if not 0 <= map_id < 2**32:
            return -EINVAL
        return lib.bpfm_map_get_fd_by_id(map_id, int(open_flags))

    def map_get_next_id(self, start_id: int) -> tuple[int, int]:
        """MAP_GET_NEXT_ID: (rc, next id); rc -ENOENT after the last.  4.13."""
        return _next_id(lib.bpfm_map_get_next_id, start_id)

    def prog_get_fd_by_id(self, prog_id: int) -> int:
        """PROG_GET_FD_BY_ID: a new fd or -errno.  4.13."""
        if not 0 <= prog_id < 2**32:
            return -EINVAL
        return lib.bpfm_prog_get_fd_by_id(prog_id)

    def prog_get_next_id(self, start_id: int) -> tuple[int, int]:
        """PROG_GET_NEXT_ID: (rc, next id).  4.13."""
        return _next_id(lib.bpfm_prog_get_next_id, start_id)

    def obj_get(self, path: str, file_flags: int = 0) -> int:
        """OBJ_GET of a pin: a new fd or -errno.  4.4."""
        return lib.bpfm_obj_get(os.fsencode(path), int(file_flags))

    def obj_pin(self, fd: int, path: str) -> int:
        """OBJ_PIN: 0 or -errno.  4.4."""
        return lib.bpfm_obj_pin(fd, os.fsencode(path))

    def map_info(self, fd: int) -> tuple[int, Optional[MapInfo]]:
        """OBJ_GET_INFO_BY_FD of a map: (0, MapInfo) or (-errno, None).  4.13."""
        info = ffi.new("struct bpfm_map_info *")
        rc = lib.bpfm_map_get_info(fd, info)
        if rc < 0:
            return rc, None
        return 0, _map_info_record(info)

    def map_fdinfo(self, fd: int) -> tuple[int, Optional[dict[str, str]]]:
        """/proc/self/fdinfo/FD of a map: (0, lines) or (-errno, None); -EINVAL when the
        fd is no map.  One read, no syscall of bpf(2)."""
        from ._host import read_fdinfo  # start-up: /proc readers on first use

        rc, d = read_fdinfo(fd)
        if d is not None and "map_id" not in d:
            return -EINVAL, None
        return rc, d

    def obj_unpin(self, path: str) -> int:
        """unlink(2) of a pin: 0 or -errno."""
        try:
            os.unlink(path)
        except OSError as e:
            return -(e.errno or EPERM)
        return 0

    def map_pin_paths(self, map_id: int) -> list[str]:
        """Every path on a mounted bpffs where map ``map_id`` is pinned.  Cost: a walk
        of every bpffs, one OBJ_GET + OBJ_GET_INFO_BY_FD per pinned object."""
        found: list[str] = []
        info = ffi.new("struct bpfm_map_info *")
        from ._host import bpffs_mounts  # start-up: /proc readers on first use

        for mnt in bpffs_mounts():
            for root, _dirs, files in os.walk(mnt):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    fd = lib.bpfm_obj_get(os.fsencode(path), 1 << 3)  # read-only is enough
                    if fd < 0:
                        continue
                    try:
                        if lib.bpfm_map_get_info(fd, info) == 0 and info.id == map_id:
                            found.append(path)
                    finally:
                        lib.bpfm_close(fd)
        return found

    def prog_info(self, fd: int) -> tuple[int, Optional[ProgInfo]]:
        """OBJ_GET_INFO_BY_FD of a program: (0, ProgInfo) or (-errno, None).  4.13."""
        info = ffi.new("struct bpfm_prog_info *")
        rc = lib.bpfm_prog_get_info(fd, info)
        if rc < 0:
            return rc, None
        from ._objinfo import ProgInfo  # start-up: program records on first use

        return 0, ProgInfo(
            id=info.id, type=info.type, name=_name(info.name), tag=ffi.buffer(info.tag, 8)[:]
        )

    def prog_load(self, prog_type: int, insns: bytes, license: bytes, name: bytes = b"") -> int:
        """PROG_LOAD without a log: a new fd or -errno (-EINVAL unless whole insns).  4.4."""
        if len(insns) % 8:
            return -EINVAL
        return lib.bpfm_prog_load(
            prog_type, insns, len(insns) // 8, license, name or _NULL, _NULL, 0
        )

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
        """PROG_TEST_RUN: (rc, retval, data out, ctx out, ns per run).  4.12 (ctx 5.2)."""
        dout = ffi.new("char[]", max(data_out_size, 1))
        cout = ffi.new("char[]", max(ctx_out_size, 1)) if ctx_out_size else _NULL
        sizes = ffi.new("uint32_t[4]")  # data_size_out, ctx_size_out, retval, duration
        sizes[0] = data_out_size
        sizes[1] = ctx_out_size
        rc = lib.bpfm_prog_test_run(
            fd, ptr(data) if data else _NULL, len(data), dout, sizes,
            ptr(ctx) if ctx else _NULL, len(ctx) if ctx else 0, cout, sizes + 1,
            repeat, flags, cpu, sizes + 2, sizes + 3,
        )  # fmt: skip
        n = min(sizes[0], data_out_size)
        cn = min(sizes[1], ctx_out_size)
        return (
            rc,
            int(sizes[2]),
            bytes(ffi.unpack(dout, n)) if rc in (0, -ENOSPC) else b"",
            bytes(ffi.unpack(cout, cn)) if ctx_out_size and rc == 0 else b"",
            int(sizes[3]),
        )

    # -- BTF objects -------------------------------------------------------------
    def btf_get_fd_by_id(self, btf_id: int) -> int:
        """BTF_GET_FD_BY_ID: a new fd or -errno.  4.18."""
        return lib.bpfm_btf_get_fd_by_id(btf_id)

    def btf_get_next_id(self, start_id: int) -> tuple[int, int]:
        """BTF_GET_NEXT_ID: (rc, next id).  5.4."""
        return _next_id(lib.bpfm_btf_get_next_id, start_id)

    def btf_info(self, fd: int) -> tuple[int, Optional[BTFInfo]]:
        """OBJ_GET_INFO_BY_FD of a BTF object with its blob: (0, BTFInfo) or (-errno,
        None); -EAGAIN if the size kept changing.  Two calls.  5.4."""
        info = ffi.new("struct bpfm_btf_info *")
        rc = lib.bpfm_btf_get_info(fd, _NULL, 0, info)
        for _ in range(4):  # the blob of a live object does not change; be safe anyway
            if rc < 0:
                return rc, None
            size = info.btf_size
            buf = ffi.new("char[]", max(size, 1))
            rc = lib.bpfm_btf_get_info(fd, buf, size, info)
            if rc == 0 and info.btf_size == size:
                from ._objinfo import BTFInfo  # start-up: BTF records on first use

                return 0, BTFInfo(
                    id=info.id,
                    data=ffi.buffer(buf, size)[:],
                    name=_name(info.name),
                    kernel_btf=bool(info.kernel_btf),
                )
        return -EAGAIN, None

    def btf_load(self, data: bytes, log_size: int = 0, log_level: int = 1) -> tuple[int, str]:
        """BTF_LOAD: (fd or -errno, log text; "" without a log buffer).  4.18."""
        data = bytes(data)
        if log_size:
            log = ffi.new("char[]", log_size)
            fd = lib.bpfm_btf_load(data, len(data), log, log_size, log_level)
            return fd, _name(log)
        return lib.bpfm_btf_load(data, len(data), _NULL, 0, 0), ""

    # -- batch commands --------------------------------------------------------
    def map_update_batch(
        self, fd: int, keys: Buffer, values: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """UPDATE_BATCH: (rc, elements the kernel counted).  5.6."""
        c = _count(count)
        rc = lib.bpfm_map_update_batch(fd, ptr(keys), ptr(values), c, elem_flags, flags)
        return rc, int(c[0])

    def map_delete_batch(
        self, fd: int, keys: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """DELETE_BATCH: (rc, elements the kernel counted).  5.6."""
        c = _count(count)
        rc = lib.bpfm_map_delete_batch(fd, ptr(keys), c, elem_flags, flags)
        return rc, int(c[0])

    def map_lookup_batch(
        self,
        fd: int,
        in_batch: Buffer | None,
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """LOOKUP_BATCH: (rc, elements filled); rc -ENOENT at the end.  5.6."""
        return _lookup_batch(
            lib.bpfm_map_lookup_batch,
            fd,
            in_batch,
            out_batch,
            keys_out,
            values_out,
            count,
            elem_flags,
            flags,
        )

    def map_lookup_and_delete_batch(
        self,
        fd: int,
        in_batch: Buffer | None,
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """LOOKUP_AND_DELETE_BATCH: (rc, elements filled and deleted).  5.6."""
        return _lookup_batch(
            lib.bpfm_map_lookup_and_delete_batch,
            fd,
            in_batch,
            out_batch,
            keys_out,
            values_out,
            count,
            elem_flags,
            flags,
        )

    # -- Map.sync helpers (bpfmaps.sync; no syscalls) -----------------------------
    def sync_index(self, want_keys: Buffer, n_want: int, ks: int) -> tuple[CData, Any]:
        """Index the wanted keys (C, GIL released: bpfmaps.sync builds it in a thread
        while it reads the map).  Keeps ``want_keys`` alive.  MemoryError when C
        cannot allocate it."""
        kp = ptr(want_keys)
        ix = lib.bpfm_sync_index_build(kp, n_want, ks)
        if ix == _NULL:
            raise MemoryError("sync_index")
        return (ffi.gc(ix, lib.bpfm_sync_index_free), kp)

    def sync_plan(
        self,
        index: tuple[CData, Any],
        cur_keys: Buffer,
        cur_vals: Buffer,
        n_cur: int,
        want_vals: Buffer,
        n_want: int,
        vs: int,
        zero: bool,
    ) -> tuple[memoryview, memoryview, memoryview, int]:
        """The diff against an index from :meth:`sync_index`, in C
        (:func:`bpfmaps.sync.plan_py` is the reference): (update indices into want,
        added flags, delete indices into cur, number unchanged), the first three as
        buffers of uint32/uint8."""
        upd = ffi.new("uint32_t[]", max(n_want, 1))
        added = ffi.new("uint8_t[]", max(n_want, 1))
        dels = ffi.new("uint32_t[]", max(n_cur, 1))
        outs = ffi.new("uint32_t[3]")
        lib.bpfm_sync_plan_probe(
            index[0], ptr(cur_keys), ptr(cur_vals), n_cur, ptr(want_vals), vs,
            1 if zero else 0, upd, added, outs, dels, outs + 1, outs + 2,
        )  # fmt: skip
        nu, nd = outs[0], outs[1]
        return (
            memoryview(ffi.buffer(upd, 4 * nu)),
            memoryview(ffi.buffer(added, nu)),
            memoryview(ffi.buffer(dels, 4 * nd)),
            int(outs[2]),
        )

    def gather(self, src: Buffer, size: int, idx: Buffer, n: int) -> bytes:
        """``src[idx[i]]`` for i < n (elements of ``size`` bytes), packed, in C."""
        out = ffi.new("char[]", max(n * size, 1))
        lib.bpfm_gather(ptr(src), size, ffi.from_buffer("uint32_t[]", idx), n, out)
        return ffi.buffer(out, n * size)[:]

    # -- ring buffers and perf buffers (bpfmaps.ringbuf) ---------------------------
    def ringbuf_open(self, fd: int, size: int) -> KernelRing:
        """Map the ring buffer behind map fd ``fd`` (``size`` = max_entries bytes)."""
        from ._kring import KernelRing

        return KernelRing(fd, size)

    def perf_open(self, cpu: int, pages: int, wakeup: int = 1) -> KernelPerfRing:
        """Open and map a BPF-output perf event on ``cpu`` (its fd goes into the map)."""
        from ._kring import KernelPerfRing

        return KernelPerfRing(cpu, pages, wakeup=wakeup)

"""KernelBackend: the Backend protocol over the real bpf(2), through the cffi shim.

This is the only module that imports the compiled extension ``bpfmaps._ffi``.
Each method is one C call (plus, for buffers that are not cffi cdata, one
``ffi.from_buffer``).  Errors come back as ``-errno`` from the C function itself.
Kernel floor: 4.4 for element commands, 4.13 for ids/GET_FD_BY_ID, 5.2 for
FREEZE, 5.4 for the BTF commands, 5.6 for the batch commands (older kernels answer EINVAL, which the batch
layer turns into the per-element fallback).
"""

from __future__ import annotations

import functools
import os
from errno import EAGAIN, EINVAL, ENOSPC

from ._ffi import ffi, lib
from .types import BTFInfo, MapInfo, ProgInfo

__all__ = ["KernelBackend", "KernelLoops", "possible_cpus", "is_bpffs", "stop_install",
           "stop_uninstall", "stop_pending", "stop_set"]  # fmt: skip

_NULL = ffi.NULL
_from_buffer = ffi.from_buffer
_CData = ffi.CData


def _ptr(buf):
    """A char* for ``buf``: bytes and cdata pass through, other buffers are wrapped."""
    if buf is None:
        return _NULL
    if isinstance(buf, (bytes, _CData)):
        return buf
    return _from_buffer("char[]", buf, require_writable=False)


def _wptr(buf):
    if buf is None:
        return _NULL
    if isinstance(buf, _CData):
        return buf
    return _from_buffer("char[]", buf, require_writable=True)


def stop_install(sig: int) -> int:
    """Let signal ``sig`` stop the shim's C loops (per-element loops, op streams,
    chunked UPDATE_BATCH) before their next syscall with -EINTR; the handler in place
    (Python's) still runs.  0 or -errno.  Main thread, around a run only."""
    return lib.bpfm_stop_install(sig)


def stop_uninstall(sig: int) -> int:
    """Put back the handler that :func:`stop_install` replaced.  0 or -errno."""
    return lib.bpfm_stop_uninstall(sig)


def stop_pending() -> int:
    """The signal that stopped the C loops since the last :func:`stop_set` (0: none)."""
    return lib.bpfm_stop_pending()


def stop_set(sig: int) -> None:
    """Set (``sig`` > 0) or clear (0) the C loops' stop flag."""
    lib.bpfm_stop_set(sig)


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    """Number of possible CPUs from /sys/devices/system/cpu/possible (e.g. ``0-1`` -> 2).

    Per-CPU map values are ``possible_cpus() * round_up(value_size, 8)`` bytes.
    """
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    n = 0
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            n = max(n, int(hi) + 1)
        elif part:
            n = max(n, int(part) + 1)
    return n


def _mountinfo_fstype(path: str) -> str | None:
    """fstype of the mount that holds ``path`` (longest matching mount point)."""
    best, fstype = -1, None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                try:
                    sep = fields.index("-")
                except ValueError:
                    continue
                mnt = fields[4].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= best:
                    best, fstype = len(mnt), fields[sep + 1]
    except OSError:
        return None
    return fstype


def is_bpffs(path: str) -> bool:
    """True when ``path`` (or, if it does not exist, its directory) is on a bpffs mount."""
    p = os.path.realpath(path)
    if not os.path.exists(p):
        p = os.path.dirname(p)
    return _mountinfo_fstype(p) == "bpf"


def bpffs_mounts() -> list[str]:
    """Mount points of every bpffs visible to this process (/proc/self/mountinfo)."""
    out: list[str] = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                try:
                    sep = fields.index("-")
                except ValueError:
                    continue
                if fields[sep + 1] == "bpf":
                    mnt = fields[4].replace("\\040", " ")
                    if mnt not in out:
                        out.append(mnt)
    except OSError:
        pass
    return out


def read_fdinfo(fd: int) -> tuple[int, dict[str, str] | None]:
    """The ``key: value`` lines of /proc/self/fdinfo/FD (one open+read, ~10 us)."""
    try:
        with open(f"/proc/self/fdinfo/{int(fd)}") as f:
            text = f.read()
    except OSError as e:
        return -(e.errno or 9), None
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return 0, out


class KernelBackend:
    """The real kernel.  Stateless apart from cached constants; safe to share."""

    name = "kernel"
    NULL = _NULL

    def __init__(self) -> None:
        # Hot element commands are bound straight to the C functions: bytes and
        # cdata buffers go in without any Python-level wrapper.
        self.map_update_elem = lib.bpfm_map_update_elem
        self.map_lookup_elem = lib.bpfm_map_lookup_elem
        self.map_lookup_and_delete_elem = lib.bpfm_map_lookup_and_delete_elem
        self.map_get_next_key = lib.bpfm_map_get_next_key
        self.map_delete_elem = lib.bpfm_map_delete_elem
        self.map_freeze = lib.bpfm_map_freeze
        self.close = lib.bpfm_close
        self.dup = lib.bpfm_dup
        #: the C loops (:func:`bpfmaps.loops.of` returns them for this backend)
        self.loops = KernelLoops()

    def __repr__(self) -> str:
        return "<KernelBackend>"

    # -- resources -------------------------------------------------------------
    def possible_cpus(self) -> int:
        return possible_cpus()

    def alloc(self, size: int):
        return ffi.new("char[]", max(size, 1))

    def tobytes(self, buf, size: int, offset: int = 0) -> bytes:
        if isinstance(buf, _CData):
            return ffi.unpack(buf + offset, size)
        return bytes(memoryview(buf)[offset : offset + size])

    def is_bpffs(self, path: str) -> bool:
        return is_bpffs(path)

    # -- objects ---------------------------------------------------------------
    def map_create(
        self,
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags=0,
        name=b"",
        inner_map_fd=-1,
        numa_node=0,
        map_extra=0,
        btf_fd=-1,
        btf_key_type_id=0,
        btf_value_type_id=0,
    ) -> int:
        if btf_fd >= 0:
            return lib.bpfm_map_create_btf(
                int(map_type),
                key_size,
                value_size,
                max_entries,
                int(map_flags),
                name or _NULL,
                inner_map_fd,
                numa_node,
                map_extra,
                btf_fd,
                btf_key_type_id,
                btf_value_type_id,
            )
        return lib.bpfm_map_create(
            int(map_type),
            key_size,
            value_size,
            max_entries,
            int(map_flags),
            name or _NULL,
            inner_map_fd,
            numa_node,
            map_extra,
        )

    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int:
        if not 0 <= map_id < 2**32:
            return -EINVAL
        return lib.bpfm_map_get_fd_by_id(map_id, int(open_flags))

    def map_get_next_id(self, start_id: int) -> tuple[int, int]:
        out = ffi.new("uint32_t *")
        rc = lib.bpfm_map_get_next_id(start_id, out)
        return rc, out[0]

    def prog_get_fd_by_id(self, prog_id: int) -> int:
        if not 0 <= prog_id < 2**32:
            return -EINVAL
        return lib.bpfm_prog_get_fd_by_id(prog_id)

    def prog_get_next_id(self, start_id: int) -> tuple[int, int]:
        out = ffi.new("uint32_t *")
        rc = lib.bpfm_prog_get_next_id(start_id, out)
        return rc, out[0]

    def obj_get(self, path: str, file_flags: int = 0) -> int:
        return lib.bpfm_obj_get(os.fsencode(path), int(file_flags))

    def obj_pin(self, fd: int, path: str) -> int:
        return lib.bpfm_obj_pin(fd, os.fsencode(path))

    def map_info(self, fd: int):
        info = ffi.new("struct bpfm_map_info *")
        rc = lib.bpfm_map_get_info(fd, info)
        if rc < 0:
            return rc, None
        return 0, MapInfo.make(
            info.type,
            id=info.id,
            key_size=info.key_size,
            value_size=info.value_size,
            max_entries=info.max_entries,
            flags=info.map_flags,
            name=ffi.string(info.name).decode("utf-8", "replace"),
            ifindex=info.ifindex,
            btf_vmlinux_value_type_id=info.btf_vmlinux_value_type_id,
            netns_dev=info.netns_dev,
            netns_ino=info.netns_ino,
            btf_id=info.btf_id,
            btf_key_type_id=info.btf_key_type_id,
            btf_value_type_id=info.btf_value_type_id,
            map_extra=info.map_extra,
            btf_vmlinux_id=info.btf_vmlinux_id,
        )

    def map_fdinfo(self, fd: int):
        rc, d = read_fdinfo(fd)
        if rc == 0 and "map_id" not in d:
            return -EINVAL, None
        return rc, d

    def obj_unpin(self, path: str) -> int:
        try:
            os.unlink(path)
        except OSError as e:
            return -(e.errno or 1)
        return 0

    def map_pin_paths(self, map_id: int) -> list[str]:
        found: list[str] = []
        info = ffi.new("struct bpfm_map_info *")
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

    def prog_info(self, fd: int):
        info = ffi.new("struct bpfm_prog_info *")
        rc = lib.bpfm_prog_get_info(fd, info)
        if rc < 0:
            return rc, None
        return 0, ProgInfo(
            id=info.id,
            type=info.type,
            name=ffi.string(info.name).decode("utf-8", "replace"),
            tag=bytes(ffi.buffer(info.tag, 8)),
        )

    def prog_load(self, prog_type: int, insns: bytes, license: bytes, name: bytes = b"") -> int:
        if len(insns) % 8:
            return -EINVAL
        return lib.bpfm_prog_load(
            prog_type, insns, len(insns) // 8, license, name or _NULL, _NULL, 0
        )

    def prog_test_run(
        self, fd, data, data_out_size, ctx=None, ctx_out_size=0, repeat=1, flags=0, cpu=0
    ):
        dout = ffi.new("char[]", max(data_out_size, 1))
        cout = ffi.new("char[]", max(ctx_out_size, 1)) if ctx_out_size else _NULL
        sizes = ffi.new("uint32_t[4]")  # data_size_out, ctx_size_out, retval, duration
        sizes[0] = data_out_size
        sizes[1] = ctx_out_size
        rc = lib.bpfm_prog_test_run(
            fd,
            _ptr(data) if data else _NULL,
            len(data),
            dout,
            sizes,
            _ptr(ctx) if ctx else _NULL,
            len(ctx) if ctx else 0,
            cout,
            sizes + 1,
            repeat,
            flags,
            cpu,
            sizes + 2,
            sizes + 3,
        )
        n = min(sizes[0], data_out_size)
        cn = min(sizes[1], ctx_out_size)
        return (
            rc,
            sizes[2],
            ffi.unpack(dout, n) if rc in (0, -ENOSPC) else b"",
            ffi.unpack(cout, cn) if ctx_out_size and rc == 0 else b"",
            sizes[3],
        )

    # -- BTF objects -------------------------------------------------------------
    def btf_get_fd_by_id(self, btf_id: int) -> int:
        return lib.bpfm_btf_get_fd_by_id(btf_id)

    def btf_get_next_id(self, start_id: int) -> tuple[int, int]:
        out = ffi.new("uint32_t *")
        rc = lib.bpfm_btf_get_next_id(start_id, out)
        return rc, out[0]

    def btf_info(self, fd: int):
        info = ffi.new("struct bpfm_btf_info *")
        rc = lib.bpfm_btf_get_info(fd, _NULL, 0, info)
        for _ in range(4):  # the blob of a live object does not change; be safe anyway
            if rc < 0:
                return rc, None
            size = info.btf_size
            buf = ffi.new("char[]", max(size, 1))
            rc = lib.bpfm_btf_get_info(fd, buf, size, info)
            if rc == 0 and info.btf_size == size:
                return 0, BTFInfo(
                    id=info.id,
                    data=ffi.buffer(buf, size)[:],
                    name=ffi.string(info.name).decode("utf-8", "replace"),
                    kernel_btf=bool(info.kernel_btf),
                )
        return -EAGAIN, None

    def btf_load(self, data: bytes, log_size: int = 0, log_level: int = 1):
        data = bytes(data)
        if log_size:
            log = ffi.new("char[]", log_size)
            fd = lib.bpfm_btf_load(data, len(data), log, log_size, log_level)
            return fd, ffi.string(log).decode("utf-8", "replace")
        return lib.bpfm_btf_load(data, len(data), _NULL, 0, 0), ""

    # -- batch commands --------------------------------------------------------
    def map_update_batch(self, fd, keys, values, count, elem_flags=0, flags=0):
        c = ffi.new("uint32_t *")
        c[0] = count
        rc = lib.bpfm_map_update_batch(fd, _ptr(keys), _ptr(values), c, elem_flags, flags)
        return rc, c[0]

    def map_delete_batch(self, fd, keys, count, elem_flags=0, flags=0):
        c = ffi.new("uint32_t *")
        c[0] = count
        rc = lib.bpfm_map_delete_batch(fd, _ptr(keys), c, elem_flags, flags)
        return rc, c[0]

    def map_lookup_batch(
        self, fd, in_batch, out_batch, keys_out, values_out, count, elem_flags=0, flags=0
    ):
        c = ffi.new("uint32_t *")
        c[0] = count
        rc = lib.bpfm_map_lookup_batch(
            fd,
            _ptr(in_batch),
            _wptr(out_batch),
            _wptr(keys_out),
            _wptr(values_out),
            c,
            elem_flags,
            flags,
        )
        return rc, c[0]

    def map_lookup_and_delete_batch(
        self, fd, in_batch, out_batch, keys_out, values_out, count, elem_flags=0, flags=0
    ):
        c = ffi.new("uint32_t *")
        c[0] = count
        rc = lib.bpfm_map_lookup_and_delete_batch(
            fd,
            _ptr(in_batch),
            _wptr(out_batch),
            _wptr(keys_out),
            _wptr(values_out),
            c,
            elem_flags,
            flags,
        )
        return rc, c[0]

    # -- Map.sync helpers (bpfmaps.sync; no syscalls) -----------------------------
    def sync_index(self, want_keys, n_want: int, ks: int):
        """Index the wanted keys (C, GIL released: bpfmaps.sync builds it in a thread
        while it reads the map).  Keeps ``want_keys`` alive."""
        kp = _ptr(want_keys)
        ix = lib.bpfm_sync_index_build(kp, n_want, ks)
        if ix == _NULL:
            raise MemoryError("sync_index")
        return (ffi.gc(ix, lib.bpfm_sync_index_free), kp)

    def sync_plan(self, index, cur_keys, cur_vals, n_cur, want_vals, n_want, vs, zero):
        """The diff against an index from :meth:`sync_index`, in C
        (:func:`bpfmaps.sync.plan_py` is the reference): (update indices into want,
        added flags, delete indices into cur, number unchanged), the first three as
        buffers of uint32/uint8."""
        upd = ffi.new("uint32_t[]", max(n_want, 1))
        added = ffi.new("uint8_t[]", max(n_want, 1))
        dels = ffi.new("uint32_t[]", max(n_cur, 1))
        outs = ffi.new("uint32_t[3]")
        lib.bpfm_sync_plan_probe(
            index[0], _ptr(cur_keys), _ptr(cur_vals), n_cur, _ptr(want_vals), vs,
            1 if zero else 0, upd, added, outs, dels, outs + 1, outs + 2,
        )  # fmt: skip
        nu, nd = outs[0], outs[1]
        return (
            ffi.buffer(upd, 4 * nu),
            ffi.buffer(added, nu),
            ffi.buffer(dels, 4 * nd),
            outs[2],
        )

    def gather(self, src, size: int, idx, n: int) -> bytes:
        """``src[idx[i]]`` for i < n (elements of ``size`` bytes), packed, in C."""
        out = ffi.new("char[]", max(n * size, 1))
        lib.bpfm_gather(_ptr(src), size, ffi.from_buffer("uint32_t[]", idx), n, out)
        return ffi.buffer(out, n * size)[:]

    # -- ring buffers and perf buffers (bpfmaps.ringbuf) ---------------------------
    def ringbuf_open(self, fd: int, size: int):
        """Map the ring buffer behind map fd ``fd`` (``size`` = max_entries bytes)."""
        return KernelRing(fd, size)

    def perf_open(self, cpu: int, pages: int, wakeup: int = 1):
        """Open and map a BPF-output perf event on ``cpu`` (its fd goes into the map)."""
        return KernelPerfRing(cpu, pages, wakeup=wakeup)


class KernelLoops:
    """The loops of :mod:`bpfmaps.loops` in C (``_shim.c``): one C call per loop, the
    GIL released inside, no Python per element.  :class:`bpfmaps.loops.GenericLoops`
    is the reference they are compared with (tests/core/test_loops.py).  Reached as
    ``KernelBackend.loops`` through :func:`bpfmaps.loops.of`."""

    @staticmethod
    def _errs_buf(errs, count):
        return ffi.new("int32_t[]", max(count, 1)) if errs is not None else _NULL

    @staticmethod
    def _collect(errs, ebuf, count):
        if errs is not None:
            errs[:] = ffi.unpack(ebuf, count) if count else []

    def update_elems(self, fd, keys, key_size, values, value_stride, count, flags=0, errs=None):
        """UPDATE_ELEM per packed element (``bpfm_update_elems``).  Cost: one syscall each, no Python per element."""
        c = ffi.new("uint32_t *")
        c[0] = count
        ebuf = self._errs_buf(errs, count)
        rc = lib.bpfm_update_elems(
            fd, _ptr(keys), key_size, _ptr(values), value_stride, c, flags, ebuf
        )
        self._collect(errs, ebuf, count)
        return rc, c[0]

    def delete_elems(self, fd, keys, key_size, count, errs=None):
        """DELETE_ELEM per packed key (``bpfm_delete_elems``).  Cost: one syscall each."""
        c = ffi.new("uint32_t *")
        c[0] = count
        ebuf = self._errs_buf(errs, count)
        rc = lib.bpfm_delete_elems(fd, _ptr(keys), key_size, c, ebuf)
        self._collect(errs, ebuf, count)
        return rc, c[0]

    def lookup_elems(self, fd, keys, key_size, values_out, value_stride, count, flags=0, errs=None):
        """LOOKUP_ELEM per packed key (``bpfm_lookup_elems``).  Cost: one syscall each."""
        c = ffi.new("uint32_t *")
        c[0] = count
        ebuf = self._errs_buf(errs, count)
        rc = lib.bpfm_lookup_elems(
            fd, _ptr(keys), key_size, _wptr(values_out), value_stride, c, flags, ebuf
        )
        self._collect(errs, ebuf, count)
        return rc, c[0]

    def lookup_and_delete_elems(
        self, fd, keys, key_size, values_out, value_stride, count, flags=0, errs=None
    ):
        """LOOKUP_AND_DELETE_ELEM per packed key (``bpfm_lookup_and_delete_elems``).  Cost: one syscall each."""
        c = ffi.new("uint32_t *")
        c[0] = count
        ebuf = self._errs_buf(errs, count)
        rc = lib.bpfm_lookup_and_delete_elems(
            fd, _ptr(keys), key_size, _wptr(values_out), value_stride, c, flags, ebuf
        )
        self._collect(errs, ebuf, count)
        return rc, c[0]

    def dump_elems(
        self, fd, start, cursor, keys_out, key_size, values_out, value_stride, count, delete
    ):
        """GET_NEXT_KEY walk with lookups (``bpfm_dump_elems``).  Cost: two syscalls per element."""
        c = ffi.new("uint32_t[2]")
        c[0] = count
        rc = lib.bpfm_dump_elems(
            fd,
            _NULL if start is None else _ptr(start),
            _wptr(cursor),
            _wptr(keys_out),
            key_size,
            _wptr(values_out),
            value_stride,
            c,
            0,
            1 if delete else 0,
            c + 1,
        )
        return rc, c[0], c[1]

    def keys_distinct(self, keys, key_size: int, count: int) -> bool:
        """True when the ``count`` packed keys are pairwise distinct (in C, no syscall)."""
        rc = lib.bpfm_keys_distinct(_ptr(keys), key_size, count)
        if rc < 0:
            raise MemoryError("keys_distinct")
        return rc == 1

    def update_batch_parts(
        self, fd, keys, values, key_size, value_stride, parts, elem_flags=0, chunk=8192
    ):
        """UPDATE_BATCH of the index ranges ``parts`` = [(start, count), ...] of one
        packed batch, one thread per part, all at once (the C calls release the GIL).
        Each part applies a prefix of its range in order, ``chunk`` elements per call;
        once one part fails, the others stop before their next call.  Returns one
        ``(rc, applied)`` per part."""
        import threading

        kp, vp = _ptr(keys), _ptr(values)
        stop = ffi.new("int *")
        out: list = [None] * len(parts)

        def work(i: int) -> None:
            start, count = parts[i]
            applied = ffi.new("uint32_t *")
            rc = lib.bpfm_update_batch_part(
                fd, kp, vp, key_size, value_stride, start, count, chunk, elem_flags, stop, applied
            )
            out[i] = (rc, applied[0])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(1, len(parts))]
        for t in threads:
            t.start()
        try:
            if parts:
                work(0)
        finally:
            for t in threads:
                t.join()
        return out

    def exec_ops(self, ops, count, fds, key_sizes, value_sizes, keys, values):
        """Element operations in order, in C (:meth:`bpfmaps.loops.GenericLoops.exec_ops`
        is the reference); stops at the first failure: (rc, index), before an op of
        another kind: (1, index), else (0, count).  Cost: one syscall per op."""
        done = ffi.new("uint32_t *")
        rc = lib.bpfm_exec_ops(
            ffi.from_buffer("struct bpfm_op[]", ops),
            count,
            ffi.new("int[]", fds or [0]),
            _ptr(keys),
            _ptr(values),
            done,
        )
        return rc, done[0]


# -- ring buffers and perf buffers (bpfmaps.ringbuf) ------------------------------------
class KernelRing:
    """One BPF_MAP_TYPE_RINGBUF mapped in this process (consumer page read-write,
    producer page + data area read-only, the data mapped twice by the kernel), read by
    the C consumer ``bpfm_ringbuf_consume``.  ``fileno()`` is the map fd (epoll-able:
    readable when records were submitted with a wake-up)."""

    def __init__(self, fd: int, size: int, max_records: int = 65536) -> None:
        import mmap

        page = mmap.PAGESIZE
        self.fd = fd
        self.size = size
        self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self._prod = mmap.mmap(
                fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
            )
        except BaseException:
            self._cons.close()
            raise
        self._cp = ffi.from_buffer(self._cons)
        self._pp = ffi.from_buffer(self._prod)
        self._data = self._pp + page
        self._mask = size - 1
        self.max_records = max_records
        # where records are copied to: allocated (and its pages touched) once, refilled
        # from the start by reset(); 128 KiB, so the copies stay in the CPU's cache
        # (grown when one record is larger)
        self._alloc(1 << 17)
        self._disc = ffi.new("uint64_t *")
        self._busy = ffi.new("int *")

    @property
    def discarded(self) -> int:
        return self._disc[0]

    @property
    def busy(self) -> bool:
        """True when the last read stopped at a reserved, not yet submitted record."""
        return bool(self._busy[0])

    def pending(self) -> bool:
        return bool(lib.bpfm_ringbuf_pending(self._cp, self._pp))

    def reset(self) -> None:
        """Start filling the arena from the beginning again: the views returned by
        earlier reads are overwritten by the next ones."""
        self._pos = 0
        self._rec = 0

    def read(self, max_records: int):
        """(n, payloads, offsets, lengths) of up to ``max_records`` records: the
        payloads copied straight from the ring into this reader's arena, offsets
        (relative to the payload view) and lengths into its uint32 arrays; views of
        them are returned, valid until :meth:`reset` (no copy, no Python object per
        record).  0 records when the ring is empty or the arena is full."""
        while True:
            m = min(max_records, self._arena_recs - self._rec)
            cap = min(lib.bpfm_ringbuf_avail(self._cp, self._pp), self._arena_size - self._pos)
            if cap <= 0 or m <= 0:
                return 0, b"", [], []
            r = self._rec
            n = lib.bpfm_ringbuf_consume(
                self._cp, self._pp, self._data, self._mask, self._arena + self._pos, cap,
                self._offs + r, self._lens + r, m, self._disc, self._busy,
            )  # fmt: skip
            if n == 0 and not self._busy[0] and self.pending() and self._pos == 0:
                # the next record is larger than the arena: grow it
                self._alloc(self._arena_size * 2)
                continue
            break
        if n == 0:
            return 0, b"", [], []
        end = self._offs[r + n - 1] + self._lens[r + n - 1]
        data = self._view[self._pos : self._pos + end]
        self._pos += (end + 7) & ~7
        self._rec += n
        return n, data, self._offv[r : r + n], self._lenv[r : r + n]

    def _alloc(self, size: int) -> None:
        self._arena_size = size
        self._arena_recs = size // 8  # a record takes at least 8 bytes of the ring
        self._arena = ffi.new("char[]", size)
        self._view = memoryview(ffi.buffer(self._arena))
        self._offs = ffi.new("uint32_t[]", self._arena_recs)
        self._lens = ffi.new("uint32_t[]", self._arena_recs)
        self._offv = memoryview(ffi.buffer(self._offs)).cast("I")
        self._lenv = memoryview(ffi.buffer(self._lens)).cast("I")
        self._pos = self._rec = 0

    def close(self) -> None:
        self._cp = self._pp = self._data = None
        for v in (self._view, self._offv, self._lenv):
            v.release()
        for mm in (self._cons, self._prod):
            try:
                mm.close()
            except BufferError:  # pragma: no cover - only our cdata referenced them
                pass

    def fileno(self) -> int:
        return self.fd


class KernelPerfRing:
    """The perf ring of one CPU of a BPF_MAP_TYPE_PERF_EVENT_ARRAY: a
    PERF_COUNT_SW_BPF_OUTPUT event opened on that CPU (the fd the map's slot holds),
    its mmap (1 + 2**k pages), read by the C consumer ``bpfm_perf_consume``."""

    def __init__(self, cpu: int, pages: int, max_records: int = 8192, wakeup: int = 1) -> None:
        import mmap

        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two, not {pages}")
        fd = lib.bpfm_perf_open_bpf_output(cpu, wakeup)
        if fd < 0:
            from .errors import error_from_errno

            raise error_from_errno(-fd, "perf_event_open", map=f"perf buffer of CPU {cpu}")
        self.fd = fd
        self.cpu = cpu
        page = mmap.PAGESIZE
        self.size = pages * page
        try:
            self._mm = mmap.mmap(
                fd, page + self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except BaseException:
            os.close(fd)
            raise
        self._base = ffi.from_buffer(self._mm)
        self.max_records = max_records
        self._cap = max(self.size, 4096)
        self._out = ffi.new("char[]", self._cap)
        self._offs = ffi.new("uint64_t[]", max_records)
        self._lens = ffi.new("uint32_t[]", max_records)
        self._lost = ffi.new("uint64_t *")
        rc = lib.bpfm_perf_enable(fd, 1)
        if rc < 0:
            self.close()
            from .errors import error_from_errno

            raise error_from_errno(-rc, "perf_event_enable")

    @property
    def lost(self) -> int:
        return self._lost[0]

    busy = False
    discarded = 0

    def pending(self) -> bool:
        import struct

        head, tail = struct.unpack_from("=QQ", self._mm, 1024)
        return head != tail

    def read(self, max_records: int):
        n = lib.bpfm_perf_consume(
            self._base, self.size, self._out, self._cap, self._offs, self._lens,
            min(max_records, self.max_records), self._lost,
        )  # fmt: skip
        if n == 0:
            return 0, b"", [], []
        end = self._offs[n - 1] + self._lens[n - 1]
        offs = memoryview(ffi.buffer(self._offs, 8 * n)[:]).cast("Q")
        lens = memoryview(ffi.buffer(self._lens, 4 * n)[:]).cast("I")
        return n, bytearray(ffi.buffer(self._out, end)), offs, lens

    def close(self) -> None:
        if self.fd < 0:
            return
        self._base = None
        try:
            self._mm.close()
        except BufferError:  # pragma: no cover
            pass
        os.close(self.fd)
        self.fd = -1

    def fileno(self) -> int:
        return self.fd

"""The loops of :mod:`bpfmaps.loops` in C (``_shim.c``) for the kernel backend, and the
stop flag those loops check before each syscall (``_stop.c``).

One C call per loop, the GIL released inside, no Python per element.
:class:`bpfmaps.loops.GenericLoops` is the reference they are compared with
(tests/core/test_loops.py).  Reached as ``KernelBackend.loops`` through
:func:`bpfmaps.loops.of`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from ._cbuf import ptr, wptr
from ._ffi import ffi, lib

if TYPE_CHECKING:
    from ._ffi import CData  # a name of the stub only: at run time ffi.CData

__all__ = ["KernelLoops", "stop_install", "stop_pending", "stop_set", "stop_uninstall"]

Buffer = Any  # bytes-like input, a cdata, or a writable buffer for outputs


def stop_install(sig: int) -> int:
    """Let signal ``sig`` stop the shim's C loops (per-element loops, op streams,
    chunked UPDATE_BATCH) before their next syscall with -EINTR; the handler in place
    (Python's) still runs.  0 or -errno (sigaction).  Main thread, around a run only."""
    return lib.bpfm_stop_install(sig)


def stop_uninstall(sig: int) -> int:
    """Put back the handler that :func:`stop_install` replaced.  0 or -errno (sigaction)."""
    return lib.bpfm_stop_uninstall(sig)


def stop_pending() -> int:
    """The signal that stopped the C loops since the last :func:`stop_set` (0: none).
    No syscall."""
    return lib.bpfm_stop_pending()


def stop_set(sig: int) -> None:
    """Set (``sig`` > 0) or clear (0) the C loops' stop flag.  No syscall."""
    lib.bpfm_stop_set(sig)


def _each(
    call: Callable[[CData, CData], int], count: int, errs: list[int] | None
) -> tuple[int, int]:
    """Run one per-element C loop: ``call(count_inout, errs_or_NULL)``; the loops'
    convention of :mod:`bpfmaps.loops` (``errs``: one rc per element)."""
    c = ffi.new("uint32_t *")
    c[0] = count
    ebuf = ffi.new("int32_t[]", max(count, 1)) if errs is not None else ffi.NULL
    rc = call(c, ebuf)
    if errs is not None:
        errs[:] = ffi.unpack(ebuf, count) if count else []
    return rc, int(c[0])


class KernelLoops:
    """The per-element loops, the GET_NEXT_KEY walk, the key check and the parallel
    UPDATE_BATCH of :class:`bpfmaps.loops.Loops`, each one C call.  Stateless."""

    def update_elems(
        self,
        fd: int,
        keys: Buffer | None,
        key_size: int,
        values: Buffer,
        value_stride: int,
        count: int,
        flags: int = 0,
        errs: list[int] | None = None,
    ) -> tuple[int, int]:
        """UPDATE_ELEM per packed element (``bpfm_update_elems``).  Cost: one syscall
        each, no Python per element.  Kernel 4.4."""
        kp, vp = ptr(keys), ptr(values)
        return _each(
            lambda c, e: lib.bpfm_update_elems(fd, kp, key_size, vp, value_stride, c, flags, e),
            count,
            errs,
        )

    def delete_elems(
        self, fd: int, keys: Buffer, key_size: int, count: int, errs: list[int] | None = None
    ) -> tuple[int, int]:
        """DELETE_ELEM per packed key (``bpfm_delete_elems``).  Cost: one syscall each.
        Kernel 4.4."""
        kp = ptr(keys)
        return _each(lambda c, e: lib.bpfm_delete_elems(fd, kp, key_size, c, e), count, errs)

    def lookup_elems(
        self,
        fd: int,
        keys: Buffer,
        key_size: int,
        values_out: Buffer,
        value_stride: int,
        count: int,
        flags: int = 0,
        errs: list[int] | None = None,
    ) -> tuple[int, int]:
        """LOOKUP_ELEM per packed key (``bpfm_lookup_elems``).  Cost: one syscall each.
        Kernel 4.4."""
        kp, vp = ptr(keys), wptr(values_out)
        return _each(
            lambda c, e: lib.bpfm_lookup_elems(fd, kp, key_size, vp, value_stride, c, flags, e),
            count,
            errs,
        )

    def lookup_and_delete_elems(
        self,
        fd: int,
        keys: Buffer,
        key_size: int,
        values_out: Buffer,
        value_stride: int,
        count: int,
        flags: int = 0,
        errs: list[int] | None = None,
    ) -> tuple[int, int]:
        """LOOKUP_AND_DELETE_ELEM per packed key (``bpfm_lookup_and_delete_elems``).
        Cost: one syscall each.  Kernel 4.20 (queues/stacks), 5.14 (hash maps)."""
        kp, vp = ptr(keys), wptr(values_out)
        fn = lib.bpfm_lookup_and_delete_elems
        return _each(lambda c, e: fn(fd, kp, key_size, vp, value_stride, c, flags, e), count, errs)

    def dump_elems(
        self,
        fd: int,
        start: Buffer | None,
        cursor: Buffer,
        keys_out: Buffer,
        key_size: int,
        values_out: Buffer,
        value_stride: int,
        count: int,
        delete: bool,
    ) -> tuple[int, int, int]:
        """GET_NEXT_KEY walk with lookups (``bpfm_dump_elems``): (rc, filled, steps).
        Cost: two syscalls per element.  Kernel 4.4."""
        c = ffi.new("uint32_t[2]")
        c[0] = count
        rc = lib.bpfm_dump_elems(
            fd,
            ptr(start),
            wptr(cursor),
            wptr(keys_out),
            key_size,
            wptr(values_out),
            value_stride,
            c,
            0,
            1 if delete else 0,
            c + 1,
        )
        return rc, int(c[0]), int(c[1])

    def keys_distinct(self, keys: Buffer, key_size: int, count: int) -> bool:
        """True when the ``count`` packed keys are pairwise distinct (in C, no syscall).
        MemoryError when C cannot allocate its table."""
        rc = lib.bpfm_keys_distinct(ptr(keys), key_size, count)
        if rc < 0:
            raise MemoryError("keys_distinct")
        return rc == 1

    def update_batch_parts(
        self,
        fd: int,
        keys: Buffer,
        values: Buffer,
        key_size: int,
        value_stride: int,
        parts: list[tuple[int, int]],
        elem_flags: int = 0,
        chunk: int = 8192,
    ) -> list[tuple[int, int]]:
        """UPDATE_BATCH of the index ranges ``parts`` = [(start, count), ...] of one
        packed batch, one thread per part, all at once (the C calls release the GIL).
        Each part applies a prefix of its range in order, ``chunk`` elements per call;
        once one part fails, the others stop before their next call.  Returns one
        ``(rc, applied)`` per part.  Cost: one UPDATE_BATCH per ``chunk`` elements, one
        thread per part after the first.  Kernel 5.6."""
        kp, vp = ptr(keys), ptr(values)
        stop = ffi.new("int *")
        out: list[tuple[int, int]] = [(0, 0)] * len(parts)

        def work(i: int) -> None:
            start, count = parts[i]
            applied = ffi.new("uint32_t *")
            rc = lib.bpfm_update_batch_part(
                fd, kp, vp, key_size, value_stride, start, count, chunk, elem_flags, stop, applied
            )
            out[i] = (rc, int(applied[0]))

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

    def exec_ops(
        self,
        ops: Buffer,
        count: int,
        fds: list[int],
        key_sizes: list[int],
        value_sizes: list[int],
        keys: Buffer,
        values: Buffer,
    ) -> tuple[int, int]:
        """Element operations in order, in C (:meth:`bpfmaps.loops.GenericLoops.exec_ops`
        is the reference); stops at the first failure: (rc, index), before an op of
        another kind: (1, index), else (0, count).  Cost: one syscall per op.  Kernel 4.4."""
        done = ffi.new("uint32_t *")
        rc = lib.bpfm_exec_ops(
            ffi.from_buffer("struct bpfm_op[]", ops),
            count,
            ffi.new("int[]", fds or [0]),
            ptr(keys),
            ptr(values),
            done,
        )
        return rc, int(done[0])

"""The loops of :mod:`bpfmaps.loops` in C (``_shim.c``) for the kernel backend, and the
stop flag those loops check before each syscall (``_stop.c``).

One C call per loop, the GIL released inside, no Python per element.
:class:`bpfmaps.loops.GenericLoops` is the reference they are compared with
(tests/core/test_loops.py).  Reached as ``KernelBackend.loops`` through
:func:`bpfmaps.loops.of`.
"""

from __future__ import annotations

from ._cbuf import ptr, wptr
from ._ffi import ffi, lib
from ._loopbase import (
    DELETE_ELEM,
    LOOKUP_AND_DELETE_ELEM,
    LOOKUP_ELEM,
    UPDATE_ELEM,
    Loops,
    UpdateProg,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Callable, Optional

    from ._kexec import ExecProg
    from ._kprog import ProgApply
    from ._loopbase import Errs

    Buffer = Any  # bytes-like input, a cdata, or a writable buffer for outputs

__all__ = ["KernelLoops", "stop_install", "stop_pending", "stop_set", "stop_uninstall"]


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


#: the C loop of each element command but DELETE (``bpfm_delete_elems`` takes no values)
_C_ELEMS = {
    UPDATE_ELEM: lib.bpfm_update_elems,
    LOOKUP_ELEM: lib.bpfm_lookup_elems,
    LOOKUP_AND_DELETE_ELEM: lib.bpfm_lookup_and_delete_elems,
}


#: fewest elements of a BPF_ANY run applied by the in-kernel program (building it costs
#: ~1.5-2 ms; it saves ~0.2 us an element over UPDATE_BATCH)
PROG_MIN_ANY = 16384
#: fewest elements of a NOEXIST/EXIST run for it (the alternative: a syscall an element)
PROG_MIN_FLAGS = 4096


#: fewest update/delete ops of a block's exec loop for the in-kernel exec program
#: (measured break-even of a fresh `batch file` process: ~4000 mixed lines; the
#: build costs ~0.5-1 ms, a program run saves ~0.25 us an op over the syscalls)
EXEC_MIN = 4096


class KernelLoops(Loops):
    """The loops of :class:`bpfmaps.loops.Loops` in C, each one call with the GIL
    released: the per-element loops, the GET_NEXT_KEY walk, the key check, the op
    stream and the parallel UPDATE_BATCH (one thread per part).  Stateless."""

    native_ops = True

    def _elems(
        self,
        cmd: int,
        fd: int,
        keys: Buffer | None,
        key_size: int,
        values: Buffer,
        value_stride: int,
        count: int,
        flags: int,
        errs: Errs,
    ) -> tuple[int, int]:
        c = ffi.new("uint32_t *", count)
        ebuf = ffi.new("int32_t[]", max(count, 1)) if errs is not None else ffi.NULL
        if cmd == DELETE_ELEM:
            rc = lib.bpfm_delete_elems(fd, ptr(keys), key_size, c, ebuf)
        else:
            vp = ptr(values) if cmd == UPDATE_ELEM else wptr(values)
            rc = _C_ELEMS[cmd](fd, ptr(keys), key_size, vp, value_stride, c, flags, ebuf)
        if errs is not None:
            errs[:] = ffi.unpack(ebuf, count) if count else []
        return rc, int(c[0])

    def _dump(
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
        """:meth:`Loops.dump_elems` in C (``bpfm_dump_elems``)."""
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

    def keys_ascending(self, keys: Buffer, key_size: int, count: int) -> bool:
        """:meth:`Loops.keys_ascending` in C (``bpfm_keys_ascending``)."""
        return bool(lib.bpfm_keys_ascending(ptr(keys), key_size, count))

    def open_update_prog(
        self, fd: int, info: Any, flags: int, total: int, slots: int = 1, spec: bool = False
    ) -> _KernelUpdateProg | None:
        """:meth:`Loops.open_update_prog` by :mod:`bpfmaps._kprog`, one slot a part
        (a thread of :meth:`UpdateProg.speculate` with ``spec``), for runs of at least
        :data:`PROG_MIN_ANY` (BPF_ANY) or :data:`PROG_MIN_FLAGS` (NOEXIST/EXIST)
        elements in all."""
        if slots < 1 or total < (PROG_MIN_ANY if flags == 0 else PROG_MIN_FLAGS):
            return None
        from ._kprog import open_for  # (only for long runs: a batch file's start-up skips it)

        prog = open_for(fd, info, flags, slots=slots, spec=spec)
        return None if prog is None else _KernelUpdateProg(self, prog, slots, spec)

    def open_exec_prog(
        self,
        fds: list[int],
        infos: list[Any],
        ops: Buffer,
        count: int,
        outside: int = 0,
        lookups: Optional[Sequence[bool]] = None,
    ) -> ExecProg | None:
        """:meth:`Loops.open_exec_prog` by :mod:`bpfmaps._kexec`, when the block's
        update/delete ops (and lookups on the maps with ``lookups``) that reach the
        exec loop are at least :data:`EXEC_MIN` (``outside``: ops of the block that do
        not: without them too few, nothing is counted or imported)."""
        if count - outside < EXEC_MIN:
            return None
        from ._kexec import LOOKUP_MAX, count_ops, open_for  # (long blocks only: start-up)

        if lookups:  # (a program copies values of at most LOOKUP_MAX bytes)
            lookups = [
                bool(x) and i is not None and i.value_size <= LOOKUP_MAX
                for x, i in zip(lookups, infos)
            ]
        if count_ops(ops, count, lookups) - outside < EXEC_MIN:
            return None
        return open_for(fds, infos, lookups)

    def _batch_parts(
        self,
        fd: int,
        keys: Buffer,
        values: Buffer,
        key_size: int,
        value_stride: int,
        elem_flags: int,
        chunk: int,
    ) -> Callable[[int, int], tuple[int, int]]:
        kp, vp = ptr(keys), ptr(values)
        stop = ffi.new("int *")  # shared by the parts: set by the first that fails

        def part(start: int, count: int) -> tuple[int, int]:
            applied = ffi.new("uint32_t *")
            rc = lib.bpfm_update_batch_part(
                fd, kp, vp, key_size, value_stride, start, count, chunk, elem_flags, stop, applied
            )
            return rc, int(applied[0])

        return part

    def _run_parts(self, work: Callable[[int], None], n: int) -> None:
        """``work(i)`` for every part at once: one thread per part after the first."""
        if n <= 1:  # the serial apply (one part): no threading import (~1.5-2 ms)
            if n:
                work(0)
            return
        import threading  # (only here: a parallel apply; about 3 ms of start-up otherwise)

        threads: list[threading.Thread] = []
        try:
            for i in range(1, n):
                t = threading.Thread(target=work, args=(i,))
                t.start()
                threads.append(t)
            if n:
                work(0)
        finally:
            _join_all(threads)

    def _exec(
        self,
        ops: Buffer,
        count: int,
        fds: list[int],
        key_sizes: list[int],
        value_sizes: list[int],
        keys: Buffer,
        values: Buffer,
    ) -> tuple[int, int]:
        """:meth:`Loops.exec_ops` in C: the batch-file exec loop ``bpfm_exec_print``
        with no map printing or grouping (GenericLoops' is the reference)."""
        done = ffi.new("uint32_t *")
        used = ffi.new("uint64_t *")
        null = ffi.NULL
        rc = lib.bpfm_exec_print(
            ffi.from_buffer("struct bpfm_op[]", ops),
            count,
            ffi.new("int[]", fds or [0]),
            ptr(keys),
            ptr(values),
            null,
            null,
            null,
            0,
            used,
            done,
        )
        return rc, int(done[0])


class _KernelUpdateProg(UpdateProg):
    """A :class:`bpfmaps._kprog.ProgApply` owned as an :class:`UpdateProg`: its parts
    run in :meth:`KernelLoops._run_parts` threads, one slot each."""

    __slots__ = ("_loops", "_prog", "_slots", "spec_slots")

    def __init__(self, loops: KernelLoops, prog: ProgApply, slots: int, spec: bool) -> None:
        self._loops, self._prog, self._slots = loops, prog, slots
        self.spec_slots = slots if spec else 0

    def apply(
        self, keys: Buffer, values: Buffer, value_stride: int, parts: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """:meth:`UpdateProg.apply`; ValueError for more parts than slots."""
        if len(parts) > self._slots:
            raise ValueError(f"{len(parts)} parts for a program of {self._slots} slots")
        prog = self._prog
        stop = ffi.new("int *")  # shared by the parts: set by the first that fails
        out: list[tuple[int, int]] = [(0, 0)] * len(parts)

        def work(i: int) -> None:
            out[i] = prog.part(keys, values, value_stride, *parts[i], stop, i)

        self._loops._run_parts(work, len(parts))
        return out

    def speculate(
        self, keys: Buffer, values: Buffer, value_stride: int, count: int
    ) -> tuple[int, int, list[int]]:
        """:meth:`UpdateProg.speculate` (``bpfm_papply_spec``: its threads are C
        threads, one call).  ValueError for a program opened without ``spec``."""
        if not self.spec_slots:
            raise ValueError("a serial program cannot speculate")
        return self._prog.speculate(keys, values, value_stride, 0, count)

    def close(self) -> None:
        """:meth:`UpdateProg.close`."""
        self._prog.close()


def _join_all(threads: list[Any]) -> None:
    """Join every thread even when a join is interrupted (a signal handler's exception,
    e.g. KeyboardInterrupt): no part may outlive the buffers its caller frees next.
    The first such exception is raised again once all are joined."""
    err: BaseException | None = None
    for t in threads:
        while True:
            try:
                t.join()
                break
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the joins
                err = err or e
    if err is not None:
        raise err

"""The loops' interface, written once: :class:`Loops`, the base of the kernel backend's
C loops (:class:`bpfmaps.kernel.KernelLoops`) and of the plain-Python ones over any
backend (:class:`bpfmaps.loops.GenericLoops`).  The conventions are those of
:mod:`bpfmaps.loops` (which re-exports :class:`Loops`).

The public methods (their arguments, defaults, results and costs) are here; a
backend's loops supply the primitives: ``_elems`` (one element command over packed
elements), ``_batch_parts`` (the UPDATE_BATCH loop of one part), ``_run_parts`` where
parts can run at once, ``_dump`` and ``_exec`` (the bodies of :meth:`Loops.dump_elems`
and :meth:`Loops.exec_ops`, same arguments) and ``keys_distinct``.  Pure Python, no import of the extension.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing is not loaded at run time: the aliases are the checkers')
    from collections.abc import Sequence
    from typing import Any, Callable, Optional

    from ._kexec import ExecProg

    Buffer = Any
    #: one result per element (``errs=[]``) or None: stop at the first failure
    Errs = Optional[list[int]]

__all__ = [
    "DELETE_ELEM",
    "LOOKUP_AND_DELETE_ELEM",
    "LOOKUP_ELEM",
    "UPDATE_ELEM",
    "Loops",
    "UpdateProg",
]

#: the element commands of :meth:`Loops._elems` (their bpf(2) command numbers)
LOOKUP_ELEM, UPDATE_ELEM, DELETE_ELEM, LOOKUP_AND_DELETE_ELEM = 1, 2, 3, 21


class UpdateProg:
    """A built in-kernel update program (:meth:`Loops.open_update_prog`): one owner,
    closed by :meth:`close` or its ``with`` block; the base of the backends' own."""

    __slots__ = ()

    def apply(
        self, keys: Buffer, values: Buffer, value_stride: int, parts: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """:meth:`Loops.update_prog` of these ``parts`` with this program: one
        ``(rc, applied)`` a part (rc ``-EPROTO``: stopped without an element error).
        Cost: ~0.3 us an element on a hash map, GIL released."""
        raise NotImplementedError

    #: threads of :meth:`speculate` (0: a serial program, opened without ``spec``)
    spec_slots = 0

    def speculate(
        self, keys: Buffer, values: Buffer, value_stride: int, count: int
    ) -> tuple[int, int, list[int]]:
        """Apply ``count`` updates in :attr:`spec_slots` threads with the serial
        result (a program opened with ``spec=True``): ``(rc, applied, not_undone)``;
        ``applied`` is a prefix; rc 0 (all applied), ``-EPROTO`` (apply the rest
        serially: it decides element ``applied``), ``-EINTR`` (a stop signal) or
        another -errno with nothing applied.  ``not_undone``: indices after the
        prefix that stayed applied because the map refused their undo (another
        writer).  Cost: ~0.6x the serial program on a populated hash map (two
        threads); GIL released."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the program (idempotent); no map is touched."""
        raise NotImplementedError

    def __enter__(self) -> UpdateProg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Loops:
    """The loops of one backend (see :mod:`bpfmaps.loops` for the conventions).

    Subclasses implement ``_elems(cmd, fd, keys, key_size, values, value_stride,
    count, flags, errs)`` (``cmd``: :data:`UPDATE_ELEM`, ... ; ``values`` is read for
    updates and written, slot i for element i, for lookups) and ``_batch_parts(fd,
    keys, values, key_size, value_stride, elem_flags, chunk)``, which returns the
    function ``(start, count) -> (rc, applied)`` that applies one part; the parts of
    one call share a stop flag (no part starts another UPDATE_BATCH once one failed).
    """

    #: True when :meth:`exec_ops` is the shim's exec loop (``bpfm_exec_print``) over
    #: the fds as given, with nothing between it and the kernel: the batch-file runner
    #: may then call that loop itself, with its printing settings (a wrapped backend,
    #: e.g. bpfmaps.testing's fault injector, has loops of its own and keeps them)
    native_ops = False

    _elems: Callable[[int, int, Buffer, int, Buffer, int, int, int, Errs], tuple[int, int]]
    _batch_parts: Callable[
        [int, Buffer, Buffer, int, int, int, int], Callable[[int, int], tuple[int, int]]
    ]
    _dump: Callable[
        [int, Buffer | None, Buffer, Buffer, int, Buffer, int, int, bool], tuple[int, int, int]
    ]
    _exec: Callable[[Buffer, int, list[int], list[int], list[int], Buffer, Buffer], tuple[int, int]]

    def update_elems(
        self,
        fd: int,
        keys: Buffer | None,
        key_size: int,
        values: Buffer,
        value_stride: int,
        count: int,
        flags: int = 0,
        errs: Errs = None,
    ) -> tuple[int, int]:
        """MAP_UPDATE_ELEM of each packed element in order (``keys=None``: NULL keys,
        i.e. queue/stack pushes).  Cost: one command each (the kernel's loops: one C
        call, no Python per element).  Kernel 4.4."""
        return self._elems(
            UPDATE_ELEM, fd, keys, key_size, values, value_stride, count, flags, errs
        )

    def delete_elems(
        self, fd: int, keys: Buffer, key_size: int, count: int, errs: Errs = None
    ) -> tuple[int, int]:
        """MAP_DELETE_ELEM of each packed key in order.  Cost: one command each.
        Kernel 4.4."""
        return self._elems(DELETE_ELEM, fd, keys, key_size, None, 0, count, 0, errs)

    def lookup_elems(
        self,
        fd: int,
        keys: Buffer,
        key_size: int,
        values_out: Buffer,
        value_stride: int,
        count: int,
        flags: int = 0,
        errs: Errs = None,
    ) -> tuple[int, int]:
        """MAP_LOOKUP_ELEM of each packed key into slot i of ``values_out`` (slots of
        failed lookups are left as they were).  Cost: one command (and, in Python, one
        copy) each.  Kernel 4.4."""
        return self._elems(
            LOOKUP_ELEM, fd, keys, key_size, values_out, value_stride, count, flags, errs
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
        errs: Errs = None,
    ) -> tuple[int, int]:
        """MAP_LOOKUP_AND_DELETE_ELEM of each packed key (``keys=None``: pops) into slot
        i of ``values_out``.  Cost: one command (and, in Python, one copy) each.
        Kernel 4.20 (queues/stacks), 5.14 (hash maps)."""
        return self._elems(
            LOOKUP_AND_DELETE_ELEM, fd, keys, key_size, values_out, value_stride, count, flags,
            errs,
        )  # fmt: skip

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
        packed batch, all at once where the loops can (the kernel's: one thread per
        part, the C calls release the GIL; else one after the other, a legal schedule
        of the threaded one).  Each part applies a prefix of its range in order,
        ``chunk`` elements per call; once one part fails, the others stop before their
        next call.  A failing call counts what the kernel wrote back when it is below
        the call's size (the element loop failed there), else nothing (it failed
        before the loop).  Returns one ``(rc, applied)`` per part.  Cost: one
        UPDATE_BATCH per ``chunk`` elements (plus one thread per part after the first
        on the kernel).  Kernel 5.6."""
        part = self._batch_parts(fd, keys, values, key_size, value_stride, elem_flags, chunk)
        out: list[tuple[int, int]] = [(0, 0)] * len(parts)

        def work(i: int) -> None:
            out[i] = part(*parts[i])

        self._run_parts(work, len(parts))
        return out

    def _run_parts(self, work: Callable[[int], None], n: int) -> None:
        """Run ``work(0) .. work(n - 1)``: here one after the other."""
        for i in range(n):
            work(i)

    def update_prog(
        self,
        fd: int,
        info: Any,
        keys: Buffer,
        values: Buffer,
        value_stride: int,
        parts: list[tuple[int, int]],
        flags: int = 0,
    ) -> Optional[list[tuple[int, int]]]:
        """:meth:`update_batch_parts` (same ``parts``, same stop rule between parts,
        one ``(rc, applied)`` each) for updates with ``flags`` (BPF_ANY, NOEXIST or
        EXIST), applied by an in-kernel program where that gives the syscall's
        result (:mod:`bpfmaps._kprog`); rc ``-EPROTO``: that part stopped without an
        element error (apply its rest another way).  None when not taken (this
        backend, the map, the runs' length, the kernel).  Cost: ~0.6x UPDATE_BATCH
        plus ~2 ms to build the program (:meth:`open_update_prog`, closed before it
        returns); kernel floor 5.17."""
        total = sum(count for _, count in parts)
        prog = self.open_update_prog(fd, info, flags, total, len(parts)) if parts else None
        if prog is None:
            return None
        with prog:
            return prog.apply(keys, values, value_stride, parts)

    def open_update_prog(
        self, fd: int, info: Any, flags: int, total: int, slots: int = 1, spec: bool = False
    ) -> Optional[UpdateProg]:
        """The in-kernel program of :meth:`update_prog`, built once for runs of
        updates with ``flags`` into map ``fd`` (``info``) that add up to ``total``
        elements, to be applied by :meth:`UpdateProg.apply` as many times as needed
        (up to ``slots`` parts at once) and closed by its owner.  ``spec``: the
        variant that can also :meth:`UpdateProg.speculate` in ``slots`` threads
        (None where that would not give the serial result).  None when not taken
        (this backend, the map, ``total`` below the threshold, the kernel).  Cost:
        ~1.5-2 ms to build; kernel floor 5.17."""
        return None

    def open_exec_prog(
        self,
        fds: list[int],
        infos: list[Any],
        ops: Buffer,
        count: int,
        outside: int = 0,
        lookups: Optional[Sequence[bool]] = None,
    ) -> Optional[ExecProg]:
        """The in-kernel exec program for the exec loop over a plan block's maps
        (``fds[i]``, ``infos[i]``: map index i of the ``count`` op records ``ops``, of
        whose update/delete ops ``outside`` go elsewhere): ``with prog:`` makes this
        thread's :meth:`exec_ops` (and the batch-file printer's loop) apply segments
        of consecutive updates/deletes on its maps in one program run each, with the
        syscalls' results; ``lookups[i]``: the printer's loop prints map i's lookups
        (plain output), so the program takes them too.  None when not taken (this backend: the reference loops
        never take it; too few ops to pay for the build; no eligible map; the kernel).
        Cost: ~1.5-2 ms to build; kernel floor 5.17."""
        return None

    def keys_distinct(self, keys: Buffer, key_size: int, count: int) -> bool:
        """True when the ``count`` packed keys are pairwise distinct.  Cost: O(count)
        hashing, no command."""
        raise NotImplementedError

    def keys_ascending(self, keys: Buffer, key_size: int, count: int) -> bool:
        """True when the ``count`` packed keys are strictly increasing (bytewise), so
        pairwise distinct.  Cost: one pass that ends at the first key out of order; no
        command."""
        raise NotImplementedError

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
        """The per-element twin of LOOKUP_BATCH / LOOKUP_AND_DELETE_BATCH (map types and
        kernels without them): walk GET_NEXT_KEY from ``start`` (None = the first key),
        fill up to ``count`` packed keys/values, keep the last key in ``cursor``.  With
        ``delete``: collect keys first, then LOOKUP_AND_DELETE each.  Keys that vanish
        meanwhile are skipped.  Returns ``(rc, filled, get_next_key steps)``; rc is
        -ENOENT at the end of the map.  Cost: two commands per element.  Kernel 4.4."""
        return self._dump(
            fd, start, cursor, keys_out, key_size, values_out, value_stride, count, delete
        )

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
        """A stream of element operations in order (the bpftool executor's mixed
        update/delete lines): ``ops`` holds ``count`` packed records of
        :data:`bpfmaps.loops.OP_FORMAT` (kind OP_UPDATE = UPDATE_ELEM with the record's
        flags, OP_DELETE = DELETE_ELEM; the map index into
        ``fds``/``key_sizes``/``value_sizes``; the key offset into ``keys``
        (OP_NO_KEY: a NULL key), the value offset into ``values``).  Stops at the first
        failure: ``(rc, index of the failing op)``; before an op of another kind:
        ``(1, its index)``; else ``(0, count)``.  Cost: one element command per op.
        Kernel 4.4."""
        return self._exec(ops, count, fds, key_sizes, value_sizes, keys, values)

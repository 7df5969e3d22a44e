"""Execution of a plan: op blocks and commands, in order, stopping at the first failure.

The :class:`BlockExecutor` layer of the runner (:class:`~bpfmaps.bpftool.runner.Runner`
inherits it; it stands on the command handlers of :mod:`.commands`).  For each op
block, runs (:func:`~bpfmaps.bpftool.scan.find_runs`: at least ``RUN_MIN``
consecutive updates to one map with one flag, or deletes on one map) go whole to the
batch engine (``engine.update_packed``/``engine.delete_packed``), so the parallel apply
sees them whole; everything else goes to one exec loop: on the kernel the batch-file
C loop (``cprint.Printer``: updates, deletes, plain lookups and getnext printed in C),
else the backend's loops (:meth:`bpfmaps.loops.Loops.exec_ops`).  What the loop
hands back (pop, JSON or per-CPU or BTF lookups, failed lookups) runs through the
command handlers.  Every failure becomes one :class:`CommandFailed` with the failing
command's line and index.  Progress is
drawn after each engine or loop call (``_tick``); it never changes what runs.
"""

from __future__ import annotations

from .. import engine, loops
from ..errors import BatchError, CommandFailed, strerror
from ..types import PERCPU_INTS
from . import cprint, scan
from .handle import Command
from .plan import GETNEXT, LOOKUP, NO_KEY, OP, POP, RUN_MIN, UPDATE, MapTable, OpBlock, has_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .._kexec import ExecProg
    from .commands import Commands as _Below
    from .state import Item
else:
    # start-up: at run time BlockExecutor stands on Reports; the command handlers
    # (.commands) and the failure reports (.failures) join the instance's class on
    # first use (Runner.__getattr__)
    from .state import Reports as _Below

__all__ = ["BlockExecutor", "CommandFailed"]


def _has_btf_output(m: Any) -> bool:
    """The map's values print with BTF (bpftool's rule: a btf_id, and a value type or
    a vmlinux value type): btf.output's and the runner's lookups on it go through
    BTF output."""
    info = getattr(m, "info", None)
    return bool(
        info is not None
        and info.btf_id
        and (info.btf_value_type_id or info.btf_vmlinux_value_type_id)
    )


class BlockExecutor(_Below):
    """Plan execution for :class:`~bpfmaps.bpftool.runner.Runner` (see the module doc)."""

    processed: int  # counted here (declared in RunState.__init__)

    def _exec_item(self, it: Item) -> None:
        """Run one plan item (a block of ops or one command), counting what it applied."""
        if isinstance(it, OpBlock):
            self._exec_block(it)
        else:
            if self.json:
                from .bytes import _show  # start-up: -j only

                self._index_words[it.index] = [_show(w) for w in it.words or ()]
            self._exec_captured(it)
            self.processed += 1
            self._tick()

    # -- op blocks ----------------------------------------------------------------
    def _exec_block(self, blk: OpBlock) -> None:
        """One plan block in order: each run (:func:`~bpfmaps.bpftool.scan.find_runs`)
        whole through the batch engine, the ops between runs through the backend's
        exec loop (C on the kernel), which stops before lookups/getnext/pop: those
        run here and print.  Stops at the first failure with its exact report.
        Progress is shown after each engine or loop call; it never changes what runs."""
        runs = scan.find_runs(blk, RUN_MIN)
        prog = self._exec_prog(blk, runs)
        if prog is None:
            self._exec_parts(blk, runs)
        else:
            with prog:  # attached to this thread's exec loop; closed at the end
                self._exec_parts(blk, runs)

    def _exec_parts(self, blk: OpBlock, runs: list[tuple[int, int]]) -> None:
        n = blk.count
        at = 0
        for start, end in runs:
            if at < start:
                self._exec_ops(blk, at, start)
            if (self._stop is not None and self._stop.signum) or self.out.broken:
                raise self._halt(blk, start)  # a stop signal or a closed stdout
            self._exec_run(blk, start, end)
            at = end
        if at < n:
            self._exec_ops(blk, at, n)

    def _exec_prog(self, blk: OpBlock, runs: list[tuple[int, int]]) -> Optional[ExecProg]:
        """The backend's in-kernel exec program for the block's exec loop
        (:meth:`bpfmaps.loops.Loops.open_exec_prog`: segments of updates/deletes in one
        program run each, same results), or None: not a native loop, too few ops."""
        lp = loops.of(self.backend)
        if not getattr(lp, "native_ops", False):
            return None
        t = blk.table
        fds = self._block_fds(blk, blk.line(0))
        infos = [getattr(m, "info", None) for m in t.refs]
        outside = sum(end - start for start, end in runs)
        if outside >= blk.count:
            return None  # every op is in a run (and a run block's records stay unbuilt)
        # the maps whose lookups the printer's loop prints (_exec_ops): the program
        # takes those lookups too (no per-CPU map); a map with BTF output only when the
        # block has lookups (its BTF is read for them) and its values have no special
        # fields (the program copies a value whole, where the syscall zeroes them)
        lookups = None
        if self.fast and scan.available():
            queried = has_kind(blk, LOOKUP)
            lookups = [
                m is not None
                and m.type not in PERCPU_INTS
                and (not _has_btf_output(m) or (queried and self._copied_whole(m)))
                for m in t.refs
            ]
        return lp.open_exec_prog(fds, infos, blk.ops, blk.count, outside, lookups)

    def _copied_whole(self, m: Any) -> bool:
        """A copy of the value's bytes is what the lookup syscall returns for map
        ``m`` (with BTF output): its value type has no special fields
        (:meth:`bpfmaps.btf.model.BTF.has_special_fields`).  Cost: the map's BTF read
        once a run (cached), then O(the value type's members)."""
        info = m.info
        if info.btf_vmlinux_value_type_id or not info.btf_value_type_id:
            return False
        btf = self._btf_of(info)
        return btf is not None and not btf.has_special_fields(info.btf_value_type_id)

    def _plain(self, t: MapTable, runs: list[Any]) -> list[int]:
        """How C shows the lookups of each map of ``t`` (``bpfm_print_map.plain``): 1 in
        bpftool's hex layout (per-CPU maps too), or for a map with BTF output by its
        compiled program (``runs[i]``, :meth:`_fmt_run`); 2 in JSON mode (the value
        copied as it is; the JSON writer formats the item, with a BTF map's
        "formatted" object; not per-CPU maps); 0 not at all: per-CPU maps in JSON mode,
        maps with BTF output without a program (declined, or not compiled yet)."""
        how = 2 if self.json else 1
        out = []
        for m, run in zip(t.refs, runs):
            if m is None:
                out.append(0)
            elif _has_btf_output(m):
                out.append(how if run is not None else 0)
            else:
                out.append(how)
        return out

    def _fmt_pending(self, t: MapTable) -> set[int]:
        """The maps of ``t`` whose lookups C could print by a compiled BTF entry
        program (:meth:`_fmt_run`): BTF output, an fd, not per-CPU in JSON mode.  Their
        programs are compiled on their first lookup (:meth:`_exec_ops`), so a block
        without lookups on them loads no BTF at all.  Cost: O(maps)."""
        return {
            i for i, m in enumerate(t.refs) if m is not None and _has_btf_output(m) and m.fd >= 0
        }

    def _fmt_run(self, m: Any) -> Any:
        """The map's compiled BTF entry program (cprint.FormatRun) for its lookups
        printed in C (plain: the pretty object; JSON: the compact ``"formatted"``
        object, which the JSON writer adds to the output), or None (no BTF, a declined
        type).  Cost: the map's BTF read and compiled once a run (cached)."""
        btf = self._btf_of(m.info)
        return None if btf is None else self._entry_run(m, btf)

    def _block_fds(self, blk: OpBlock, line: int) -> list[int]:
        fds = []
        for m in blk.table.refs:
            if m is None:
                fds.append(-1)
            elif m.fd < 0:
                try:
                    fds.append(m.ensure_fd())
                except OSError:
                    fds.append(-1)
            else:
                fds.append(m.fd)
        return fds

    def _exec_ops(self, blk: OpBlock, a: int, b: int) -> None:
        """Ops ``[a, b)`` of ``blk``, one by one: on the kernel through the batch-file C
        loop (``cprint.Printer``: updates, deletes and plain-output lookups, formatted in
        C), else through the backend's loops (``loops.of(be).exec_ops``); whatever the
        loop hands back (getnext, pop, JSON or per-CPU lookups, failed lookups) runs here."""
        fds = self._block_fds(blk, blk.line(a))
        t = blk.table
        ops = memoryview(blk.ops)
        size = OP.size
        be = self.backend
        printer = None
        fmts: Optional[list[Any]] = None
        pending: set[int] = set()  # maps with BTF output whose program is not asked for yet
        write: Callable[[Any], Any] = self.out.write
        vals: list[bytes] = []  # JSON mode: the values of the lookups C ran, in op order
        if getattr(loops.of(be), "native_ops", False) and self.fast and scan.available():
            fmts = [None] * len(t.refs)
            pending = self._fmt_pending(t)
            printer = cprint.Printer(blk, fds, self._plain(t, fmts), fmts)
            if self.json:
                write = vals.append
        while a < b:
            if (self._stop is not None and self._stop.signum) or self.out.broken:
                raise self._halt(blk, a)  # a stop signal or a closed stdout
            if printer is not None:
                rc, done = printer.run(a, b, write)
            else:
                rc, done = loops.of(be).exec_ops(
                    ops[a * size : b * size], b - a, fds, t.key_sizes, t.value_sizes,
                    blk.keys, blk.values,
                )  # fmt: skip
            self._block_applied(blk, a, done, b"".join(vals) if vals else None, fmts)
            vals.clear()
            i = a + done
            if rc < 0:
                kind, _, m, line, _, _, _ = blk.op(i)
                if fds[m] < 0:
                    self._fd(t.refs[m], line)
                raise self._op_failed(
                    blk,
                    i,
                    f"{'update' if kind == UPDATE else 'delete'} failed: {strerror(-rc)}",
                    -rc,
                )
            if rc == 1 and pending and self._first_btf_lookup(blk, i, pending):
                # the first lookup on a map with BTF output: its program, then on in C
                # from this op (the items before keep the programs they were run with)
                m = blk.op(i)[2]
                pending.discard(m)
                fmts = list(fmts or ())
                fmts[m] = self._fmt_run(t.refs[m])
                if fmts[m] is not None:
                    printer = cprint.Printer(blk, fds, self._plain(t, fmts), fmts)
                    a = i
                    continue
            if rc == 1:  # a lookup, getnext or pop: here, with its output
                self._exec_query(blk, i)
                i += 1
            # (rc 2: the printer's buffer was full and is printed: on from op i, after
            # the stop and closed-stdout checks)
            a = i
            self._tick()

    @staticmethod
    def _first_btf_lookup(blk: OpBlock, i: int, pending: set[int]) -> bool:
        """Op i is a lookup on a map of ``pending`` (:meth:`_fmt_pending`)."""
        kind, _, m, _, _, _, _ = blk.op(i)
        return kind == LOOKUP and m in pending

    def _exec_query(self, blk: OpBlock, i: int) -> None:
        from .parsed import GetNext, Lookup, Pop  # start-up: a plain batch file has no query

        kind, flags, m, line, _, _, _ = blk.op(i)
        t = blk.table
        ref, h, key = t.refs[m], t.handles[m], blk.key(i)
        if kind == LOOKUP:
            c: Command = Lookup("peek" if flags else "lookup", ref, h, key)
        elif kind == GETNEXT:
            c = GetNext(ref, h, key)
        elif kind == POP:
            c = Pop("dequeue" if flags else "pop", ref, h)
        else:  # pragma: no cover - the exec loop runs updates and deletes
            raise AssertionError(kind)
        c.line, c.index, c.words = line, blk.first_index + i, None
        if self.json:
            self._index_words[c.index] = self._op_words(blk, i)
        self._exec_captured(c)
        self.processed += 1

    def _exec_captured(self, c: Command) -> None:
        """Run one command; in batch JSON mode its output values (the runner's
        :class:`~bpfmaps.bpftool.output.JsonOutput`) become the item's ``output``."""
        from .output import JsonOutput  # start-up: loaded by self.o, only for what prints

        o = self.o
        capture = o if isinstance(o, JsonOutput) else None
        if capture is not None:
            capture.values = []
            capture.nest = 2  # its values go in an item's "output": two levels down
        self._exec(c)
        if capture is not None:
            self._json_ok(c.index, capture.values[0] if capture.values else None)
            capture.values = []

    def _exec_run(self, blk: OpBlock, a: int, b: int) -> None:
        """Ops ``[a, b)``: a run of updates to one map with one flag (or deletes on one
        map), whole through the batch engine (:func:`bpfmaps.engine.update_packed`,
        :func:`bpfmaps.engine.delete_packed`: UPDATE_BATCH / DELETE_BATCH, parallel where
        provably identical); a BatchError becomes the exact report of the failing
        command."""
        kind, flags, mi, line, ko, vo, _ = blk.op(a)
        t = blk.table
        m = t.refs[mi]
        self._fd(m, line)
        target = m.target()
        n = b - a
        ks, vs = t.key_sizes[mi], t.value_sizes[mi]
        keys = memoryview(blk.keys)[ko : ko + n * ks] if ko != NO_KEY else None
        try:
            if kind == UPDATE:
                values = memoryview(blk.values)[vo : vo + n * vs]
                engine.update_packed(target, keys, values, flags=flags, parallel=self.parallel)
            else:
                engine.delete_packed(target, keys)
        except BatchError as e:
            self._block_applied(blk, a, e.applied)
            also = []
            for x, y in e.also_applied:
                self._block_applied(blk, a + x, y - x)
                also.append((blk.line(a + x), blk.line(a + y - 1), y - x))
            err = getattr(e.__cause__, "errno", None) or 0
            i = a + (e.index or 0)
            raise self._op_failed(
                blk, i, f"{'update' if kind == UPDATE else 'delete'} failed: {strerror(err)}",
                err or None, also,
            ) from None  # fmt: skip
        self._block_applied(blk, a, n)
        self._tick()

    def _block_applied(
        self,
        blk: OpBlock,
        off: int,
        cnt: int,
        vals: Optional[bytes] = None,
        fmts: Optional[list[Any]] = None,
    ) -> None:
        """Ops [off, off + cnt) of ``blk`` ran (``vals``: the values of the lookups
        among them, in order, as the JSON writer formats them; ``fmts``: the maps'
        BTF programs, :meth:`_fmt_runs`)."""
        self.processed += cnt
        if self.json and cnt:
            self._json_items.append(
                (blk, off, cnt) if vals is None else (blk, off, cnt, vals, fmts)
            )
            self._json_pending += cnt
            self._json_stream()

    def _op_failed(
        self,
        blk: OpBlock,
        i: int,
        message: str,
        err: Optional[int],
        also: Optional[list[tuple[int, int, int]]] = None,
    ) -> CommandFailed:
        """The CommandFailed of op i of ``blk``."""
        if self.json:
            self._index_words[blk.first_index + i] = self._op_words(blk, i)
        return CommandFailed(
            message, errno=err, line=blk.line(i), index=blk.first_index + i, also_applied=also
        )

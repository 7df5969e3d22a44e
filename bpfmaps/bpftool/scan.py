"""The driver of the C scanner (``bpfmaps/_native/scan.c``): buffers, the handle
table, and the hand-over to the Python reference.

:class:`Scanner` scans ordinary lines (see ``_native/scan.h``) of one file into
:class:`~bpfmaps.bpftool.plan.OpBlock` objects whose records and arenas are the
scanner's own buffers (no copy).  Buffers are sized adaptively: the first block of a
file is small (most files that mix commands have short stretches of ordinary lines,
and buffers sized for the whole rest of the file would cost O(file) per stretch);
each full block doubles the next one, up to :data:`BLOCK_MAX` ops (which bounds the
memory of one block), and never beyond what the remaining bytes can hold.

This module and the kernel backend are the only importers of the compiled
extension; without it :func:`available` is False and the reference parses alone.
"""

from __future__ import annotations

from ._safety import HoldStopSignals
from .handle import Handle
from .plan import OP, RUN_MIN, MapTable, OpBlock, find_runs_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    #: what a scan returns: (block or None, status, pos, line)
    ScanResult = tuple[Optional[OpBlock], int, int, int]

__all__ = ["Scanner", "available", "find_runs", "BLOCK_FIRST", "BLOCK_MAX", "PAR_MIN"]

#: ops in the first block of a file, and the most in one block
BLOCK_FIRST, BLOCK_MAX = 256, 1 << 19
#: the fewest bytes left after a full first block for which the scan runs in two threads
PAR_MIN = 4 << 20
#: the fewest bytes of buffers for which a scan takes arenas (bpfm_arena_new: their own
#: mappings, which :meth:`Scanner._populate` can fault in at once) rather than the
#: allocator's memory
ARENA_MIN = 1 << 20
#: the share of the ops a big scan is expected to write (from the probe's bytes a line)
#: whose arena bytes are faulted in before it: a little under the estimate, as pages
#: faulted in and not written are wasted work
POPULATE = 0.9
#: the shortest ordinary line ("map pop id 1\n")
MIN_LINE = 13

_EXT: Any = False
END, DECLINE, UNKNOWN, FULL, RUN_END = 0, 1, 2, 3, 4


def extension() -> Any:
    """``(ffi, lib)`` of the compiled module, or None without it.  Cost: one import,
    once (then a global read)."""
    global _EXT
    if _EXT is False:
        try:
            from .._ffi import ffi, lib

            lib.bpfm_scan  # noqa: B018 - the symbol exists (a stale build has not)
            _EXT = (ffi, lib)
        except (ImportError, AttributeError):
            _EXT = None
    return _EXT


def available() -> bool:
    """True when the compiled scanner can be used.  Cost: one import, once."""
    return extension() is not None


class Scanner:
    """Scans one file's bytes.  ``resolve(handle)`` returns the map for a handle met
    for the first time, or None when it does not resolve (the reference then
    reports that line's error).  ``runs``: big scans whose first ops are one run take
    it in run mode (run blocks, see :class:`~bpfmaps.bpftool.plan.OpBlock`), until a
    run ends before the block does."""

    ffi: Any
    lib: Any
    cbuf: Any
    s: Any
    cap: int
    maps: Any
    nentries: int
    max_key: int
    max_value: int
    alloc: Any

    def __init__(
        self,
        data: Any,
        table: MapTable,
        resolve: Callable[[Handle], Any],
        block_max: int | None = None,
        runs: bool = True,
    ) -> None:
        ffi, lib = extension()
        self.ffi, self.lib = ffi, lib
        self.data = data
        self.table = table
        self.resolve = resolve
        self.cbuf = ffi.from_buffer("char[]", data)
        s = self.s = ffi.new("struct bpfm_scan *")
        s.buf = self.cbuf
        s.len = len(data)
        self.cap = 8
        self.maps = ffi.new("struct bpfm_scan_map[]", self.cap)
        self.nentries = 0
        s.maps = self.maps
        self.max_key = 8
        self.max_value = 8
        self.alloc = ffi.new_allocator(should_clear_after_alloc=False)
        self.block_max = block_max
        #: the build has run mode (else ``s.run`` does not exist)
        self.run_mode = hasattr(lib, "BPFM_SCAN_RUN_END")
        self.runs = runs and self.run_mode

    def _entry(self, u: Any) -> None:
        """Add the handle the scanner met (``u``, a struct bpfm_scan_map) to the table."""
        ffi = self.ffi
        if u.handle_kind == 1:
            h = Handle("id", u.map_id)
        else:
            text = self.data[u.text_off : u.text_off + u.text_len].decode("latin-1")
            h = Handle("pinned" if u.handle_kind == 2 else "name", text)
        t = self.table
        i = t.index.get(h)
        if i is None:
            i = t.add(h, self.resolve(h))
        ref = t.refs[i]
        if self.nentries == self.cap:
            arr = ffi.new("struct bpfm_scan_map[]", self.cap * 2)
            ffi.memmove(arr, self.maps, ffi.sizeof("struct bpfm_scan_map") * self.nentries)
            self.maps, self.cap = arr, self.cap * 2
            self.s.maps = arr
        e = self.maps[self.nentries]
        e.handle_kind, e.map_id = u.handle_kind, u.map_id
        e.text_off, e.text_len = u.text_off, u.text_len
        e.index = i
        if ref is not None:
            slot, ncopies = t.slot(ref)
            e.key_size, e.value_size, e.slot, e.ncopies = (
                ref.key_size,
                ref.value_size,
                slot,
                ncopies,
            )
            e.caps = t.caps[i]
            self.max_key = max(self.max_key, ref.key_size)
            self.max_value = max(self.max_value, slot * ncopies)
        else:
            e.caps = 0
        self.nentries += 1
        self.s.nmaps = self.nentries

    def scan(self, pos: int, line: int, first_index: int) -> ScanResult:
        """Scan from ``pos`` (physical line ``line``).  Returns (block or None, status,
        pos, line): status END (the end of the data), DECLINE (the reference parses
        the line at pos) or FULL (call again at pos).  A first, small scan that fills
        its buffers is redone at once with buffers sized for the rest of the data (up
        to BLOCK_MAX ops), so a long run stays in one block; on a big rest (at least
        :data:`PAR_MIN` bytes) with a second CPU free right now (:func:`bpfmaps._cpus.
        free`) that scan runs in two threads (see :meth:`_scan_pair`).  Releases the GIL while scanning.  Cost: O(bytes
        scanned)."""
        left = len(self.data) - pos
        cap = min(BLOCK_FIRST, left // MIN_LINE + 1)
        r = self._scan(pos, line, first_index, cap)
        if r[1] == FULL and cap == BLOCK_FIRST:
            big = min(self.block_max or BLOCK_MAX, left // MIN_LINE + 1)
            # bytes per line of the probe (which can stop before BLOCK_FIRST ops: its
            # value buffer was sized before the first map was known)
            per_op = max((r[2] - pos) / max(r[3] - line, 1), 1.0)
            # the probe's ops are one run: the big scan takes it in run mode
            run = self.runs and r[0] is not None and _one_run(r[0])
            if left >= PAR_MIN and big >= 4 * BLOCK_FIRST and _free_cpus() >= 2:
                pair = self._scan_pair(pos, line, first_index, big, per_op, run)
                if pair is not None:
                    return self._run_ended(pair)
            r = self._scan(pos, line, first_index, big, int(POPULATE * left / per_op), run)
        return self._run_ended(r)

    def _run_ended(self, r: ScanResult) -> ScanResult:
        """``r`` with RUN_END as FULL (the next scan goes on there, in normal mode:
        run mode is not tried again once a run ended before its block did, so that
        files of many short runs do not pay a big scan's buffers for each)."""
        if r[1] != RUN_END:
            return r
        self.runs = False
        return r[0], FULL, r[2], r[3]

    def _setup(
        self, pos: int, line: int, cap: int, arenas: bool, run: bool = False
    ) -> tuple[Any, Any, Any]:
        """Buffers for ``cap`` ops (arenas: bpfm_arena_new, which a job's pages can be
        moved into; ``run``: run mode, two records) on the scan state, the cursor at
        ``pos``."""
        ffi, s, alloc = self.ffi, self.s, self.alloc
        kcap = cap * self.max_key
        vcap = cap * self.max_value
        if run:
            ops = s.ops = alloc("struct bpfm_op[]", 2)
        elif arenas:
            ops = self._arena(cap * OP.size)
            s.ops = ffi.cast("struct bpfm_op *", ops)
        else:
            ops = s.ops = alloc("struct bpfm_op[]", cap)
        if arenas:
            keys, values = self._arena(kcap), self._arena(vcap)
        else:
            keys, values = alloc("char[]", max(kcap, 1)), alloc("char[]", max(vcap, 1))
        s.max_ops, s.keys, s.keys_cap, s.values, s.values_cap = cap, keys, kcap, values, vcap
        s.pos, s.line, s.nops, s.keys_used, s.values_used = pos, line, 0, 0, 0
        s.len = len(self.data)
        if self.run_mode:
            s.run = 1 if run else 0
        return ops, keys, values

    def _arena(self, size: int) -> Any:
        """``char *`` to ``size`` bytes (bpfm_arena_new), freed with the last buffer that
        refers to it."""
        p = self.lib.bpfm_arena_new(size)
        if p == self.ffi.NULL:
            raise MemoryError(f"batch file: no memory for a block of {size} bytes")
        return self.ffi.gc(p, self.lib.bpfm_arena_free)

    def _run(self) -> int:
        """bpfm_scan from the state's cursor, resolving the unknown handles it meets, to
        a status other than UNKNOWN."""
        lib, s = self.lib, self.s
        while True:
            lib.bpfm_scan(s)
            status: int = s.status
            if status != UNKNOWN:
                return status
            self._entry(s.unknown)
            if (
                s.keys_used + self.max_key > s.keys_cap
                or s.values_used + self.max_value > s.values_cap
            ):
                return FULL  # a bigger map than the buffers were sized for

    def _block(
        self, bufs: tuple[Any, Any, Any], status: int, first_index: int, start: tuple[int, int]
    ) -> ScanResult:
        """The block of the scan that began at ``start`` (pos, line)."""
        ffi, s = self.ffi, self.s
        n = s.nops
        block: OpBlock | None = None
        if n:
            ops, keys, values = bufs
            kb, vb = ffi.buffer(keys, s.keys_used), ffi.buffer(values, s.values_used)
            if self.run_mode and s.run:
                end = s.pos

                def expand() -> Any:
                    return self._records(start[0], start[1], end, n)

                run = ffi.buffer(ops, 2 * OP.size)[:]
                block = OpBlock(self.table, None, kb, vb, n, first_index, run, expand)
            else:
                block = OpBlock(self.table, ffi.buffer(ops, n * OP.size), kb, vb, n, first_index)
        return block, status, s.pos, s.line

    def _records(self, pos: int, line: int, end: int, n: int) -> Any:
        """The ``n`` records of the ops of ``[pos, end)`` (a run block's lines, from
        physical line ``line``): a scan of those lines in normal mode into buffers of
        its own (keys and values dropped), which writes exactly the records the run
        mode left out.  Cost: O(bytes), about 40 ns a line; done only for run blocks
        whose records are read (a failure report, a short block)."""
        ffi, lib, alloc = self.ffi, self.lib, self.alloc
        t = ffi.new("struct bpfm_scan *")
        kcap, vcap = n * self.max_key, n * self.max_value
        ops = alloc("struct bpfm_op[]", n)
        keys, values = alloc("char[]", max(kcap, 1)), alloc("char[]", max(vcap, 1))
        t.buf, t.len, t.maps, t.nmaps, t.max_ops = self.cbuf, end, self.maps, self.nentries, n
        t.ops, t.keys, t.keys_cap, t.values, t.values_cap = ops, keys, kcap, values, vcap
        t.pos, t.line = pos, line
        lib.bpfm_scan(t)
        if t.nops != n or t.status != END:  # pragma: no cover - the scan is deterministic
            raise RuntimeError(f"batch file: {t.nops} records rebuilt for a run of {n}")
        return ffi.buffer(ops, n * OP.size)

    def _scan(
        self,
        pos: int,
        line: int,
        first_index: int,
        cap: int,
        expect: int = 0,
        run: bool = False,
    ) -> ScanResult:
        """One scan from ``pos`` into buffers for ``cap`` ops (``run``: in run mode);
        ``expect``: the ops it is expected to write, whose bytes are faulted in first
        (:meth:`_populate`)."""
        per_op = OP.size + self.max_key + self.max_value
        bufs = self._setup(pos, line, cap, cap * per_op >= ARENA_MIN, run)
        if expect and min(expect, cap) * per_op >= ARENA_MIN:
            self._populate(bufs, min(expect, cap), run)
        return self._block(bufs, self._run(), first_index, (pos, line))

    def _populate(self, bufs: tuple[Any, Any, Any], n: int, run: bool = False) -> None:
        """Fault in the arena bytes of ``n`` ops at once (``bpfm_arena_populate``;
        no records in run mode): one madvise an arena instead of a page fault a page
        (a 200k-line file's ~14 MiB: ~2 ms against ~3.5 ms).  Best effort: a kernel
        without MADV_POPULATE_WRITE (before 5.14) faults them in as they are written."""
        lib = self.lib
        if not hasattr(lib, "bpfm_arena_populate"):
            return  # an in-place build older than it
        ops, keys, values = bufs
        if not run:
            lib.bpfm_arena_populate(ops, n * OP.size)
        lib.bpfm_arena_populate(keys, n * self.max_key)
        lib.bpfm_arena_populate(values, n * self.max_value)

    def _scan_pair(
        self, pos: int, line: int, first_index: int, cap: int, per_op: float, run: bool = False
    ) -> ScanResult | None:
        """:meth:`_scan` in two threads: the rest of the data is cut at a line start
        ``mid`` (its middle, or where about 45% of ``cap`` ops end, from the probe's
        ``per_op`` bytes per line); a job (``bpfm_scan_start``) scans from ``mid``
        while this thread scans up to it, resolving unknown handles as :meth:`_scan`
        does; the job's ops are appended when this half ended exactly at ``mid``
        (``bpfm_scan_finish``), and the scan goes on from where the job stopped.  So
        the block is the one the serial scan gives (the same ops, lines, arenas, up to
        ``cap`` ops), only its end can come earlier (a job stops at a handle the table
        did not know when it started, or when its part of ``cap`` is full; the next
        scan goes on there).  None when no job could be started.  Cost: the serial
        scan's, in two threads, plus one copy of the job's bytes within their pages."""
        ffi, lib, s = self.ffi, self.lib, self.s
        if not hasattr(lib, "bpfm_scan_start"):
            return None  # an in-place build older than the threaded scan: serial
        size = len(self.data)
        left = size - pos
        # the rest fits in the block: halves; else the first half takes 45% of cap
        cut = left // 2 if left / per_op <= 0.8 * cap else int(0.45 * cap * per_op)
        mid = self.data.find(b"\n", pos + cut) + 1
        if mid <= pos or mid >= size:
            return None
        first_ops = int((mid - pos) / per_op * 1.25) + 1
        job_ops = cap - first_ops
        if job_ops < BLOCK_FIRST:
            return None
        bufs = self._setup(pos, line, cap, True, run)
        t = ffi.new("struct bpfm_scan *")
        t.buf, t.len, t.maps, t.nmaps = s.buf, size, s.maps, s.nmaps
        if self.run_mode:
            t.run = s.run
        t.pos, t.line, t.max_ops = mid, 0, job_ops
        t.keys_cap, t.values_cap = job_ops * self.max_key, job_ops * self.max_value
        # SIGINT/SIGTERM are held from before the job starts until it is joined: a stop
        # signal's Python handler raised before bpfm_scan_finish would leave the job
        # scanning memory the runner then unmaps (see HoldStopSignals).  A held signal
        # is delivered at the exit, a few ms later, and reported as before.
        with HoldStopSignals():
            job = lib.bpfm_scan_start(t)
            if job == ffi.NULL:
                return None
            s.len = mid
            try:
                # this half's bytes are faulted in while the job scans
                self._populate(bufs, int(POPULATE * (mid - pos) / per_op), run)
                status = self._run()
            finally:
                merged = lib.bpfm_scan_finish(job, s, 1)
                s.len = size
        if merged:
            status = s.status
            if status == UNKNOWN:
                status = self._run()
        elif status == END and s.pos < size:
            status = FULL  # this half ended at mid, the job's work was dropped: go on there
        return self._block(bufs, status, first_index, (pos, line))


def _one_run(block: OpBlock) -> bool:
    """True when the ops of ``block`` are one run (of at least one op)."""
    return find_runs(block, 1) == [(0, block.count)]


def find_runs(block: OpBlock, run_min: int = RUN_MIN) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: the maximal runs of at least ``run_min`` consecutive
    updates to one map with one flag, or deletes on one map, in order (the executor
    sends each whole to the batch engine).  Cost: O(count), in C when the extension is
    built, else :func:`bpfmaps.bpftool.plan.find_runs_py`."""
    fast = find_runs_c(block, run_min)
    return fast if fast is not None else find_runs_py(block, run_min)


def find_runs_c(block: OpBlock, run_min: int) -> list[tuple[int, int]] | None:
    """:func:`find_runs` in C (``bpfm_find_runs``), or None without the extension."""
    ext = extension()
    if ext is None:
        return None
    if block.run is not None:  # one run (no records needed)
        return find_runs_py(block, run_min)
    ffi, lib = ext
    n = block.count
    if n < run_min:
        return []
    max_out = n // max(run_min, 1) + 1
    out = ffi.new("uint32_t[]", 2 * max_out)
    found = lib.bpfm_find_runs(
        ffi.from_buffer("struct bpfm_op[]", block.ops), n, run_min, out, max_out
    )
    return [(out[2 * k], out[2 * k + 1]) for k in range(found)]


def _free_cpus() -> int:
    """Threads worth taking for the scan now (at most 2)."""
    from .._cpus import free  # start-up: only files big enough for the two-thread scan

    return free(2)

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

from .parsed import Handle
from .plan import OP, RUN_MIN, MapTable, OpBlock, find_runs_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    #: what a scan returns: (block or None, status, pos, line)
    ScanResult = tuple[Optional[OpBlock], int, int, int]

__all__ = ["Scanner", "available", "find_runs", "BLOCK_FIRST", "BLOCK_MAX"]

#: ops in the first block of a file, and the most in one block
BLOCK_FIRST, BLOCK_MAX = 256, 1 << 19
#: the shortest ordinary line ("map pop id 1\n")
MIN_LINE = 13

_EXT: Any = False
END, DECLINE, UNKNOWN, FULL = 0, 1, 2, 3


def _ext() -> Any:
    """``(ffi, lib)`` of the compiled module, or None without it (imported once)."""
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
    return _ext() is not None


class Scanner:
    """Scans one file's bytes.  ``resolve(handle)`` returns the map for a handle met
    for the first time, or None when it does not resolve (the reference then
    reports that line's error)."""

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
    ) -> None:
        ffi, lib = _ext()
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
        to BLOCK_MAX ops), so a long run stays in one block.  Releases the GIL while
        scanning.  Cost: O(bytes scanned)."""
        left = len(self.data) - pos
        cap = min(BLOCK_FIRST, left // MIN_LINE + 1)
        r = self._scan(pos, line, first_index, cap)
        if r[1] == FULL and cap == BLOCK_FIRST:
            big = self.block_max or BLOCK_MAX
            r = self._scan(pos, line, first_index, min(big, left // MIN_LINE + 1))
        return r

    def _scan(self, pos: int, line: int, first_index: int, cap: int) -> ScanResult:
        ffi, lib, s = self.ffi, self.lib, self.s
        kcap = cap * self.max_key
        vcap = cap * self.max_value
        ops = self.alloc("struct bpfm_op[]", cap)
        keys = self.alloc("char[]", max(kcap, 1))
        values = self.alloc("char[]", max(vcap, 1))
        s.ops, s.max_ops, s.keys, s.keys_cap = ops, cap, keys, kcap
        s.values, s.values_cap = values, vcap
        s.pos, s.line, s.nops, s.keys_used, s.values_used = pos, line, 0, 0, 0
        status = END
        while True:
            lib.bpfm_scan(s)
            status = s.status
            if status != UNKNOWN:
                break
            self._entry(s.unknown)
            if s.keys_used + self.max_key > kcap or s.values_used + self.max_value > vcap:
                status = FULL  # a bigger map than the buffers were sized for
                break
        n = s.nops
        block: OpBlock | None = None
        if n:
            block = OpBlock(
                self.table,
                ffi.buffer(ops, n * OP.size),
                ffi.buffer(keys, s.keys_used),
                ffi.buffer(values, s.values_used),
                n,
                first_index,
            )
        return block, status, s.pos, s.line


def find_runs(block: OpBlock, run_min: int = RUN_MIN) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: the maximal runs of at least ``run_min`` consecutive
    updates to one map with one flag, or deletes on one map, in order (the executor
    sends each whole to the batch engine).  Cost: O(count), in C when the extension is
    built, else :func:`bpfmaps.bpftool.plan.find_runs_py`."""
    fast = find_runs_c(block, run_min)
    return fast if fast is not None else find_runs_py(block, run_min)


def find_runs_c(block: OpBlock, run_min: int) -> list[tuple[int, int]] | None:
    """:func:`find_runs` in C (``bpfm_find_runs``), or None without the extension."""
    ext = _ext()
    if ext is None:
        return None
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


def json_nulls(data: Any, block: OpBlock, a: int, b: int, pretty: bool) -> list[Any] | None:
    """The JSON items of scanned ops [a, b) of ``block`` (see ``bpfm_json_nulls``) as a
    list of ASCII byte chunks, or None without the extension.  Cost: O(bytes of their lines)
    in C."""
    ext = _ext()
    if ext is None:
        return None
    ffi, lib = ext
    cbuf = ffi.from_buffer("char[]", data)
    ops = ffi.from_buffer("struct bpfm_op[]", block.ops)
    cap = 4 << 20
    used = ffi.new("uint64_t *")
    chunks = []
    alloc = ffi.new_allocator(should_clear_after_alloc=False)
    while a < b:
        out = alloc("char[]", cap)
        k = lib.bpfm_json_nulls(cbuf, len(data), ops + a, b - a, 1 if pretty else 0, out, cap, used)
        chunks.append(ffi.buffer(out, used[0]))  # no copy: written as it is
        a += k
    return chunks


#: BPFM_GROUP_* (scan.h): consecutive BPF_ANY updates / deletes on one map as one
#: UPDATE_BATCH / DELETE_BATCH in bpfm_exec_print
GROUP_UPDATE, GROUP_DELETE = 1, 2
#: map types whose UPDATE_BATCH / DELETE_BATCH apply the elements in order through the
#: single-element code, stopping at the first failure (generic_map_update_batch /
#: generic_map_delete_batch): hash, array, per-CPU and LRU variants (arrays have no
#: DELETE_BATCH; their deletes fail anyway)
_BATCH_UPDATE = frozenset({1, 2, 5, 6, 9, 10})
_BATCH_DELETE = frozenset({1, 5, 9, 10})


class Printer:
    """``bpfm_exec_print`` over one block on the kernel: updates, deletes and plain
    lookups in one C loop, the lookups' output collected in a buffer; consecutive
    upserts or deletes on one hash/array map go as one batch call (see scan.h)."""

    OUT_CAP = 1 << 20
    ffi: Any
    lib: Any
    maps: Any
    fds: Any
    ops: Any
    keys: Any
    values: Any
    vbuf: Any
    out: Any
    used: Any
    done: Any

    def __init__(self, block: OpBlock, fds: list[int], plain: list[bool]) -> None:
        ffi, lib = _ext()
        self.ffi, self.lib = ffi, lib
        t = block.table
        n = len(t.refs)
        self.maps = ffi.new("struct bpfm_print_map[]", max(n, 1))
        for i, ref in enumerate(t.refs):
            if ref is not None:
                m = self.maps[i]
                m.key_size, m.value_size, m.plain = ref.key_size, ref.value_size, plain[i]
                m.value_buf = t.value_sizes[i]
                m.batch = (GROUP_UPDATE if ref.type in _BATCH_UPDATE else 0) | (
                    GROUP_DELETE if ref.type in _BATCH_DELETE else 0
                )
        self.fds = ffi.new("int[]", fds or [0])
        self.ops = ffi.from_buffer("struct bpfm_op[]", block.ops)
        self.keys = ffi.from_buffer("char[]", block.keys)
        self.values = ffi.from_buffer("char[]", block.values)
        self.vbuf = ffi.new("char[]", max(t.value_sizes + t.key_sizes + [8]))
        self.out = ffi.new("char[]", self.OUT_CAP)
        self.used = ffi.new("uint64_t *")
        self.done = ffi.new("uint32_t *")

    def run(self, a: int, b: int, write: Callable[[str], Any]) -> tuple[int, int]:
        """Ops [a, b): (rc, done) as Backend.exec_ops (rc 1: op ``a + done`` is for the
        caller); the lookups' output is passed to ``write`` first.  Cost: one syscall
        per op."""
        used = self.used
        used[0] = 0
        rc = self.lib.bpfm_exec_print(
            self.ops + a, b - a, self.fds, self.keys, self.values, self.maps, self.vbuf,
            self.out, self.OUT_CAP, used, self.done,
        )  # fmt: skip
        if used[0]:
            write(self.ffi.buffer(self.out, used[0])[:].decode("ascii"))
        return rc, self.done[0]

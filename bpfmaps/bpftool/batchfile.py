"""Whole batch files -> a stream of commands, with consecutive updates packed into runs.

Pure Python, with an optional C fast path (``bpfmaps._ffi.lib.bpfm_fp_scan``): the
C scanner consumes a *run* of consecutive simple ``map update`` lines (same map,
same byte counts, same flag; plain numeric bytes; no quotes, continuations or
abbreviations) and writes their packed keys/values straight into buffers; the
Python lexer and grammar handle every other line.  Both paths produce exactly the
same :class:`UpdateRun` contents (a hypothesis test checks this), and the C path
never reports errors: a line it does not recognise is handed to Python, which
produces the error message.

Consecutive ``map update|push|enqueue`` commands with byte values to the same
resolved map with the same flag are merged into one :class:`UpdateRun` (keys and
values packed; the physical line of each element kept).  Python work per run is
constant for the fast path; per line it is zero.
"""

from __future__ import annotations

import os
import struct
import threading
from array import array
from collections.abc import Iterator
from typing import Any

from ..errors import ParseError
from ..types import FD_VALUE_TYPES, PERCPU_TYPES, round_up8
from .grammar import Command, Create, Delete, Handle, Pin, Update, parse_command
from .lexer import Lexer
from .quick import MAX_LINE, SPECIAL, Recognizer

__all__ = ["UpdateRun", "DeleteRun", "OpStream", "parse_batch", "flatten", "fastpath_available"]

#: bytes left in the file above which the C scan is split across threads
PARALLEL_MIN = 1 << 20
#: lines scanned with small buffers before a run is treated as long
FIRST_SCAN = 256
#: consecutive updates to one map with one flag that end an op stream: such a run
#: goes to the packed-run path (UPDATE_BATCH, parallel apply) instead
OP_STREAK = 32
#: ops per stream: the first stream of a file, and the most
OP_CAP_FIRST, OP_CAP_MAX = 256, 16384


class UpdateRun:
    """Consecutive byte-valued updates to one map with one flag.

    ``keys`` holds ``count * key_size`` bytes, ``values`` ``count * value_stride``
    bytes (the kernel value buffer: per-CPU values replicated), ``lines`` the
    physical line of each element, ``first_index`` the 0-based command number of
    the first element (element i is command ``first_index + i``)."""

    __slots__ = (
        "map",
        "handle",
        "flags",
        "key_size",
        "value_stride",
        "keys",
        "values",
        "lines",
        "first_index",
        "count",
    )

    def __init__(
        self,
        map: Any,
        handle: Handle,
        flags: int,
        key_size: int,
        value_stride: int,
        first_index: int,
    ) -> None:
        self.map = map
        self.handle = handle
        self.flags = flags
        self.key_size = key_size
        self.value_stride = value_stride
        self.keys = bytearray()
        self.values = bytearray()
        self.lines = array("I")
        self.first_index = first_index
        self.count = 0

    @property
    def line(self) -> int:
        return self.lines[0]

    def add(self, key: bytes | None, value: bytes, line: int) -> None:
        if key:
            self.keys += key
        self.values += value
        self.lines.append(line)
        self.count += 1

    def element(self, i: int) -> tuple[int, bytes | None, bytes]:
        """(line, key or None, value) of element i."""
        ks, vs = self.key_size, self.value_stride
        key = bytes(self.keys[i * ks : (i + 1) * ks]) if ks else None
        return self.lines[i], key, bytes(self.values[i * vs : (i + 1) * vs])

    def __repr__(self) -> str:
        return (
            f"UpdateRun({self.handle}, flags={self.flags}, count={self.count}, "
            f"lines {self.lines[0] if self.count else '-'}..{self.lines[-1] if self.count else '-'})"
        )


class DeleteRun:
    """Consecutive ``map delete`` commands on one map with a key (key_size > 0).

    ``keys`` holds ``count * key_size`` bytes, ``lines`` the physical line of each
    element, ``first_index`` the 0-based command number of the first element."""

    __slots__ = ("map", "handle", "key_size", "keys", "lines", "first_index", "count")

    def __init__(self, map: Any, handle: Handle, key_size: int, first_index: int) -> None:
        self.map = map
        self.handle = handle
        self.key_size = key_size
        self.keys = bytearray()
        self.lines = array("I")
        self.first_index = first_index
        self.count = 0

    @property
    def line(self) -> int:
        return self.lines[0]

    def add(self, key: bytes, line: int) -> None:
        self.keys += key
        self.lines.append(line)
        self.count += 1

    def element(self, i: int) -> tuple[int, bytes]:
        """(line, key) of element i."""
        ks = self.key_size
        return self.lines[i], bytes(self.keys[i * ks : (i + 1) * ks])

    def __repr__(self) -> str:
        return f"DeleteRun({self.handle}, count={self.count})"


class OpStream:
    """Consecutive simple ``map update`` (any flag) and ``map delete`` lines on any maps
    with keys, parsed by the C scanner: one record per command, executed in order by
    :meth:`Backend.exec_ops` (stop at the first failure).

    ``ops`` holds ``count`` records of :data:`bpfmaps.backend.OP_FORMAT` (kind, flags,
    map index, physical line, key and value offsets into ``data``).  ``maps``,
    ``handles``, ``key_sizes`` and ``value_sizes`` (value buffer sizes: per-CPU values
    replicated) are the per-file map table (append-only lists shared by every stream
    of the file).  Element i is command ``first_index + i``."""

    __slots__ = (
        "maps",
        "handles",
        "key_sizes",
        "value_sizes",
        "ops",
        "data",
        "first_index",
        "count",
    )

    def __init__(self, table: _OpTable, ops: bytes, data: bytes, count: int, first_index: int):
        self.maps = table.refs
        self.handles = table.handles
        self.key_sizes = table.key_sizes
        self.value_sizes = table.value_sizes
        self.ops = ops
        self.data = data
        self.count = count
        self.first_index = first_index

    def op(self, i: int) -> tuple[int, int, int, int, int, int]:
        """(kind, flags, map index, line, key_off, value_off) of op i."""
        return _OP.unpack_from(self.ops, i * _OP.size)

    @property
    def line(self) -> int:
        return self.op(0)[3]

    def element(self, i: int) -> tuple:
        """The :func:`flatten` tuple of op i."""
        kind, flags, m, line, ko, vo = self.op(i)
        key = bytes(self.data[ko : ko + self.key_sizes[m]])
        if kind == 1:
            value = bytes(self.data[vo : vo + self.value_sizes[m]])
            return ("update", self.handles[m], line, key, value, flags)
        return ("delete", self.handles[m], line, key)

    def __repr__(self) -> str:
        return f"OpStream(count={self.count}, first_index={self.first_index})"


class _OpTable:
    """The per-file map table of the op scanner (struct bpfm_fp_map[]), grown as
    handles are met; each handle resolved once."""

    def __init__(self, ffi) -> None:
        self.ffi = ffi
        self.cap = 8
        self.arr = ffi.new("struct bpfm_fp_map[]", self.cap)
        self.n = 0
        self.refs: list = []
        self.handles: list = []
        self.key_sizes: list[int] = []
        self.value_sizes: list[int] = []
        self.max_elem = 0

    def add(self, shape, handle: Handle, resolver, ncpus: int) -> None:
        if self.n == self.cap:
            arr = self.ffi.new("struct bpfm_fp_map[]", self.cap * 2)
            self.ffi.memmove(arr, self.arr, self.ffi.sizeof("struct bpfm_fp_map") * self.n)
            self.arr, self.cap = arr, self.cap * 2
        e = self.arr[self.n]
        e.handle_kind, e.map_id = shape.handle_kind, shape.map_id
        e.path_off, e.path_len = shape.path_off, shape.path_len
        try:
            m = resolver(handle)
        except Exception:
            m = None  # the Python parser reports the error at this line
        ok = (
            m is not None
            and getattr(m, "fd", 0) >= 0
            and m.type not in FD_VALUE_TYPES
            and m.key_size > 0
            and m.value_size > 0
        )
        ks = vs = slot = 0
        ncopies = 1
        if ok:
            percpu = m.type in PERCPU_TYPES
            ks = m.key_size
            slot = round_up8(m.value_size) if percpu else m.value_size
            ncopies = ncpus if percpu else 1
            vs = slot * ncopies
            e.key_size, e.value_size, e.slot, e.ncopies = ks, m.value_size, slot, ncopies
            self.max_elem = max(self.max_elem, ks + vs)
        e.ok = 1 if ok else 0
        self.n += 1
        self.refs.append(m if ok else None)
        self.handles.append(handle)
        self.key_sizes.append(ks)
        self.value_sizes.append(vs)


_OP = struct.Struct("=IIIIQQ")  # bpfmaps.backend.OP_FORMAT
_FAST: Any = False


def _fast():
    """(ffi, lib) when the compiled fast path is available, else None."""
    global _FAST
    if _FAST is False:
        try:
            from .._ffi import ffi, lib

            lib.bpfm_fp_scan  # noqa: B018 - check the symbol exists
            _FAST = (ffi, lib)
        except (ImportError, AttributeError):
            _FAST = None
    return _FAST


def fastpath_available() -> bool:
    """True when the compiled C fast path can be used."""
    return _fast() is not None


class _FastScanner:
    def __init__(self, data: bytes, ffi, lib) -> None:
        self.ffi, self.lib = ffi, lib
        self.data = data
        self.cbuf = ffi.from_buffer("char[]", data)
        self.shape = ffi.new("struct bpfm_fp_shape *")
        self.end = ffi.new("uint64_t *")
        self.end_line = ffi.new("uint32_t *")
        self.table = _OpTable(ffi)
        self.op_cap = OP_CAP_FIRST
        self.nops = ffi.new("uint32_t *")
        self.used = ffi.new("uint64_t *")
        self.status = ffi.new("int *")
        self.unknown = ffi.new("struct bpfm_fp_shape *")
        self.alloc = ffi.new_allocator(should_clear_after_alloc=False)

    def shape_handle(self, s) -> Handle:
        if s.handle_kind == 1:
            return Handle("id", s.map_id)
        return Handle("pinned", self.data[s.path_off : s.path_off + s.path_len].decode("latin-1"))

    def ops(self, pos: int, line: int, resolver, ncpus: int):
        """Scan an op stream at pos.  Returns (count, ops bytes, data bytes, end,
        end_line, status); status as bpfm_fp_ops (resolving unknown handles here)."""
        ffi, lib, t = self.ffi, self.lib, self.table
        cap = self.op_cap
        opbuf = self.alloc("struct bpfm_op[]", cap)
        dcap = cap * max(t.max_elem, 64)
        data = self.alloc("char[]", dcap)
        nops, used, status, unknown = self.nops, self.used, self.status, self.unknown
        nops[0] = 0
        used[0] = 0
        size = len(self.data)
        while True:
            lib.bpfm_fp_ops(
                self.cbuf, size, pos, line, t.arr, t.n, opbuf, nops, cap, data, used, dcap,
                OP_STREAK, unknown, self.end, self.end_line, status,
            )  # fmt: skip
            pos, line = self.end[0], self.end_line[0]
            if status[0] != 1:
                break
            t.add(unknown, self.shape_handle(unknown), resolver, ncpus)
            if t.max_elem > dcap - used[0]:
                status[0] = 2
                break
        n = nops[0]
        if status[0] == 2 and cap < OP_CAP_MAX:
            self.op_cap = cap * 2
        if n == 0:
            return 0, b"", b"", pos, line, status[0]
        return (
            n,
            ffi.buffer(opbuf, n * _OP.size)[:],
            ffi.buffer(data, used[0])[:],
            pos,
            line,
            status[0],
        )

    def probe(self, pos: int, line: int) -> int:
        return self.lib.bpfm_fp_scan(
            self.cbuf, len(self.data), pos, line, 1, self.shape, 1,
            self.ffi.NULL, self.ffi.NULL, 0, 0, 0, self.ffi.NULL, self.end, self.end_line,
        )  # fmt: skip

    def handle(self) -> Handle:
        s = self.shape
        if s.handle_kind == 1:
            return Handle("id", s.map_id)
        return Handle("pinned", self.data[s.path_off : s.path_off + s.path_len].decode("latin-1"))

    def segment(self, start, stop, line, key_size, value_stride, slot_stride, ncopies, min_line):
        """Consume simple lines of the current shape in data[start:stop] (stop is a line
        boundary).  Releases the GIL.  Returns (count, keys, values, lines, end, end_line)."""
        ffi = self.ffi
        cap = (stop - start) // min_line + 1
        kbuf = ffi.new("char[]", max(1, cap * key_size))
        vbuf = ffi.new("char[]", max(1, cap * value_stride))
        lbuf = ffi.new("uint32_t[]", cap)
        end = ffi.new("uint64_t *")
        end_line = ffi.new("uint32_t *")
        count = self.lib.bpfm_fp_scan(
            self.cbuf, stop, start, line, 0, self.shape, cap,
            kbuf, vbuf, value_stride, slot_stride, ncopies, lbuf, end, end_line,
        )  # fmt: skip
        return count, kbuf, vbuf, lbuf, end[0], end_line[0]


def parse_batch(
    data: bytes,
    resolver: Any,
    *,
    file: str = "-",
    possible_cpus: int = 1,
    compat: bool = False,
    fast: bool = True,
    quick_path: bool = True,
) -> Iterator[UpdateRun | DeleteRun | Command]:
    """Parse a batch file into :class:`UpdateRun` and :class:`Command` objects, in order.

    A generator: in incremental (compat) use the caller executes each item before
    the next line is parsed; for parse-everything-first, ``list()`` it.  A pending
    run is yielded before a ParseError is raised, so incremental callers apply the
    lines before the bad one, like bpftool.

    ``resolver`` is called with each map :class:`Handle` (see grammar); if it has
    ``declare(cmd)`` it is told about ``map create``/``map pin`` commands so later
    ``pinned FILE`` handles resolve to them.  ``fast`` enables the C path when the
    extension is built.  Raises ParseError/LexError.  Cost: O(len(data)); Python
    work is per run for fast-path lines, per line otherwise.
    """
    lexer = Lexer(data, file)
    fp = _fast() if fast else None
    scanner = _FastScanner(data, *fp) if fp is not None and data else None
    quick = _Quick(data, resolver, file, possible_cpus, compat) if quick_path and data else None
    declare = getattr(resolver, "declare", None)
    pending: Any = None
    items: list = []
    try:
        while True:
            if scanner is not None:
                pending, consumed = _fast_runs(scanner, lexer, resolver, pending, possible_cpus)
                if consumed is not None:
                    yield from consumed
                    continue
            if quick is not None:
                pending, status = quick.run(lexer, pending, items)
                if items:
                    yield from items
                    items.clear()
                if status == _Q_EOF:
                    break
                if status != _Q_STOP:
                    continue
            cmd = lexer.next_command()
            if cmd is None:
                break
            c = parse_command(cmd, resolver, file=file, possible_cpus=possible_cpus, compat=compat)
            tc = type(c)
            if tc is Update and c.value_handle is None:
                m = c.map
                if type(pending) is UpdateRun and pending.map is m and pending.flags == c.flags:
                    pending.add(c.key, c.value, c.line)
                    continue
                if pending is not None:
                    yield pending
                pending = UpdateRun(m, c.handle, c.flags, m.key_size, len(c.value), c.index)
                pending.add(c.key, c.value, c.line)
                continue
            if tc is Delete and c.map.key_size:
                m = c.map
                if type(pending) is DeleteRun and pending.map is m:
                    pending.add(c.key, c.line)
                    continue
                if pending is not None:
                    yield pending
                pending = DeleteRun(m, c.handle, m.key_size, c.index)
                pending.add(c.key, c.line)
                continue
            if pending is not None:
                yield pending
                pending = None
            if declare is not None and isinstance(c, (Create, Pin)):
                declare(c)
            yield c
    except ParseError:
        if items:
            yield from items
        if pending is not None:
            yield pending
        raise
    if pending is not None:
        yield pending


_Q_STOP, _Q_EOF, _Q_MORE, _Q_TRY_C = range(4)
_BLANK = ("blank",)


class _Quick:
    """The pure-Python recognizer (:mod:`.quick`) driven over physical lines."""

    #: consecutive update lines after which the C path is tried again
    STREAK = 8
    #: items collected per call (keeps incremental mode streaming)
    MAX_ITEMS = 4096

    def __init__(self, data, resolver, file, ncpus, compat) -> None:
        self.data = data
        self.rec = Recognizer(resolver, file=file, possible_cpus=ncpus, compat=compat)
        self.special = -1  # position of the next special character (>= pos), or len(data)

    def run(self, lexer: Lexer, pending, items: list):
        """Consume ordinary lines at the lexer position, appending finished items.
        Returns (pending, status)."""
        data = self.data
        size = len(data)
        pos, line, count = lexer.pos, lexer.line, lexer.count
        line_start = lexer.line_start
        special = self.special
        rec = self.rec
        fast_update = rec.fast_update
        find = data.find
        search = SPECIAL.search
        streak = 0
        status = _Q_EOF
        max_items = self.MAX_ITEMS
        while pos < size:
            nl = find(b"\n", pos, pos + MAX_LINE)
            if nl < 0:
                if size - pos >= MAX_LINE:
                    status = _Q_STOP
                    break
                end = size
            else:
                end = nl + 1
            if special < pos:
                mt = search(data, pos)
                special = mt.start() if mt is not None else size
            cut = end
            if special < end:
                if data[special] != 35:  # not '#'
                    status = _Q_STOP
                    break
                cut = special
            text = data[pos:cut].decode("latin-1")
            r = fast_update(text)
            if r is None:
                w = text.split()
                r = rec.line(w) if w else _BLANK
            if r is not _BLANK:
                if r is None:
                    status = _Q_STOP
                    break
                if r[0] == "update":
                    st = r[1]
                    m = st.map
                    if type(pending) is UpdateRun and pending.map is m and pending.flags == r[4]:
                        pending.add(r[2], r[3], line)
                    else:
                        if pending is not None:
                            items.append(pending)
                        pending = UpdateRun(m, st.handle, r[4], st.ks, len(r[3]), count)
                        pending.add(r[2], r[3], line)
                    streak += 1
                else:
                    c = r[1]
                    c.line, c.index, c.words = line, count, w
                    if type(c) is Delete and c.map.key_size:
                        streak += 1  # the C scanner takes deletes too
                        m = c.map
                        if type(pending) is DeleteRun and pending.map is m:
                            pending.add(c.key, line)
                        else:
                            if pending is not None:
                                items.append(pending)
                            pending = DeleteRun(m, c.handle, m.key_size, count)
                            pending.add(c.key, line)
                    else:
                        streak = 0
                        if pending is not None:
                            items.append(pending)
                            pending = None
                        items.append(c)
                count += 1
            pos = end
            if nl >= 0:
                line += 1
                line_start = end
            if streak >= self.STREAK:
                status = _Q_TRY_C
                break
            if len(items) >= max_items:
                status = _Q_MORE
                break
        self.special = special
        lexer.pos, lexer.line, lexer.count, lexer.line_start = pos, line, count, line_start
        return pending, status


def _nthreads() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):  # pragma: no cover
        return 1


def _fast_runs(scanner: _FastScanner, lexer: Lexer, resolver, pending, ncpus):
    """Try the C path at the lexer position.  Returns (pending, items) where items is
    None when Python must parse the next line, else a list of finished runs.

    Large remainders are split at line boundaries into one segment per CPU, scanned
    in parallel threads (the C scan releases the GIL); segments are joined in order
    up to the first one that stopped early (later ones are discarded and rescanned)."""
    pos, line = lexer.pos, lexer.line
    n, ops, data, end, end_line, _status = scanner.ops(pos, line, resolver, ncpus)
    if n:
        done: list = []
        if pending is not None:
            done.append(pending)
        done.append(OpStream(scanner.table, ops, data, n, lexer.count))
        lexer.count += n
        _advance(lexer, end, end_line)
        return None, done
    if end != pos:  # skipped blank/comment lines
        _advance(lexer, end, end_line)
        return pending, []
    n = scanner.probe(pos, line)
    end, end_line = scanner.end[0], scanner.end_line[0]
    if n == 0:
        if end != pos:  # skipped blank/comment lines
            _advance(lexer, end, end_line)
            return pending, []
        return pending, None
    shape = scanner.shape
    try:
        m = resolver(scanner.handle())
    except Exception:
        return pending, None  # Python reports the error for this line
    if m.type in FD_VALUE_TYPES or m.key_size != shape.key_size or m.value_size != shape.value_size:
        return pending, None
    percpu = m.type in PERCPU_TYPES
    slot = round_up8(m.value_size) if percpu else m.value_size
    ncopies = ncpus if percpu else 1
    stride = slot * ncopies
    ks = m.key_size
    done: list = []
    if type(pending) is not UpdateRun or pending.map is not m or pending.flags != shape.flags:
        if pending is not None:
            done.append(pending)
        pending = UpdateRun(m, scanner.handle(), shape.flags, ks, stride, lexer.count)
    data = lexer.data
    size = len(data)
    # a simple line has >= 2 chars per byte word plus ~20 for the keywords and handle
    min_line = 2 * (shape.key_size + shape.value_size) + 20
    # First a short scan with small buffers: in files that mix commands most runs
    # are short, and buffers sized for the whole rest of the file would cost
    # O(file) per run.  Only a run that fills them goes on to the big (parallel) scan.
    stop = data.find(b"\n", pos + FIRST_SCAN * min_line)
    stop = size if stop < 0 else stop + 1
    count, kbuf, vbuf, lbuf, end, end_line = scanner.segment(
        pos, stop, line, ks, stride, slot, ncopies, min_line
    )
    ffi = scanner.ffi
    if count:
        pending.keys += ffi.buffer(kbuf, count * ks)
        pending.values += ffi.buffer(vbuf, count * stride)
        pending.lines.frombytes(ffi.buffer(lbuf, count * 4))
        pending.count += count
        lexer.count += count
    _advance(lexer, end, end_line)
    if end != stop or end >= size:
        return pending, done
    pos, line = end, end_line
    nseg = _nthreads() if size - pos >= PARALLEL_MIN else 1
    bounds = [pos]
    for k in range(1, nseg):
        nl = data.find(b"\n", pos + (size - pos) * k // nseg)
        if nl < 0 or nl + 1 <= bounds[-1] or nl + 1 >= size:
            break
        bounds.append(nl + 1)
    bounds.append(size)
    nseg = len(bounds) - 1
    results: list = [None] * nseg

    def work(k: int) -> None:
        results[k] = scanner.segment(
            bounds[k], bounds[k + 1], line if k == 0 else 0, ks, stride, slot, ncopies, min_line
        )

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, nseg)]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    ffi, lib = scanner.ffi, scanner.lib
    base_line = 0
    for k in range(nseg):
        count, kbuf, vbuf, lbuf, end, end_line = results[k]
        if k:
            lib.bpfm_fp_shift_lines(lbuf, count, base_line)
            end_line += base_line
        if count:
            pending.keys += ffi.buffer(kbuf, count * ks)
            pending.values += ffi.buffer(vbuf, count * stride)
            pending.lines.frombytes(ffi.buffer(lbuf, count * 4))
            pending.count += count
            lexer.count += count
        results[k] = None
        _advance(lexer, end, end_line)
        if end != bounds[k + 1]:
            break
        base_line = end_line
    return pending, done


def _advance(lexer: Lexer, pos: int, line: int) -> None:
    if line != lexer.line:
        lexer.line_start = pos
    lexer.pos = pos
    lexer.line = line


def flatten(items) -> list[tuple]:
    """Per-command view of parse_batch output (for tests/comparisons): UpdateRun
    elements become ``("update", handle, line, key, value, flags)`` tuples, DeleteRun
    elements ``("delete", handle, line, key)``, OpStream elements either; other
    commands stay as they are."""
    out: list = []
    for it in items:
        if isinstance(it, OpStream):
            out.extend(it.element(i) for i in range(it.count))
        elif isinstance(it, UpdateRun):
            for i in range(it.count):
                line, key, value = it.element(i)
                out.append(("update", it.handle, line, key, value, it.flags))
        elif isinstance(it, DeleteRun):
            for i in range(it.count):
                line, key = it.element(i)
                out.append(("delete", it.handle, line, key))
        else:
            out.append(it)
    return out

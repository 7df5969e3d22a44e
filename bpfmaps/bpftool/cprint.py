"""The C printers' drivers: output formatted in ``bpfmaps/_native`` from the scanner's
blocks and from the kernel, never a Python object per entry.

:class:`Printer` runs a block's updates, deletes and plain lookups in one C loop
(``bpfm_exec_print``) and hands the lookups' output on in chunks; :func:`json_nulls`,
:func:`json_write` and :func:`json_write_items` write the JSON items of scanned ops
(``bpfm_json_nulls``, ``bpfm_json_items``); :func:`dump_map` is bpftool's ``map dump``
walk in C (``bpfm_dump_print``), maps with BTF formatted there by their compiled
program (:class:`FormatRun`, ``btffmt.h``).  The compiled module comes from the scanner's driver
(:func:`bpfmaps.bpftool.scan.extension`): without it the JSON writers return False
and the callers format in Python; :class:`Printer` and :func:`dump_map` are used only
when it is there.
"""

from __future__ import annotations

from errno import EINTR, ENOENT

from ..types import PERCPU_INTS
from .plan import OpBlock
from .scan import extension

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = [
    "FormatRun",
    "FormattedEntry",
    "Printer",
    "dump_map",
    "json_nulls",
    "json_write",
    "json_write_items",
]


def json_nulls(data: Any, block: OpBlock, a: int, b: int, pretty: bool) -> list[Any] | None:
    """The JSON items of scanned ops [a, b) of ``block`` (see ``bpfm_json_nulls``) as a
    list of ASCII byte chunks (concatenated, the items in bpftool's layout: "," between
    compact ones), or None without the extension.  Cost: O(bytes of their lines) in C,
    plus a copy of each chunk."""
    chunks: list[bytes] = []
    copy = chunks.append
    sep = b",\n" if pretty else b","
    if not _json_run(data, block, a, b, pretty, 4 << 20, sep, lambda c: copy(bytes(c))):
        return None
    return chunks


#: bytes of the buffer :func:`json_write` formats into and writes from (reused: its
#: pages stay in the cache, no new ones per 4 MiB of output)
JSON_WRITE_BUF = 1 << 20


def json_write(
    data: Any, block: OpBlock, a: int, b: int, write: Callable[[Any], Any], pretty: bool = False
) -> bool:
    """Write the compact JSON items of scanned ops [a, b) of ``block`` (separated by
    ``,``, as :func:`json_nulls` gives them) through ``write(chunk)``, a binary
    stream's write: chunks of at most :data:`JSON_WRITE_BUF` bytes from one buffer that
    is reused once ``write`` returns (the io contract of ``write``).  False without the
    extension (nothing written).  ``pretty``: bpftool's -jp layout of the items
    (``bpfm_json_items``).  Cost: O(bytes of their lines) in C, a write per MiB."""
    return _json_run(data, block, a, b, False, JSON_WRITE_BUF, b",", write, jp=pretty)


def json_write_items(
    data: Any,
    block: OpBlock,
    a: int,
    b: int,
    vals: bytes,
    write: Callable[[Any], Any],
    fmts: Optional[list[Any]] = None,
    pretty: bool = False,
) -> None:
    """:func:`json_write` for ops [a, b) of ``block`` among which are lookups that the
    exec loop ran in JSON mode (``vals``: their values, in order, as it copied them):
    their items carry bpftool's ``{"key": [...], "value": [...]}`` output, and for the
    maps with a :class:`FormatRun` in ``fmts`` (by map) its ``"formatted"`` object;
    ``pretty``: in bpftool's -jp layout.  Needs the extension.  Cost: O(bytes written)
    in C, a write per MiB."""
    _json_run(data, block, a, b, False, JSON_WRITE_BUF, b",", write, vals, fmts, pretty)


#: the output buffer of bpfm_dump_print (plus room for two entries)
DUMP_BUF = 1 << 20
#: the most entries, and bytes of keys and values, one LOOKUP_BATCH of a dump reads
DUMP_BATCH = 4096
DUMP_BATCH_BYTES = 1 << 20
#: map types whose LOOKUP_BATCH gives the entries in GET_NEXT_KEY's order: hash, array,
#: per-CPU hash and array, LRU hash and LRU per-CPU hash (the kernel's htab batch walks
#: the buckets, and generic_map_lookup_batch the keys, as GET_NEXT_KEY does)
DUMP_BATCH_TYPES = frozenset({1, 2, 5, 6, 9, 10})
#: LOOKUP_BATCH calls made by dumps in this process, and how many a refusal ended
#: (dump_map adds to them; diagnostics and tests)
dump_batch_calls = [0, 0]


class FormatRun:
    """A compiled BTF output program (:class:`bpfmaps.btf.fmtprog.Program`) as the C
    ``struct bpfm_fmt_prog`` it runs from, with the JSON writer's state it starts
    from: ``depth``, ``pretty`` and ``sep`` (a "," pending).  ``chunked``: each
    :func:`dump_map` chunk starts with no "," pending (a JSON list's items, joined by
    the caller's writer).  Needs the extension."""

    __slots__ = ("prog", "ops", "lits", "program", "chunked")

    def __init__(self, program: Any, depth: int, pretty: bool, chunked: bool = False) -> None:
        ffi, _ = extension()
        self.program = program
        self.ops = ffi.from_buffer("struct bpfm_fmt_op[]", program.ops)
        self.lits = ffi.from_buffer("char[]", program.lits)
        p = self.prog = ffi.new("struct bpfm_fmt_prog *")
        p.ops, p.nops, p.lits = self.ops, len(program), self.lits
        p.depth, p.pretty, p.sep = depth, int(pretty), 0
        p.need = program.need(depth)
        self.chunked = chunked

    @property
    def sep(self) -> bool:
        """A "," is pending (the writer's state after the last entry)."""
        return bool(self.prog.sep)

    @sep.setter
    def sep(self, pending: bool) -> None:
        self.prog.sep = int(pending)

    def format(self, key: bytes, value: bytes) -> str:
        """One entry (``key``: the key's bytes, ``value``: the value buffer's) as the
        program prints it, from the state the run is in (which it updates).  Cost:
        O(ops + bytes written); no syscall."""
        ffi, lib = extension()
        out = ffi.new("char[]", max(self.prog.need, 1))
        n = lib.bpfm_fmt_run(self.prog, key or b"\0", value or b"\0", out)
        text: str = ffi.buffer(out, n)[:].decode("ascii")
        return text


class FormattedEntry:
    """The ``"formatted"`` member of one ``-j`` element, printed by a map's program
    (:class:`FormatRun` of the entry's object) into the caller's JSON writer at its
    depth and layout: :class:`bpfmaps.btf.dumper.Formatted`'s twin."""

    __slots__ = ("run", "key", "value")

    def __init__(self, run: FormatRun, key: bytes, value: bytes) -> None:
        self.run, self.key, self.value = run, key, value

    def write_json(self, w: Any) -> None:
        """Write the entry's BTF object into the JsonWriter ``w``.  O(ops + bytes)."""
        run = self.run
        p = run.prog
        p.depth, p.pretty, p.sep = w.depth, int(w.pretty), int(bool(w.sep))
        p.need = run.program.need(w.depth)
        w.parts.append(run.format(self.key, self.value))
        w.sep = ","


def dump_map(
    fd: int,
    key_size: int,
    value_size: int,
    ncpus: int,
    json: int,
    steps: int,
    emit: Callable[[str], Any],
    entry_error: Callable[[bytes, int], Any],
    run: Optional[FormatRun] = None,
    batch: bool = False,
) -> tuple[bool, int, int, int, Optional[bytes]]:
    """bpftool's ``map dump`` walk of one map, in C (``bpfm_dump_print``:
    GET_NEXT_KEY and LOOKUP_ELEM a key, or with ``batch`` the entries of LOOKUP_BATCH
    calls (the same entries in the same order, one syscall for up to
    :data:`DUMP_BATCH` of them; where the kernel refuses a call, the walk goes on from
    the last entry by GET_NEXT_KEY), the entry formatted there; ``json``: 0 plain, 1
    compact JSON, d >= 2 pretty JSON elements of a list at depth d - 1; ``ncpus`` > 0: a
    per-CPU map's values, one a possible CPU, as bpftool prints them; ``run``: a map
    with BTF, each entry printed by its program instead, ``json`` unused): each chunk of
    formatted entries to ``emit``, each key whose lookup failed
    to ``entry_error(key, errno)`` (the walk goes on from it), at most ``steps`` keys.
    Returns ``(done, err, count, steps left, last key or None)``: done False when a
    stop signal came (the caller's walk goes on from the last key); err the errno of a
    GET_NEXT_KEY that failed with other than ENOENT, else 0.  Needs the extension.
    Cost: two syscalls a key (batch: one a DUMP_BATCH keys), no Python per entry.
    Kernel floor for batch: 5.6 (older kernels refuse the call: the walk then)."""
    ffi, lib = extension()
    nv = max(ncpus, 1)
    need = 7 * (key_size + nv * value_size) + 64 + 16 * json + (nv * (48 + 12 * json))
    prog = ffi.NULL
    if run is not None:
        prog, need = run.prog, run.prog.need
    cap = DUMP_BUF + 2 * need
    out = ffi.new_allocator(should_clear_after_alloc=False)("char[]", cap)
    prev, kbuf = ffi.new("char[]", max(key_size, 1)), ffi.new("char[]", max(key_size, 1))
    vbuf = ffi.new("char[]", max(nv * ((value_size + 7) & ~7) if ncpus else value_size, 1))
    have, used = ffi.new("int *"), ffi.new("uint64_t *")
    count, lerr = ffi.new("uint32_t *"), ffi.new("int *")
    mode = json
    bat = ffi.NULL
    if batch:
        stride = nv * ((value_size + 7) & ~7) if ncpus else value_size
        n = max(1, min(DUMP_BATCH, DUMP_BATCH_BYTES // max(key_size + stride, 1)))
        tok = max(key_size, 8)
        bat = ffi.new("struct bpfm_dump_batch *")
        keep = [ffi.new("char[]", n * key_size), ffi.new("char[]", n * max(stride, 1))]
        keep += [ffi.new("char[]", tok), ffi.new("char[]", tok)]
        bat.keys, bat.vals, bat.in_tok, bat.out_tok = keep
        bat.cap, bat.vstride, bat.tok_size = n, stride, tok
    while steps > 0:
        used[0] = 0
        before = count[0]
        if run is not None and run.chunked:
            prog.sep = 0
        rc = lib.bpfm_dump_print(
            fd, key_size, value_size, ncpus, mode, prog, bat, prev, have, kbuf, vbuf, steps, out,
            cap, used, count, lerr,
        )  # fmt: skip
        if used[0]:
            emit(str(ffi.buffer(out, used[0]), "ascii"))  # (decoded from the buffer: one copy)
        steps -= count[0] - before
        if rc == 3:  # a LOOKUP_BATCH refused: on by GET_NEXT_KEY from the last entry
            dump_batch_calls[0] += bat.calls
            dump_batch_calls[1] += 1
            bat = ffi.NULL
        elif rc == 1:  # the lookup of kbuf's key failed: shown, and the walk goes on from it
            key = ffi.buffer(kbuf, key_size)[:]
            entry_error(key, -lerr[0])
            ffi.memmove(prev, key, key_size)
            have[0] = 1
            steps -= 1
        elif rc < 0:
            if bat != ffi.NULL:
                dump_batch_calls[0] += bat.calls
            last = ffi.buffer(prev, key_size)[:] if have[0] else None
            if rc == -EINTR:
                return False, 0, count[0], steps, last
            return True, 0 if rc == -ENOENT else -rc, count[0], steps, last
    if bat != ffi.NULL:
        dump_batch_calls[0] += bat.calls
    return True, 0, count[0], steps, ffi.buffer(prev, key_size)[:] if have[0] else None


def _json_run(
    data: Any,
    block: OpBlock,
    a: int,
    b: int,
    pretty: bool,
    cap: int,
    sep: bytes,
    emit: Any,
    vals: Optional[bytes] = None,
    fmts: Optional[list[Any]] = None,
    jp: bool = False,
) -> bool:
    """``bpfm_json_nulls`` over ops [a, b) into one buffer of ``cap`` bytes, reused:
    ``emit(chunk)`` gets a view of each chunk (``sep`` in front of all but the first)
    before the next is formatted; with ``vals``, ``bpfm_json_items``: the lookups
    among the ops get their outputs from those values (and ``fmts``' programs); ``jp``:
    bpftool's -jp layout (``bpfm_json_items``, with or without ``vals``).  False
    without the extension."""
    ext = extension()
    if ext is None:
        return False
    ffi, lib = ext
    cbuf = ffi.from_buffer("char[]", data)
    ops = ffi.from_buffer("struct bpfm_op[]", block.ops)
    buf = ffi.new_allocator(should_clear_after_alloc=False)("char[]", cap)
    ns = len(sep)
    ffi.memmove(buf, sep, ns)
    used = ffi.new("uint64_t *")
    n, mode, start = len(data), 1 if pretty else 0, ns
    if vals is not None:
        refs = block.table.refs
        keys, cv = ffi.from_buffer("char[]", block.keys), ffi.from_buffer("char[]", vals)
        ks = ffi.new("uint32_t[]", [r.key_size if r is not None else 0 for r in refs] or [0])
        vs = ffi.new("uint32_t[]", [r.value_size if r is not None else 0 for r in refs] or [0])
        nc = ffi.new(
            "uint32_t[]",
            [block.table.ncpus if r is not None and r.type in PERCPU_INTS else 0 for r in refs]
            or [0],
        )  # (a per-CPU map's lookups: "values", one object a possible CPU)
        vused = ffi.new("uint64_t *")
        progs = ffi.NULL
        if fmts is not None and any(r is not None for r in fmts):
            progs = ffi.new(
                "struct bpfm_fmt_prog *[]", [r.prog if r is not None else ffi.NULL for r in fmts]
            )
            for r in fmts:  # the "formatted" object: depth 3 in -jp items, else compact
                if r is not None:
                    p = r.prog
                    p.depth, p.pretty = (3, 1) if jp else (0, 0)
                    p.need = r.program.need(p.depth)
    while a < b:
        if vals is None and not jp:
            k = lib.bpfm_json_nulls(cbuf, n, ops + a, b - a, mode, buf + ns, cap - ns, used)
        else:
            k = lib.bpfm_json_items(
                cbuf, n, ops + a, b - a, int(jp),
                *((keys, ks, vs, nc, progs, cv, vused) if vals is not None else
                  (ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL)),
                buf + ns, cap - ns, used,
            )  # fmt: skip
        emit(ffi.buffer(buf + start, used[0] + ns - start))
        start = 0
        a += k
    return True


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
    lookups in one C loop, the lookups' output collected in a buffer (``plain[m]``: 1
    their text, for a map with BTF printed by ``fmts[m]``, its :class:`FormatRun`; 2 in
    JSON mode their values as they are: ``raw``, handed to ``write``
    as bytes); consecutive upserts or deletes on one hash/array map go as one batch
    call (see scan.h)."""

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

    def __init__(
        self, block: OpBlock, fds: list[int], plain: list[int], fmts: Optional[list[Any]] = None
    ) -> None:
        ffi, lib = extension()
        self.ffi, self.lib = ffi, lib
        t = block.table
        n = len(t.refs)
        self.maps = ffi.new("struct bpfm_print_map[]", max(n, 1))
        for i, ref in enumerate(t.refs):
            if ref is not None:
                m = self.maps[i]
                m.key_size, m.value_size, m.plain = ref.key_size, ref.value_size, plain[i]
                if fmts is not None and fmts[i] is not None and plain[i] == 1:
                    m.fmt = fmts[i].prog  # (the FormatRun stays alive in self.fmts)
                m.value_buf = t.value_sizes[i]
                if ref.type in PERCPU_INTS and ref.value_size:  # its slots, round_up8 each
                    m.ncpus = t.value_sizes[i] // ((ref.value_size + 7) & ~7)
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
        self.raw = 2 in plain
        self.fmts = fmts

    def run(self, a: int, b: int, write: Callable[[Any], Any]) -> tuple[int, int]:
        """Ops [a, b): (rc, done) as Backend.exec_ops (rc 1: op ``a + done`` is for the
        caller; rc 2: the output buffer was full, call again from op ``a + done``);
        the lookups' output is passed to ``write`` first.  Cost: one syscall per op,
        or one program run per segment (an exec program attached)."""
        used = self.used
        used[0] = 0
        rc = self.lib.bpfm_exec_print(
            self.ops + a, b - a, self.fds, self.keys, self.values, self.maps, self.vbuf,
            self.out, self.OUT_CAP, used, self.done,
        )  # fmt: skip
        if used[0]:
            chunk = self.ffi.buffer(self.out, used[0])[:]
            write(chunk if self.raw else chunk.decode("ascii"))
        return rc, self.done[0]

"""BTF output compiled: a map's key and value types walked once into a program of
byte-level ops that ``bpfmaps/_native/btffmt.c`` runs over each entry.

The program prints what :mod:`bpfmaps.btf.dumper` prints for the same bytes, op for op
(a hypothesis test holds the two equal): the type walk, the member names and the
output layout are decided here, once a map; what depends on the bytes (numbers, a
char array printed as a string or as its elements, an enumerator's name, a null
pointer) is decided in C.  Where the dumper would stop with an error (FWD, FLOAT,
TYPE_TAG met directly, an enum of another size, too deep, over its budget), where an
op would read past the entry, or where the program would be too large,
:func:`compile_entry` returns None and the caller formats in Python.

Pure Python, no compiled code.  Cost: O(the types' printed size) once a map.
"""

from __future__ import annotations

import struct

from ..json_writer import quote
from ..types import PERCPU_INTS
from .kinds import KIND as Kind  # (the numbers as plain ints: no enum built)

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: the output path loads no typing)
    from typing import Any, Optional

    from .model import BTF

__all__ = ["MAX_OPS", "OPS", "Program", "compile_entry"]

#: op codes of btffmt.c (a test checks them against the C source)
OPS = {
    "BEGIN": 1,
    "END": 2,
    "NAME": 3,
    "TOKEN": 4,
    "UINT": 5,
    "SINT": 6,
    "BITS": 7,
    "CHAR": 8,
    "BOOL": 9,
    "ENUM": 10,
    "PTR": 11,
    "STRARR": 12,
    "HEXARR": 13,
}
_BEGIN, _END, _NAME, _TOKEN, _UINT, _SINT, _BITS = 1, 2, 3, 4, 5, 6, 7
_CHAR, _BOOL, _ENUM, _PTR, _STRARR, _HEXARR = 8, 9, 10, 11, 12, 13
#: flags: the op reads the value (else the key); JSON rules (else plain)
SRC_VALUE = 0x100
JSON = 0x10000
#: the most ops a program may have (a value of 4096 bytes is far below it)
MAX_OPS = 1 << 18
_MAX_DEPTH = 32

_K = Kind
_MODIFIERS = frozenset((_K.TYPEDEF, _K.VOLATILE, _K.CONST, _K.RESTRICT))
_RESOLVED = frozenset((_K.TYPEDEF, _K.VOLATILE, _K.CONST, _K.RESTRICT, _K.TYPE_TAG, _K.VAR))
_STR_SKIP = frozenset((_K.VOLATILE, _K.CONST, _K.RESTRICT, _K.TYPE_TAG))


class _Decline(Exception):
    """The dumper would stop with an error here, or the program cannot be built."""


class Program:
    """A compiled entry: ``ops`` (native uint32 quadruples, ``struct bpfm_fmt_op``),
    ``lits`` (the literals they slice) and the bound on the bytes one run writes."""

    __slots__ = ("ops", "lits", "base", "eols")

    def __init__(self, ops: bytes, lits: bytes, base: int, eols: int) -> None:
        self.ops = ops
        self.lits = lits
        #: bytes one run writes at most from depth 0, and the line breaks it can write
        #: (each 4 more bytes a level of starting depth)
        self.base = base
        self.eols = eols

    def __len__(self) -> int:
        """The number of ops."""
        return len(self.ops) // 16

    def need(self, depth: int) -> int:
        """The most bytes one run writes when the writer starts at ``depth``.  O(1)."""
        return self.base + 4 * max(depth, 0) * self.eols


class _Compiler:
    def __init__(self, btf: BTF, plain: bool, sizes: tuple[int, int], budget: int) -> None:
        self.types = btf.types
        self.btf = btf
        self.plain = plain
        self.mode = 0 if plain else JSON
        self.sizes = sizes  # (key bytes, value buffer bytes)
        self.budget = budget
        self.ops: list[int] = []  # (packed as native uint32 at the end: compile_entry)
        self.lits = bytearray()
        self._lit: dict[str, tuple[int, int]] = {}
        self.depth = 0  # relative to the run's start
        self.base = 0
        self.eols = 0

    # -- emitting ---------------------------------------------------------------
    def op(self, code: int, a: int = 0, b: int = 0, c: int = 0, out: int = 0) -> None:
        if len(self.ops) >= 4 * MAX_OPS:
            raise _Decline
        self.ops.extend((code, a, b, c))
        self.base += out

    def lit(self, text: str) -> tuple[int, int]:
        got = self._lit.get(text)
        if got is None:
            if not text.isascii():  # (the C output is read as ASCII)
                raise _Decline
            raw = text.encode("ascii")
            got = (len(self.lits), len(raw))
            self.lits += raw
            self._lit[text] = got
        return got

    def read(self, src: int, off: int, n: int) -> int:
        if off < 0 or off + n > self.sizes[1 if src else 0]:
            raise _Decline
        return off

    def begin(self, c: str) -> None:
        self.op(_BEGIN, ord(c), out=2)
        self.depth += 1

    def end(self, c: str) -> None:
        self.depth -= 1
        self.op(_END, ord(c), out=2 + 1 + 4 * self.depth)
        self.eols += 1

    def name(self, name: str) -> None:
        a, b = self.lit(quote(name))
        self.op(_NAME, a, b, out=1 + 1 + 4 * self.depth + b + 2)
        self.eols += 1

    def token(self, text: str) -> None:
        a, b = self.lit(text)
        self.op(_TOKEN, a, b, out=1 + b)

    def hexarr(self, src: int, off: int, n: int) -> None:
        self.begin("[")
        if n:
            self.op(_HEXARR | src, self.read(src, off, n), n, out=1 + 7 * n)
        self.end("]")

    def percpu(self, ncpus: int, value: Any) -> None:
        """A per-CPU entry's ``"values": [{"cpu": i, "value": ...}, ...]``, each value
        written by ``value(i)``."""
        self.name("values")
        self.begin("[")
        for i in range(ncpus):
            self.begin("{")
            self.name("cpu")
            self.token(str(i))
            self.name("value")
            value(i)
            self.end("}")
        self.end("]")

    # -- the dumper's walk --------------------------------------------------------
    def do_type(self, tid: int, bit_offset: int, src: int, off: int, depth: int) -> None:
        types = self.types
        if depth > _MAX_DEPTH or not 0 <= tid < len(types):
            raise _Decline
        self.budget -= 1
        if self.budget < 0:
            raise _Decline
        t: Any = types[tid]
        k = t._kind
        if k == _K.INT:
            return self.int_(t, bit_offset, src, off)
        if k in _MODIFIERS:
            self.do_type(self.resolve(tid), bit_offset, src, off, depth + 1)
            return
        if k in (_K.STRUCT, _K.UNION):
            self.begin("{")
            for m in t.members:
                self.name(m.name)
                mo = off + (m.bit_offset >> 3)
                if m.bitfield_size:
                    self.bits(m.bitfield_size, m.bit_offset & 7, src, mo)
                else:
                    self.do_type(m.type_id, m.bit_offset & 7, src, mo, depth + 1)
            self.end("}")
            return
        if k == _K.ARRAY:
            return self.array(t, src, off, depth)
        if k in (_K.ENUM, _K.ENUM64):
            return self.enum(t, k == _K.ENUM64, src, off)
        if k == _K.PTR:
            self.op(_PTR | src | self.mode, self.read(src, off, 8), out=21)
            return
        if k == _K.UNKN:
            self.token("(unknown)")
            return
        if k == _K.VAR:
            self.begin("{")
            self.name(t.name)
            self.do_type(t.type_id, bit_offset, src, off, depth + 1)
            self.end("}")
            return
        if k == _K.DATASEC:
            self.begin("{")
            self.name(t.name)
            self.begin("[")
            for v in t.vars:
                self.do_type(v.type_id, 0, src, off + v.offset, depth + 1)
            self.end("]")
            self.end("}")
            return
        raise _Decline  # FWD, FLOAT (formatted in Python), TYPE_TAG, FUNC, ...

    def resolve(self, tid: int) -> int:
        types = self.types
        depth = 0
        t: Any = types[tid]
        while depth < _MAX_DEPTH and t._kind != _K.UNKN and t._kind in _RESOLVED:
            tid = t.type_id
            if not 0 <= tid < len(types):
                raise _Decline
            t = types[tid]
            depth += 1
        if depth == _MAX_DEPTH or t._kind == _K.UNKN:
            raise _Decline
        return tid

    def bits(self, nr_bits: int, bit_offset: int, src: int, off: int) -> None:
        nbytes = min((bit_offset + nr_bits + 7) // 8, 16)
        if nr_bits > 128:
            raise _Decline
        self.read(src, off, nbytes)
        self.op(_BITS | src | self.mode, off, nr_bits, bit_offset | nbytes << 8, out=1 + 36)

    def int_(self, t: Any, bit_offset: int, src: int, off: int) -> None:
        nr_bits = t.bits
        if bit_offset or t.offset or nr_bits & 7:
            total = bit_offset + t.offset
            self.bits(nr_bits, total & 7, src, off + (total >> 3))
            return
        if nr_bits == 128:
            self.bits(128, 0, src, off)
            return
        enc = t.encoding
        if enc == 0 or enc == 1:
            if nr_bits in (8, 16, 32, 64):
                n = nr_bits // 8
                self.op((_SINT if enc else _UINT) | src, self.read(src, off, n), n, out=21)
            else:
                self.bits(nr_bits, bit_offset, src, off)
        elif enc == 2:
            self.op(_CHAR | src | self.mode, self.read(src, off, 1), out=9)
        elif enc == 4:
            self.op(_BOOL | src, self.read(src, off, 1), out=6)
        else:
            raise _Decline

    def enum(self, t: Any, is64: bool, src: int, off: int) -> None:
        if is64:
            size = 8
        else:
            size = t.size
            if size not in (1, 2, 4, 8):
                raise _Decline
        rows = []
        longest = 20
        for e in t.values:
            if is64:
                v = e.value & 0xFFFFFFFFFFFFFFFF
            else:
                v = e.value & 0xFFFFFFFF
                if v >= 1 << 31:
                    v = (v - (1 << 32)) & 0xFFFFFFFFFFFFFFFF
            a, b = self.lit(quote(e.name))
            rows.append((v & 0xFFFFFFFF, v >> 32, a, b))
            longest = max(longest, b)
        self.op(_ENUM | src, self.read(src, off, size), size, len(rows), out=1 + longest)
        for row in rows:
            self.op(*row)

    def array(self, t: Any, src: int, off: int, depth: int) -> None:
        n = t.nelems
        if n and self.is_char_array(t):
            self.read(src, off, n)
            self.op(_STRARR | src, off, n, 0, out=1 + 2 + 2 * n)
            at = len(self.ops) - 4
            self.elements(t, src, off, depth)
            self.ops[at + 3] = len(self.ops) // 4 - at // 4 - 1
            return
        self.elements(t, src, off, depth)

    def elements(self, t: Any, src: int, off: int, depth: int) -> None:
        try:
            esize = self.btf.size_of(t.type_id)
        except Exception:  # noqa: BLE001 - the dumper stops there too
            raise _Decline from None
        self.begin("[")
        for i in range(t.nelems):
            self.do_type(t.type_id, 0, src, off + i * esize, depth + 1)
        self.end("]")

    def is_char_array(self, t: Any) -> bool:
        types = self.types
        e: Any = types[t.type_id] if 0 <= t.type_id < len(types) else None
        hops = 0
        while e is not None and e._kind in _STR_SKIP:
            hops += 1
            if hops > _MAX_DEPTH:
                return False
            e = types[e.type_id] if 0 <= e.type_id < len(types) else None
        if e is None or e._kind != _K.INT or e.size != 1:
            return False
        return bool(e.encoding == 2 or e.name == "char")


def compile_entry(
    btf: BTF,
    info: Any,
    value_buf: int,
    ncpus: int,
    *,
    plain: bool,
    hex_members: bool = False,
) -> Optional[Program]:
    """The program of :func:`bpfmaps.btf.dumper.dump_entry` for entries of the map
    ``info`` (a MapInfo: key/value type ids, key/value sizes, type) whose values are
    read into ``value_buf`` bytes (per-CPU: ``ncpus`` values of round_up(value_size,
    8) bytes).  ``hex_members``: the whole ``-j`` element instead (``key`` and
    ``value``/``values`` in hex, then ``"formatted"``).  None where the dumper stops
    with an error or formats in Python (see the module docstring).

    Cost: O(the types' printed size), once a map; no syscall."""
    key_size = info.key_size
    c = _Compiler(btf, plain, (key_size, value_buf), 16 * (key_size + value_buf) + 4096)
    percpu = info.raw_type in PERCPU_INTS
    step = (info.value_size + 7) & ~7
    try:
        if hex_members:
            c.begin("{")
            c.name("key")
            c.hexarr(0, 0, key_size)
            if percpu:
                c.percpu(ncpus, lambda i: c.hexarr(SRC_VALUE, i * step, info.value_size))
            else:
                c.name("value")
                c.hexarr(SRC_VALUE, 0, info.value_size)
            c.name("formatted")
        c.begin("{")
        if info.btf_key_type_id:
            c.name("key")
            c.do_type(info.btf_key_type_id, 0, 0, 0, 0)
        vid = info.btf_vmlinux_value_type_id or info.btf_value_type_id
        if not percpu:
            c.name("value")
            c.do_type(vid, 0, SRC_VALUE, 0, 0)
        else:
            c.percpu(ncpus, lambda i: c.do_type(vid, 0, SRC_VALUE, i * step, 0))
        c.end("}")
        if hex_members:
            c.end("}")
    except _Decline:
        return None
    ops = struct.pack(f"={len(c.ops)}I", *c.ops)  # (every field fits: bounded by MAX_OPS)
    return Program(ops, bytes(c.lits) or b"\0", c.base, c.eols)

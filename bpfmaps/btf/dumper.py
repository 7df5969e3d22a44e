"""bpftool's BTF-formatted map keys and values (``btf_dumper.c``).

Pure Python, our own code written from the rules bpftool 7.1 follows.  Everything
is written through :class:`bpfmaps.json_writer.JsonWriter` (bpfmaps' one model of
bpftool's json_writer, also used for ``-j``/``-p`` output); ``btf dump ... format
raw`` is :mod:`bpfmaps.btf.rawdump`.

* :func:`dump_value` -- one key or value as ``btf_dumper_type`` prints it:

  - INT: decimal by signedness for 8/16/32/64 bits; bitfields (any bit offset,
    widths not a multiple of 8, kind_flag members) and 128-bit ints in hex
    (``0x1f``; a JSON string ``"0x1f"`` in -j mode); ``char``-encoded ints as
    ``"c"`` when printable (unescaped, like bpftool), else ``0x..`` / ``"\\u00..."``;
    ``_Bool`` as true/false;
  - char arrays (element INT of size 1 named ``char`` or CHAR-encoded, modifiers but
    not typedefs stripped) holding a printable NUL-terminated string: a JSON string;
    other arrays: ``[..]`` of elements;
  - ENUM: the value read signed by size; the first enumerator with that value by
    name, else the signed number; ENUM64 likewise (signed print);
  - PTR: ``0x..``/``(nil)`` plain, decimal in -j;
  - typedef/const/volatile/restrict: the resolved type; VAR ``{"name": v}``, DATASEC
    ``{"sec": [vars]}``; void ``(unknown)``; FWD ``(fwd-kind-invalid)`` and stop;
  - FLOAT: bpftool 7.1 prints ``(unsupported-kind`` (invalid JSON) and stops; we print
    the value (``1.5``; ``"nan"``, ``"inf"``, ``"-inf"`` as strings) and go on --
    the one deliberate difference;
  - anything else (TYPE_TAG met directly, FUNC...): ``(unsupported-kind`` and stop,
    like bpftool (an error inside a struct ends it there; the caller's object is
    closed).
* :func:`dump_entry` -- ``do_dump_btf``: ``{"key": ..., "value": ...}`` or per-CPU
  ``"values": [{"cpu": i, "value": ...}]``.
* :func:`format_entry_plain`, :class:`Formatted` -- the plain ``lookup`` text and the
  ``-j`` ``"formatted"`` member of one entry.

Cost: O(bytes printed); no syscall.  Reads past the end of ``data`` read zeros.
"""

from __future__ import annotations

import errno
import math
import struct

from ..json_writer import JsonWriter, quote
from ..types import PERCPU_INTS
from .kinds import KIND as Kind  # (the numbers as plain ints: no enum built)

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: the output path loads no typing)
    from typing import Any, Optional

    from .model import BTF

__all__ = ["Formatted", "dump_entry", "dump_value", "format_entry_plain"]

EINVAL = errno.EINVAL
_MAX_DEPTH = 32

#: the BTF kinds as plain ints (module globals: the dumper compares one a value it
#: prints, and an IntEnum member's attribute lookup costs more than the comparison)
_K_ARRAY = int(Kind.ARRAY)
_K_CONST = int(Kind.CONST)
_K_DATASEC = int(Kind.DATASEC)
_K_ENUM = int(Kind.ENUM)
_K_ENUM64 = int(Kind.ENUM64)
_K_FLOAT = int(Kind.FLOAT)
_K_FWD = int(Kind.FWD)
_K_INT = int(Kind.INT)
_K_PTR = int(Kind.PTR)
_K_RESTRICT = int(Kind.RESTRICT)
_K_STRUCT = int(Kind.STRUCT)
_K_TYPEDEF = int(Kind.TYPEDEF)
_K_TYPE_TAG = int(Kind.TYPE_TAG)
_K_UNION = int(Kind.UNION)
_K_UNKN = int(Kind.UNKN)
_K_VAR = int(Kind.VAR)
_K_VOLATILE = int(Kind.VOLATILE)
#: what resolve_type strips, and the kinds do_type follows to their type
_RESOLVED = frozenset((_K_TYPEDEF, _K_VOLATILE, _K_CONST, _K_RESTRICT, _K_TYPE_TAG, _K_VAR))
_MODIFIERS = frozenset((_K_TYPEDEF, _K_VOLATILE, _K_CONST, _K_RESTRICT))


def _read(data: bytes, off: int, n: int) -> bytes:
    b = data[off : off + n]
    if len(b) < n:
        b = b + bytes(n - len(b))
    return b


def _uint(data: bytes, off: int, n: int) -> int:
    return int.from_bytes(_read(data, off, n), "little")


def _sint(data: bytes, off: int, n: int) -> int:
    return int.from_bytes(_read(data, off, n), "little", signed=True)


def _hex(value: int, plain: bool) -> str:
    return f"0x{value:x}" if plain else f'"0x{value:x}"'


def _bitfield(
    w: JsonWriter, nr_bits: int, bit_offset: int, data: bytes, off: int, plain: bool
) -> None:
    nbytes = (bit_offset + nr_bits + 7) // 8
    n = _uint(data, off, min(nbytes, 16))
    w.token(_hex((n >> bit_offset) & ((1 << nr_bits) - 1), plain))


def _is_print(c: int) -> bool:
    return 0x20 <= c <= 0x7E


def _float(data: bytes, off: int, size: int) -> str:
    if size == 4:
        v = struct.unpack("<f", _read(data, off, 4))[0]
    elif size == 8:
        v = struct.unpack("<d", _read(data, off, 8))[0]
    elif size == 2:
        v = struct.unpack("<e", _read(data, off, 2))[0]
    else:  # x87 80-bit extended in 12/16 bytes (long double on x86)
        raw = _read(data, off, 10)
        mant = int.from_bytes(raw[:8], "little")
        se = int.from_bytes(raw[8:10], "little")
        sign = -1.0 if se & 0x8000 else 1.0
        exp = se & 0x7FFF
        if exp == 0x7FFF:
            v = math.nan if mant & ((1 << 63) - 1) else sign * math.inf
        elif exp == 0 and mant == 0:
            v = sign * 0.0
        else:
            try:
                v = sign * math.ldexp(mant, (exp or 1) - 16383 - 63)
            except OverflowError:
                v = sign * math.inf
    if math.isnan(v):
        return '"nan"'
    if math.isinf(v):
        return '"inf"' if v > 0 else '"-inf"'
    r = repr(v)
    return r


class _Dumper:
    __slots__ = ("btf", "w", "plain", "budget")

    def __init__(self, btf: BTF, w: JsonWriter, plain: bool, size: int = 0) -> None:
        self.btf = btf
        self.w = w
        self.plain = plain
        #: bound on values printed: malformed BTF (huge arrays of empty structs, ...)
        #: must not print forever; a kernel-checked type never comes close
        self.budget = 16 * size + 4096

    def do_type(self, tid: int, bit_offset: int, data: bytes, off: int, depth: int = 0) -> int:
        if depth > _MAX_DEPTH or not 0 <= tid < len(self.btf.types):
            return -EINVAL
        self.budget -= 1
        if self.budget < 0:
            return -EINVAL
        t = self.btf.types[tid]
        k = t._kind
        w = self.w
        if k == _K_INT:
            return self.dump_int(t, bit_offset, data, off)
        if k in _MODIFIERS:  # (before the rarer kinds: __u32 & co. are typedefs)
            r = self.resolve_type(tid)
            if r < 0:
                return r
            return self.do_type(r, bit_offset, data, off, depth + 1)
        if k in (_K_STRUCT, _K_UNION):
            w.begin("{")
            ret = 0
            for m in t.members:  # type: ignore[attr-defined]
                w.name(m.name)
                mo = off + (m.bit_offset >> 3)
                if m.bitfield_size:
                    _bitfield(w, m.bitfield_size, m.bit_offset & 7, data, mo, self.plain)
                else:
                    ret = self.do_type(m.type_id, m.bit_offset & 7, data, mo, depth + 1)
                    if ret:
                        break
            w.end("}")
            return ret
        if k == _K_ARRAY:
            return self.array(t, data, off, depth)
        if k == _K_ENUM:
            size = t.size  # type: ignore[attr-defined]
            if size not in (1, 2, 4, 8):
                return -EINVAL
            v = _sint(data, off, size)
            for e in t.values:  # type: ignore[attr-defined]
                ev = e.value & 0xFFFFFFFF
                if ev >= 1 << 31:
                    ev -= 1 << 32
                if v == ev:
                    w.token(quote(e.name))
                    return 0
            w.token(str(v))
            return 0
        if k == _K_ENUM64:
            u = _uint(data, off, 8)
            for e in t.values:  # type: ignore[attr-defined]
                if u == e.value & 0xFFFFFFFFFFFFFFFF:
                    w.token(quote(e.name))
                    return 0
            w.token(str(u - (1 << 64) if u >= 1 << 63 else u))
            return 0
        if k == _K_PTR:
            v = _uint(data, off, 8)
            if self.plain:
                w.token(f"0x{v:x}" if v else "(nil)")
            else:
                w.token(str(v))
            return 0
        if k == _K_UNKN:
            w.token("(unknown)")
            return 0
        if k == _K_FWD:
            w.token("(fwd-kind-invalid)")
            return -EINVAL
        if k == _K_VAR:
            w.begin("{")
            w.name(t.name)
            ret = self.do_type(t.type_id, bit_offset, data, off, depth + 1)  # type: ignore[attr-defined]
            w.end("}")
            return ret
        if k == _K_DATASEC:
            w.begin("{")
            w.name(t.name)
            w.begin("[")
            ret = 0
            for v in t.vars:  # type: ignore[attr-defined]
                ret = self.do_type(v.type_id, 0, data, off + v.offset, depth + 1)
                if ret:
                    break
            w.end("]")
            w.end("}")
            return ret
        if k == _K_FLOAT:
            # deliberate difference: bpftool 7.1 prints "(unsupported-kind" and stops
            w.token(_float(data, off, t.size))  # type: ignore[attr-defined]
            return 0
        w.token("(unsupported-kind")
        return -EINVAL

    def resolve_type(self, tid: int) -> int:
        """libbpf btf__resolve_type: strip modifiers, typedefs, type tags and vars."""
        types = self.btf.types
        depth = 0
        t = types[tid]
        while depth < _MAX_DEPTH and t._kind != _K_UNKN and (t._kind in _RESOLVED):
            tid = t.type_id  # type: ignore[attr-defined]
            if not 0 <= tid < len(types):
                return -EINVAL
            t = types[tid]
            depth += 1
        if depth == _MAX_DEPTH or t._kind == _K_UNKN:
            return -EINVAL
        return tid

    def dump_int(self, t: Any, bit_offset: int, data: bytes, off: int) -> int:
        w = self.w
        nr_bits = t.bits
        if bit_offset or t.offset or nr_bits & 7:
            total = bit_offset + t.offset
            _bitfield(w, nr_bits, total & 7, data, off + (total >> 3), self.plain)
            return 0
        if nr_bits == 128:
            w.token(_hex(_uint(data, off, 16), self.plain))
            return 0
        enc = t.encoding
        if enc == 0 or enc == 1:
            if nr_bits in (8, 16, 32, 64):
                n = nr_bits // 8
                w.token(str(_sint(data, off, n) if enc else _uint(data, off, n)))
            else:
                _bitfield(w, nr_bits, bit_offset, data, off, self.plain)
            return 0
        if enc == 2:  # CHAR
            c = _uint(data, off, 1)
            if _is_print(c):
                w.token('"' + chr(c) + '"')
            elif self.plain:
                w.token(f"0x{c:x}")
            else:
                w.token(f'"\\u00{c:02x}"')
            return 0
        if enc == 4:  # BOOL
            w.token("true" if _uint(data, off, 1) else "false")
            return 0
        return -EINVAL

    def array(self, t: Any, data: bytes, off: int, depth: int) -> int:
        btf = self.btf
        w = self.w
        n = t.nelems
        if n and self.is_str_array(t, data, off):
            s = _read(data, off, n)
            w.token(quote(s[: s.index(0)].decode("ascii")))
            return 0
        try:
            esize = btf.size_of(t.type_id)
        except Exception:
            return -EINVAL
        w.begin("[")
        ret = 0
        for i in range(n):
            ret = self.do_type(t.type_id, 0, data, off + i * esize, depth + 1)
            if ret:
                break
        w.end("]")
        return ret

    def is_str_array(self, t: Any, data: bytes, off: int) -> bool:
        types = self.btf.types
        e = types[t.type_id] if 0 <= t.type_id < len(types) else None
        hops = 0
        while e is not None and e._kind in (
            _K_VOLATILE,
            _K_CONST,
            _K_RESTRICT,
            _K_TYPE_TAG,
        ):
            hops += 1
            if hops > _MAX_DEPTH:
                return False
            e = types[e.type_id] if 0 <= e.type_id < len(types) else None
        if e is None or e._kind != _K_INT or e.size != 1:
            return False
        if e.encoding != 2 and e.name != "char":
            return False
        for c in _read(data, off, t.nelems):
            if c == 0:
                return True
            if c <= 0x1F or c >= 0x7F:
                return False
        return False


def dump_value(
    btf: BTF, type_id: int, data: bytes, w: Optional[JsonWriter] = None, *, plain: bool = False
) -> int:
    """Write ``data`` as type ``type_id`` into ``w`` (bpftool btf_dumper_type rules);
    returns 0 or -EINVAL where bpftool's dumper stops.  O(size of the value)."""
    data = bytes(data)
    d = _Dumper(btf, w if w is not None else JsonWriter(), plain, len(data))
    return d.do_type(type_id, 0, data, 0)


def dump_entry(
    w: JsonWriter,
    btf: BTF,
    info: Any,
    key: Optional[bytes],
    value: bytes,
    ncpus: int,
    *,
    plain: bool,
) -> int:
    """``do_dump_btf``: one ``{"key":..,"value":..}`` (or per-CPU ``values``) object.

    ``info`` is a :class:`bpfmaps.types.MapInfo` (btf_key_type_id, btf_value_type_id,
    btf_vmlinux_value_type_id, value_size, type).  O(size of the entry)."""
    d = _Dumper(btf, w, plain, len(value) + len(key or b""))
    w.begin("{")
    ret = 0
    if info.btf_key_type_id:
        w.name("key")
        ret = d.do_type(info.btf_key_type_id, 0, bytes(key or b""), 0)
        if ret:
            w.end("}")
            return ret
    vid = info.btf_vmlinux_value_type_id or info.btf_value_type_id
    value = bytes(value)
    if info.raw_type not in PERCPU_INTS:
        w.name("value")
        ret = d.do_type(vid, 0, value, 0)
    else:
        step = (info.value_size + 7) & ~7
        w.name("values")
        w.begin("[")
        for i in range(ncpus):
            w.begin("{")
            w.name("cpu")
            w.token(str(i))
            w.name("value")
            ret = d.do_type(vid, 0, value, i * step)
            w.end("}")
            if ret:
                break
        w.end("]")
    w.end("}")
    return ret


def format_entry_plain(btf: BTF, info: Any, key: Optional[bytes], value: bytes, ncpus: int) -> str:
    """What plain ``bpftool map lookup``/``pop``/``peek`` print for a map with BTF: the
    pretty BTF object and a newline (``print_key_value``)."""
    w = JsonWriter(pretty=True)
    dump_entry(w, btf, info, key, value, ncpus, plain=True)
    return w.getvalue() + "\n"


class Formatted:
    """The ``"formatted"`` member of a ``-j`` element, written lazily into the caller's
    JSON writer (``write_json(w)``), at whatever depth.  ``w`` needs only bpftool's
    four primitives: ``begin(c)``, ``end(c)``, ``name(s)`` and ``token(text)``."""

    __slots__ = ("btf", "info", "key", "value", "ncpus")
    btf: BTF
    info: Any
    key: Optional[bytes]
    value: bytes
    ncpus: int

    def __init__(self, btf: BTF, info: Any, key: Optional[bytes], value: bytes, ncpus: int) -> None:
        """One entry (``info`` is its map's MapInfo); nothing is formatted yet.  O(1)."""
        self.btf = btf
        self.info = info
        self.key = key
        self.value = value
        self.ncpus = ncpus

    def write_json(self, w: JsonWriter) -> None:
        """Write the entry's BTF object into ``w`` (-j rules).  O(size of the entry)."""
        dump_entry(w, self.btf, self.info, self.key, self.value, self.ncpus, plain=False)

    def render(self, pretty: bool = False) -> str:
        """The entry's BTF object as text (no newline).  O(size of the entry)."""
        w = JsonWriter(pretty)
        self.write_json(w)
        return w.getvalue()

"""Codecs compiled from C type layouts: BTF keys and values as Python objects.

:func:`codec_for` turns a :mod:`~bpfmaps.btf.layout` (usually from a map's BTF) into a
codec with ``size``/``encode``/``decode`` that :class:`bpfmaps.Map` uses like any other.
The Python values (one rule, see docs/btf.md):

* struct and union -> an instance of a dataclass generated per C type and named after
  it (mutable, ``==``, ``repr``, :func:`dataclasses.asdict`);
* integers -> ``int`` with the signedness BTF gives; ``_Bool`` -> ``bool``; pointers ->
  ``int``; ``float``/``double`` -> ``float``; bitfields -> ``int``;
* arrays of 1-byte integers (char, __u8, signed char) -> ``bytes`` of the full length;
  other arrays -> ``list``;
* enum -> a member of an :class:`enum.IntEnum` generated per C enum when the value
  names one, else ``int`` (signedness from BTF);
* typedef/const/volatile/restrict/type_tag -> the type under them.
* Anonymous struct/union members are attributes named ``_anon0``, ``_anon1``, ... (in
  declaration order within their record); their class is ``<outer>_anon<N>``.  A member
  whose C name is a Python keyword gets a trailing underscore (``from_``).

Encoding takes the record or nested dicts with exactly the member names (a union: a
dict naming exactly one member); ints are range-checked, bytes and lists
length-checked; anything else raises :class:`~bpfmaps.errors.CodecError` naming the
path (``value.backend.port``).  A union record encodes the member assigned last
(``u.member = ...`` or the constructor's keyword) over the bytes of its largest member
(the bytes it was decoded from, when nothing was assigned).

Speed: each type is compiled once, at codec creation, into one :class:`struct.Struct`
for the whole value plus a generated constructor (no per-field interpretation per
element); records of the exact generated class encode through one ``pack`` call.
Other inputs (dicts, subclasses, bad values) take a checking path that names errors.

Pure Python; no extension needed.  Little-endian hosts only for bitfields.
"""

from __future__ import annotations

import dataclasses
import enum
import keyword
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from ..errors import CodecError, error_from_errno
from . import layout as L
from .parse import parse

__all__ = [
    "BTFCodec",
    "Compiler",
    "NoBTFError",
    "btf_codecs",
    "codec_for",
    "map_codecs",
    "py_name",
    "record_class",
]

_SLOTS = {"slots": True} if sys.version_info >= (3, 10) else {}
_LITTLE = sys.byteorder == "little"
_BYTESLIKE = (bytes, bytearray, memoryview)
#: arrays longer than this decode through one sub-struct instead of one local per element
_UNROLL = 16


def py_name(name: str) -> str:
    """The Python attribute/class name for a C name (keywords get a trailing ``_``)."""
    if keyword.iskeyword(name) or name in ("None", "True", "False"):
        return name + "_"
    return name


class _Bad(Exception):
    """Internal: the fast encoder cannot take this input; use the checking path."""


_INT_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}
_FLOAT_FMT = {2: "e", 4: "f", 8: "d"}


def _scalar_fmt(t: Any) -> Optional[str]:
    """struct format of a scalar layout decoded/encoded as one item, or None."""
    k = type(t)
    if k is L.Int:
        if t.kind == "bool" and t.size == 1:
            return "?"
        f = _INT_FMT.get(t.size)
        return None if f is None else (f if t.signed else f.upper())
    if k is L.Enum:
        f = _INT_FMT[t.size]
        return f if t.signed else f.upper()
    if k is L.Float:
        return _FLOAT_FMT.get(t.size)
    if k is L.Ptr:
        return "Q" if t.size == 8 else "I"
    return None


def _zero(t: Any, comp: Compiler) -> Any:
    t = L.strip(t)
    k = type(t)
    if k is L.Int:
        return False if t.kind == "bool" else 0
    if k is L.Float:
        return 0.0
    if k in (L.Ptr,):
        return 0
    if k is L.Enum:
        e = comp.enum_class(t)
        return e._value2member_map_.get(0, 0)
    if k is L.Opaque:
        return bytes(t.size)
    if k is L.Array:
        if L.is_byte_int(t.elem):
            return bytes(t.n)
        return [_zero(t.elem, comp) for _ in range(t.n)]
    if k is L.Record:
        return comp.record_class(t)()
    raise CodecError(f"no zero value for {t!r}")


def _members(rec: L.Record) -> list[tuple[str, L.Member]]:
    """(python attribute name, member) in declaration order (the anonymous-member rule)."""
    out = []
    anon = 0
    for m in rec.members:
        if m.name:
            out.append((py_name(m.name), m))
        else:
            out.append((f"_anon{anon}", m))
            anon += 1
    return out


def _overlapping(rec: L.Record) -> bool:
    """A struct whose members overlap (beyond bitfields sharing bytes), are not byte
    aligned, or run past its end: decoded member by member, like a union."""
    end = 0  # first byte not yet used
    prev_bits = False
    for m in sorted(rec.members, key=lambda m: m.bit_offset):
        if m.bits:
            start = m.bit_offset // 8
            stop = (m.bit_offset + m.bits + 7) // 8
            if start < end and not prev_bits:
                return True
            end = max(end, stop)
            prev_bits = True
            continue
        start = m.bit_offset
        if start % 8 or start // 8 < end:
            return True
        end = start // 8 + L.size_of(m.type)
        prev_bits = False
    return end > rec.size


def _check_layout(lay: Any, path: str, seen: set[int]) -> None:
    """Members must lie inside their record (the kernel's BTF checks say the same)."""
    t = L.strip(lay)
    if id(t) in seen:
        return
    seen.add(id(t))
    if type(t) is L.Array:
        _check_layout(t.elem, path + "[]", seen)
    elif type(t) is L.Record:
        for pname, m in _members(t):
            bits = m.bits or L.size_of(m.type) * 8
            if m.bit_offset < 0 or m.bit_offset + bits > t.size * 8:
                raise CodecError(
                    f"{path}.{pname}: member at bit {m.bit_offset} ({bits} bits) lies outside "
                    f"its {t.size}-byte {'union' if t.union else 'struct'}"
                )
            if m.bits and type(L.strip(m.type)) not in (L.Int, L.Enum):
                raise CodecError(f"{path}.{pname}: a bitfield of a non-integer type")
            _check_layout(m.type, f"{path}.{pname}", seen)


class Compiler:
    """Builds classes and codecs for layouts; one compiler shares classes between the
    codecs it makes (a struct used by both key and value is one class).

    ``classes`` maps C names (or generated class names) to existing classes to use
    instead of generating them (what code written by ``bpfmaps btf gen`` passes).
    """

    def __init__(self, classes: Optional[Mapping[str, type]] = None) -> None:
        self.user_classes = dict(classes or {})
        self._records: dict[int, type] = {}  # id(layout) -> class
        self._enums: dict[int, type] = {}
        self._keep: list[Any] = []  # layouts keyed by id(): keep them alive
        self._used: set[str] = set()
        self._names: dict[int, str] = {}  # id(layout) -> class name hint
        self._dec: dict[int, Callable] = {}
        self._enc: dict[int, Callable] = {}
        self._mdec: dict[tuple[int, int], Callable] = {}
        self._n = 0

    # ------------------------------------------------------------------ naming
    def _class_name(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base)
        if base[:1].isdigit():
            base = "_" + base
        name = py_name(base) if base else "anon"
        if name in self._used:
            i = 2
            while f"{name}_{i}" in self._used:
                i += 1
            name = f"{name}_{i}"
        self._used.add(name)
        return name

    def name_hints(self, lay: Any, hint: str = "") -> None:
        """Walk ``lay`` and record names for anonymous records/enums (typedef names, then
        ``<outer>_<member>`` / ``<outer>_anon<N>``)."""
        seen: set[int] = set()

        def walk(t: Any, h: str) -> None:
            if type(t) is L.Typedef:
                walk(t.type, t.name)
                return
            if type(t) is L.Array:
                walk(t.elem, h)
                return
            if type(t) not in (L.Record, L.Enum):
                return
            if id(t) not in self._names:
                self._names[id(t)] = (
                    t.name or h or ("anon_union" if getattr(t, "union", False) else "anon")
                )
                self._keep.append(t)
            if type(t) is L.Record and id(t) not in seen:
                seen.add(id(t))
                outer = self._names[id(t)]
                for pname, m in _members(t):
                    walk(m.type, f"{outer}{pname}" if pname.startswith("_") else f"{outer}_{pname}")

        walk(lay, hint)

    # ------------------------------------------------------------------ classes
    def enum_class(self, t: L.Enum) -> type:
        got = self._enums.get(id(t))
        if got is not None:
            return got
        hint = self._names.get(id(t)) or t.name or "anon_enum"
        user = self.user_classes.get(hint) or self.user_classes.get(t.name)
        if user is not None:
            cls = user
        else:
            members = []
            seen: set[str] = set()
            for n, v in t.values:
                pn = py_name(n) if n and not n.startswith("__") else f"V_{n.strip('_') or v}"
                if pn in seen:
                    continue
                seen.add(pn)
                members.append((pn, v))
            cls = enum.IntEnum(self._class_name(hint), members)  # type: ignore[misc]
            cls.__module__ = __name__
        self._enums[id(t)] = cls
        self._keep.append(t)
        return cls

    def record_class(self, rec: L.Record) -> type:
        got = self._records.get(id(rec))
        if got is not None:
            return got
        hint = self._names.get(id(rec)) or rec.name or ("anon_union" if rec.union else "anon")
        user = self._user_record(py_name(hint), rec)
        cls = user if user is not None else self._make_class(self._class_name(hint), rec)
        self._records[id(rec)] = cls
        self._keep.append(rec)
        return cls

    def _user_record(self, base: str, rec: L.Record) -> Optional[type]:
        """The given class for ``rec``: ``base``, ``base_2`` ... whose layout matches."""
        if not self.user_classes:
            return None
        i = 1
        while True:
            name = base if i == 1 else f"{base}_{i}"
            cls = self.user_classes.get(name)
            if cls is None:
                return None
            lay = getattr(cls, "_bpfmaps_layout", None)
            if lay is None or lay == rec:
                self._used.add(name)
                return cls
            i += 1

    def _make_class(self, name: str, rec: L.Record) -> type:
        fields: list[tuple[str, Any, Any]] = []
        for pname, m in _members(rec):
            ann = _annotation(m, self)
            z = _zero(m.type, self) if not m.bits else _bit_zero(m)
            if isinstance(z, (list, bytearray)) or dataclasses.is_dataclass(z):
                zf = _factory(m.type, self)
                fields.append((pname, ann, dataclasses.field(default_factory=zf)))
            else:
                fields.append((pname, ann, dataclasses.field(default=z)))
        ns: dict[str, Any] = {"_bpfmaps_layout": rec, "__module__": __name__}
        doc = f"{'union' if rec.union else 'struct'} {rec.name or '(anon)'}: {rec.size} bytes"
        ns["__doc__"] = doc
        # unions keep the bytes they were decoded from (``_bpfmaps_raw``): no slots
        extra = {} if rec.union or _overlapping(rec) else _SLOTS
        return dataclasses.make_dataclass(name, fields, namespace=ns, **extra)

    # ------------------------------------------------------------------ codecs
    def sym(self, g: dict, obj: Any, prefix: str = "_o") -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        g[name] = obj
        return name

    def decoder(self, lay: Any) -> Callable[[bytes], Any]:
        """A function bytes -> value for ``lay`` (compiled once per layout object)."""
        got = self._dec.get(id(lay))
        if got is None:
            got = _compile_decoder(self, lay)
            self._dec[id(lay)] = got
            self._keep.append(lay)
        return got

    def member_decoder(self, rec: L.Record, idx: int) -> Callable[[bytes], Any]:
        """bytes of ``rec`` -> the value of its member ``idx`` (unions)."""
        key = (id(rec), idx)
        got = self._mdec.get(key)
        if got is None:
            got = _compile_member_decoder(self, rec, idx)
            self._mdec[key] = got
            self._keep.append(rec)
        return got

    def encoder(self, lay: Any) -> Callable[[Any], bytes]:
        """A fast function value -> bytes for ``lay``; raises _Bad (or anything) when it
        cannot take the input (callers fall back to :func:`check_encode`)."""
        got = self._enc.get(id(lay))
        if got is None:
            got = _compile_encoder(self, lay)
            self._enc[id(lay)] = got
            self._keep.append(lay)
        return got


def _bit_zero(m: L.Member) -> Any:
    t = L.strip(m.type)
    if type(t) is L.Int and t.kind == "bool":
        return False
    if type(t) is L.Enum:
        return 0
    return 0


def _factory(t: Any, comp: Compiler) -> Callable[[], Any]:
    s = L.strip(t)
    if type(s) is L.Record:
        return comp.record_class(s)
    return lambda: _zero(s, comp)


def _annotation(m: L.Member, comp: Compiler) -> str:
    return type_hint(m.type, comp, bitfield=bool(m.bits))


def type_hint(t: Any, comp: Compiler, bitfield: bool = False) -> str:
    """The annotation text of a member's Python type (``int``, ``list[foo]`` ...)."""
    t = L.strip(t)
    k = type(t)
    if k is L.Int:
        return "bool" if t.kind == "bool" else "int"
    if k is L.Float:
        return "float"
    if k is L.Ptr:
        return "int"
    if k is L.Enum:
        return "int" if bitfield else f"Union[{comp.enum_class(t).__name__}, int]"
    if k is L.Opaque:
        return "bytes"
    if k is L.Array:
        if L.is_byte_int(t.elem):
            return "bytes"
        return f"list[{type_hint(t.elem, comp)}]"
    if k is L.Record:
        return comp.record_class(t).__name__
    return "Any"


# ---------------------------------------------------------------------- decoding
class _Flat:
    """Accumulates one struct format and the expressions that rebuild values from its
    items (``_i<k>`` locals), for one generated function."""

    def __init__(self, comp: Compiler, g: dict) -> None:
        self.comp = comp
        self.g = g
        self.fmt: list[str] = []
        self.pos = 0  # byte offset reached
        self.items: list[str] = []
        self.pre: list[str] = []

    def _item(self, fmt: str, off: int, size: int) -> str:
        if off > self.pos:
            self.fmt.append(f"{off - self.pos}x")
        elif off < self.pos:
            raise AssertionError("overlap")  # callers check _overlapping first
        self.fmt.append(fmt)
        self.pos = off + size
        name = f"_i{len(self.items)}"
        self.items.append(name)
        return name

    def value(self, t: Any, off: int) -> str:
        """Expression for the value of layout ``t`` at byte ``off``."""
        t = L.strip(t)
        k = type(t)
        size = L.size_of(t)
        f = _scalar_fmt(t)
        if f is not None:
            v = self._item(f, off, size)
            if k is L.Enum:
                e = self.comp.enum_class(t)
                m = self.comp.sym(self.g, {int(x): x for x in e}, "_e")
                return f"{m}.get({v}, {v})"
            if k is L.Int and t.kind == "bool":
                return v
            return v
        if k is L.Int:  # odd sizes (__int128)
            v = self._item(f"{size}s", off, size)
            fb = self.comp.sym(self.g, int.from_bytes, "_fb")
            expr = f"{fb}({v}, 'little', signed={t.signed})"
            return f"({expr} != 0)" if t.kind == "bool" else expr
        if k is L.Opaque or (k is L.Float):
            return self._item(f"{size}s", off, size)
        if k is L.Array:
            if L.is_byte_int(t.elem):
                return self._item(f"{t.n}s", off, size)
            es = L.size_of(t.elem)
            elem = L.strip(t.elem)
            if t.n <= _UNROLL:
                return "[" + ", ".join(self.value(elem, off + i * es) for i in range(t.n)) + "]"
            v = self._item(f"{size}s", off, size)
            ef = _scalar_fmt(elem)
            if ef is not None and type(elem) is not L.Enum:
                st = self.comp.sym(self.g, struct.Struct(f"={t.n}{ef}").unpack, "_au")
                return f"list({st}({v}))"
            dec = self.comp.sym(self.g, self.comp.decoder(elem), "_d")
            offs = self.comp.sym(self.g, range(0, t.n * es, es), "_r")
            return f"[{dec}({v}[o:o + {es}]) for o in {offs}]"
        if k is L.Record:
            if t.union or _overlapping(t):
                v = self._item(f"{size}s", off, size)
                dec = self.comp.sym(self.g, self.comp.decoder(t), "_d")
                return f"{dec}({v})"
            cls = self.comp.sym(self.g, self.comp.record_class(t), "_C")
            return f"{cls}({', '.join(self.members(t, off))})"
        raise CodecError(f"cannot decode {t!r}")

    def members(self, rec: L.Record, off: int) -> list[str]:
        """Expressions for every member of the (non-overlapping) struct at byte ``off``,
        in declaration order."""
        exprs: dict[int, str] = {}
        order = sorted(range(len(rec.members)), key=lambda i: rec.members[i].bit_offset)
        i = 0
        while i < len(order):
            m = rec.members[order[i]]
            if not m.bits:
                exprs[order[i]] = self.value(m.type, off + m.bit_offset // 8)
                i += 1
                continue
            # a run of overlapping bitfields: one unsigned integer
            start = m.bit_offset // 8
            end = (m.bit_offset + m.bits + 7) // 8
            j = i + 1
            while j < len(order):
                n = rec.members[order[j]]
                if not n.bits or n.bit_offset // 8 >= end:
                    break
                end = max(end, (n.bit_offset + n.bits + 7) // 8)
                j += 1
            if not _LITTLE:
                raise CodecError("bitfields are supported on little-endian hosts only")
            size = end - start
            f = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(size)
            if f is None:
                raw = self._item(f"{size}s", off + start, size)
                fb = self.comp.sym(self.g, int.from_bytes, "_fb")
                run = f"_b{len(self.pre)}"
                self.pre.append(f"{run} = {fb}({raw}, 'little')")
            else:
                run = self._item(f, off + start, size)
            for x in range(i, j):
                b = rec.members[order[x]]
                exprs[order[x]] = _bitfield_expr(self, run, b, b.bit_offset - start * 8)
            i = j
        return [exprs[x] for x in range(len(rec.members))]


def _bitfield_expr(fl: _Flat, run: str, m: L.Member, shift: int) -> str:
    mask = (1 << m.bits) - 1
    x = f"(({run} >> {shift}) & {mask:#x})" if shift else f"({run} & {mask:#x})"
    t = L.strip(m.type)
    signed = type(t) in (L.Int, L.Enum) and t.signed
    if signed:
        sb = 1 << (m.bits - 1)
        x = f"(({x} ^ {sb:#x}) - {sb:#x})"
    if type(t) is L.Int and t.kind == "bool":
        return f"({x} != 0)"
    if type(t) is L.Enum:
        e = fl.comp.enum_class(t)
        em = fl.comp.sym(fl.g, {int(v): v for v in e}, "_e")
        return f"{em}.get({x}, {x})"
    return x


def _compile_decoder(comp: Compiler, lay: Any) -> Callable[[bytes], Any]:
    t = L.strip(lay)
    g: dict[str, Any] = {}
    body: list[str] = []
    if type(t) is L.Record and (t.union or _overlapping(t)):
        # every member from its own struct over the same bytes; keep the bytes
        decs = [comp.member_decoder(t, i) for i in range(len(t.members))]
        cls = comp.record_class(t)
        names = ", ".join(f"_m{i}(data)" for i in range(len(decs)))
        for i, d in enumerate(decs):
            g[f"_m{i}"] = d
        g["_cls"] = cls
        g["_osa"] = object.__setattr__
        body.append(f"    o = _cls({names})")
        body.append("    _osa(o, '_bpfmaps_raw', bytes(data))")
        body.append("    return o")
    else:
        fl = _Flat(comp, g)
        e = fl.value(t, 0)
        fmt = "=" + "".join(fl.fmt)
        st = struct.Struct(fmt)
        size = L.size_of(t)
        if st.size < size:
            fmt += f"{size - st.size}x"
        if fl.items:
            u = comp.sym(g, struct.Struct(fmt).unpack, "_u")
            if e == "_i0" and len(fl.items) == 1:
                body.append(f"    return {u}(data)[0]")
            else:
                # one constructor call straight from the tuple when nothing needs converting
                simple = _simple_call(e, fl.items)
                if simple is not None and not fl.pre:
                    body.append(f"    return {simple}(*{u}(data))")
                else:
                    body.append(f"    {', '.join(fl.items)}, = {u}(data)")
                    body.extend("    " + p for p in fl.pre)
                    body.append(f"    return {e}")
        else:
            body.append(f"    return {e}")
    src = "def decode(data):\n" + "\n".join(body) + "\n"
    exec(src, g)
    fn = g["decode"]
    fn.__source__ = src  # type: ignore[attr-defined]
    return fn  # type: ignore[no-any-return]


def _simple_call(expr: str, items: list[str]) -> Optional[str]:
    """``_C3(_i0, _i1, _i2)`` -> ``_C3`` (every item once, in order, nothing else)."""
    head, sep, rest = expr.partition("(")
    if not sep or not head.startswith("_C") or not rest.endswith(")"):
        return None
    if rest[:-1].split(", ") == items:
        return head
    return None


def _compile_member_decoder(comp: Compiler, rec: L.Record, idx: int) -> Callable[[bytes], Any]:
    """bytes of the whole record -> the value of member ``idx`` alone."""
    g: dict[str, Any] = {}
    fl = _Flat(comp, g)
    e = fl.members(L.Record("", rec.size, (rec.members[idx],)), 0)[0]
    body = []
    if fl.items:
        u = comp.sym(g, struct.Struct("=" + "".join(fl.fmt)).unpack_from, "_u")
        body.append(f"    {', '.join(fl.items)}, = {u}(data)")
    body.extend("    " + p for p in fl.pre)
    body.append(f"    return {e}")
    src = "def decode_member(data):\n" + "\n".join(body) + "\n"
    exec(src, g)
    return g["decode_member"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- encoding
class _FlatEnc:
    """The fast encoder: type checks as statements, one pack call."""

    def __init__(self, comp: Compiler, g: dict, dicts: bool = False) -> None:
        self.comp = comp
        self.g = g
        #: records come as dicts with exactly the member names (else: as the class)
        self.dicts = dicts
        self.fmt: list[str] = []
        self.pos = 0
        self.args: list[str] = []
        self.stmts: list[str] = []
        self._tmp = 0

    def get(self, v: str, name: str) -> str:
        return f"{v}[{name!r}]" if self.dicts else f"{v}.{name}"

    def tmp(self) -> str:
        self._tmp += 1
        return f"_v{self._tmp}"

    def _pad(self, off: int) -> None:
        if off > self.pos:
            self.fmt.append(f"{off - self.pos}x")
        self.pos = off

    def arg(self, fmt: str, off: int, size: int, expr: str) -> None:
        self._pad(off)
        self.fmt.append(fmt)
        self.pos = off + size
        self.args.append(expr)

    def value(self, t: Any, off: int, expr: str) -> None:
        t = L.strip(t)
        k = type(t)
        size = L.size_of(t)
        f = _scalar_fmt(t)
        if f is not None:
            if f == "?":
                v = self.tmp()
                self.stmts.append(f"{v} = {expr}")
                self.stmts.append(f"if type({v}) is not bool: raise _Bad")
                self.arg("?", off, 1, v)
            elif k is L.Float:
                v = self.tmp()
                self.stmts.append(f"{v} = {expr}")
                self.stmts.append(f"if type({v}) is not float and type({v}) is not int: raise _Bad")
                self.arg(f, off, size, v)
            else:
                self.arg(f, off, size, expr)
            return
        if k is L.Array and L.is_byte_int(t.elem) or k is L.Opaque or k is L.Float:
            n = size
            v = self.tmp()
            self.stmts.append(f"{v} = {expr}")
            self.stmts.append(f"if type({v}) is not bytes or len({v}) != {n}: raise _Bad")
            self.arg(f"{n}s", off, n, v)
            return
        if k is L.Array:
            v = self.tmp()
            self.stmts.append(f"{v} = {expr}")
            self.stmts.append(
                f"if (type({v}) is not list and type({v}) is not tuple) or len({v}) != {t.n}: raise _Bad"
            )
            es = L.size_of(t.elem)
            elem = L.strip(t.elem)
            ef = _scalar_fmt(elem)
            if t.n <= _UNROLL or (ef is not None and ef != "?" and type(elem) is not L.Float):
                if ef is not None and ef != "?" and type(elem) is not L.Float:
                    self._pad(off)
                    self.fmt.append(f"{t.n}{ef}")
                    self.pos = off + size
                    self.args.append(f"*{v}")
                    return
                for i in range(t.n):
                    self.value(elem, off + i * es, f"{v}[{i}]")
                return
            enc = self.comp.sym(self.g, self.comp.encoder(elem), "_en")
            self.arg(f"{size}s", off, size, f"b''.join(map({enc}, {v}))")
            return
        if k is L.Int:  # odd sizes
            v = self.tmp()
            self.stmts.append(f"{v} = {expr}")
            self.stmts.append(f"if type({v}) is not int: raise _Bad")
            self.arg(f"{size}s", off, size, f"{v}.to_bytes({size}, 'little', signed={t.signed})")
            return
        if k is L.Record:
            if t.union or _overlapping(t):
                enc = self.comp.sym(self.g, self.comp.encoder(t), "_en")
                self.arg(f"{size}s", off, size, f"{enc}({expr})")
                return
            v = self.tmp()
            self.stmts.append(f"{v} = {expr}")
            if self.dicts:
                # exactly the member names: the count plus a KeyError for any missing one
                n = len(t.members)
                self.stmts.append(f"if type({v}) is not dict or len({v}) != {n}: raise _Bad")
            else:
                cls = self.comp.sym(self.g, self.comp.record_class(t), "_C")
                self.stmts.append(f"if type({v}) is not {cls}: raise _Bad")
            self.members(t, off, v)
            return
        raise CodecError(f"cannot encode {t!r}")

    def members(self, rec: L.Record, off: int, v: str) -> None:
        pairs = _members(rec)
        order = sorted(range(len(pairs)), key=lambda i: pairs[i][1].bit_offset)
        i = 0
        while i < len(order):
            pname, m = pairs[order[i]]
            if not m.bits:
                self.value(m.type, off + m.bit_offset // 8, self.get(v, pname))
                i += 1
                continue
            start = m.bit_offset // 8
            end = (m.bit_offset + m.bits + 7) // 8
            j = i + 1
            while j < len(order):
                n = pairs[order[j]][1]
                if not n.bits or n.bit_offset // 8 >= end:
                    break
                end = max(end, (n.bit_offset + n.bits + 7) // 8)
                j += 1
            parts = []
            for x in range(i, j):
                bp, b = pairs[order[x]]
                lo, hi = _bit_range(b)
                tv = self.tmp()
                self.stmts.append(f"{tv} = {self.get(v, bp)}")
                self.stmts.append(
                    f"if type({tv}) is not int and type({tv}) is not bool and not isinstance({tv}, _IE): raise _Bad"
                )
                self.stmts.append(f"if not {lo} <= {tv} <= {hi}: raise _Bad")
                sh = b.bit_offset - start * 8
                mask = (1 << b.bits) - 1
                parts.append(f"(({tv} & {mask:#x}) << {sh})")
            size = end - start
            combined = " | ".join(parts) if parts else "0"
            f = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(size)
            if f is None:
                self.arg(f"{size}s", off + start, size, f"({combined}).to_bytes({size}, 'little')")
            else:
                self.arg(f, off + start, size, combined)
            i = j


def _bit_range(m: L.Member) -> tuple[int, int]:
    t = L.strip(m.type)
    if type(t) in (L.Int, L.Enum) and t.signed:
        return -(1 << (m.bits - 1)), (1 << (m.bits - 1)) - 1
    return 0, (1 << m.bits) - 1


def _compile_encoder(comp: Compiler, lay: Any) -> Callable[[Any], bytes]:
    t = L.strip(lay)
    if type(t) is L.Record and (t.union or _overlapping(t)):
        return _union_encoder(comp, t)
    g: dict[str, Any] = {"_Bad": _Bad, "_IE": enum.IntEnum}
    size = L.size_of(t)
    srcs = []
    for name, dicts in (("enc_obj", False), ("enc_dict", True)):
        fe = _FlatEnc(comp, g, dicts)
        fe.value(t, 0, "o")
        fe._pad(size)
        st = struct.Struct("=" + "".join(fe.fmt))
        if st.size != size:
            raise CodecError(f"internal: encoder for {t!r} is {st.size} bytes, expected {size}")
        p = comp.sym(g, st.pack, "_p")
        lines = [f"def {name}(o):"]
        lines += ["    " + s for s in fe.stmts]
        lines.append(f"    return {p}({', '.join(fe.args)})")
        srcs.append("\n".join(lines))
    if type(t) is L.Record:
        srcs.append(
            "def encode(o):\n"
            "    if type(o) is dict:\n"
            "        return enc_dict(o)\n"
            "    return enc_obj(o)"
        )
    else:
        srcs.append("encode = enc_obj")
    src = "\n\n".join(srcs) + "\n"
    exec(src, g)
    fn = g["encode"]
    fn.__source__ = src  # type: ignore[attr-defined]
    return fn  # type: ignore[no-any-return]


def _union_encoder(comp: Compiler, rec: L.Record) -> Callable[[Any], bytes]:
    """Unions (and overlapping structs): the base member's bytes, then the assigned one."""
    cls = comp.record_class(rec)

    def encode(o: Any) -> bytes:
        if type(o) is not cls:
            raise _Bad
        return check_encode(comp, rec, o, "")

    return encode


# ---------------------------------------------------------------------- checking path
def _put_bits(buf: bytearray, bit_off: int, bits: int, value: int) -> None:
    start = bit_off // 8
    end = (bit_off + bits + 7) // 8
    cur = int.from_bytes(buf[start:end], "little")
    sh = bit_off - start * 8
    mask = ((1 << bits) - 1) << sh
    cur = (cur & ~mask) | ((value << sh) & mask)
    buf[start:end] = cur.to_bytes(end - start, "little")


def _check_int(obj: Any, lo: int, hi: int, path: str, what: str = "an int") -> int:
    if isinstance(obj, (bool, int)):
        v = int(obj)
    else:
        try:
            v = obj.__index__()
        except (AttributeError, TypeError):
            raise CodecError(f"{path}: expected {what}, got {type(obj).__name__}") from None
    if not lo <= v <= hi:
        raise CodecError(f"{path}: {v} out of range [{lo}, {hi}]")
    return v


def _int_range(t: Any) -> tuple[int, int]:
    bits = t.size * 8
    if t.signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_encode(comp: Compiler, lay: Any, obj: Any, path: str) -> bytes:
    """Encode ``obj`` as ``lay`` checking everything; CodecError names the path."""
    buf = bytearray(L.size_of(lay))
    _enc_into(comp, lay, obj, path, buf, 0)
    return bytes(buf)


def _enc_into(comp: Compiler, lay: Any, obj: Any, path: str, buf: bytearray, off: int) -> None:
    t = L.strip(lay)
    k = type(t)
    size = L.size_of(t)
    if k is L.Int and t.kind == "bool":
        if obj is True or obj is False or (type(obj) is int and obj in (0, 1)):
            buf[off : off + size] = int(obj).to_bytes(size, "little")
            return
        raise CodecError(f"{path}: expected a bool, got {type(obj).__name__} {obj!r}")
    if k in (L.Int, L.Enum, L.Ptr):
        if k is L.Ptr:
            lo, hi = 0, (1 << (size * 8)) - 1
            signed = False
        else:
            lo, hi = _int_range(t)
            signed = t.signed
        v = _check_int(obj, lo, hi, path)
        buf[off : off + size] = v.to_bytes(size, sys.byteorder, signed=signed)
        return
    if k is L.Float:
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            raise CodecError(f"{path}: expected a float, got {type(obj).__name__}")
        try:
            struct.pack_into("=" + _FLOAT_FMT[size], buf, off, obj)
        except (OverflowError, struct.error) as e:
            raise CodecError(f"{path}: {obj!r} does not fit a {size}-byte float: {e}") from None
        return
    if k is L.Opaque or (k is L.Array and L.is_byte_int(t.elem)):
        if not isinstance(obj, _BYTESLIKE):
            raise CodecError(f"{path}: expected bytes of length {size}, got {type(obj).__name__}")
        b = bytes(obj)
        if len(b) != size:
            raise CodecError(
                f"{path}: expected exactly {size} bytes, got {len(b)} "
                f"(pad with .ljust({size}, b'\\0'))"
            )
        buf[off : off + size] = b
        return
    if k is L.Array:
        if isinstance(obj, (str, bytes, bytearray, memoryview, Mapping)) or not isinstance(
            obj, Sequence
        ):
            raise CodecError(f"{path}: expected a list of {t.n}, got {type(obj).__name__}")
        if len(obj) != t.n:
            raise CodecError(f"{path}: expected a list of {t.n} elements, got {len(obj)}")
        es = L.size_of(t.elem)
        for i, e in enumerate(obj):
            _enc_into(comp, t.elem, e, f"{path}[{i}]", buf, off + i * es)
        return
    if k is L.Record:
        _enc_record(comp, t, obj, path, buf, off)
        return
    raise CodecError(f"{path}: cannot encode type {t!r}")


def _enc_record(
    comp: Compiler, rec: L.Record, obj: Any, path: str, buf: bytearray, off: int
) -> None:
    cls = comp.record_class(rec)
    pairs = _members(rec)
    names = [p for p, _ in pairs]
    kind = "union" if rec.union else "struct"
    cname = f"{kind} {rec.name}" if rec.name else cls.__name__
    if isinstance(obj, Mapping):
        extra = [k for k in obj if k not in names]
        if extra:
            raise CodecError(
                f"{path}: unknown member {extra[0]!r} for {cname} (members: {', '.join(names)})"
            )
        if rec.union:
            if not obj:
                raise CodecError(f"{path}: a dict for {cname} must name a member")
            values = dict(obj)
            given = [n for n in names if n in obj]
        else:
            missing = [n for n in names if n not in obj]
            if missing:
                raise CodecError(f"{path}: missing member {missing[0]!r} for {cname}")
            values = dict(obj)
            given = []
    elif isinstance(obj, cls):
        values = {n: getattr(obj, n) for n in names}
        if rec.union or _overlapping(rec):
            # start from the bytes it was decoded from; write the member that changed
            raw = getattr(obj, "_bpfmaps_raw", None)
            if raw is None or len(raw) != rec.size:
                raw = bytes(rec.size)
            changed = [
                n
                for i, n in enumerate(names)
                if _plain(values[n]) != _plain(comp.member_decoder(rec, i)(raw))
            ]
            if len(changed) > 1:
                raise CodecError(
                    f"{path}: {cname} members {', '.join(changed)} were all set; "
                    "a union holds one (set exactly one member)"
                )
            buf[off : off + rec.size] = raw
            given = changed
        else:
            given = []
    else:
        raise CodecError(f"{path}: expected {cls.__name__} or a dict, got {type(obj).__name__}")
    if rec.union or _overlapping(rec):
        todo = [(n, pairs[names.index(n)][1]) for n in given]
    else:
        todo = [(n, m) for n, m in pairs]
    for n, m in todo:
        sub = f"{path}.{n}" if path else n
        v = values[n]
        if m.bits:
            lo, hi = _bit_range(m)
            t = L.strip(m.type)
            if type(t) is L.Int and t.kind == "bool":
                if not (v is True or v is False or (type(v) is int and v in (0, 1))):
                    raise CodecError(f"{sub}: expected a bool, got {type(v).__name__} {v!r}")
                iv = int(v)
            else:
                iv = _check_int(v, lo, hi, sub)
            _put_bits(buf, off * 8 + m.bit_offset, m.bits, iv & ((1 << m.bits) - 1))
        else:
            _enc_into(comp, m.type, v, sub, buf, off + m.bit_offset // 8)
    if len(todo) > 1 and rec.union:
        # several members of a union in a dict (what dataclasses.asdict gives): written
        # in declaration order, they must describe the same bytes
        data = bytes(buf[off : off + rec.size])
        bad = [
            n
            for n, _m in todo
            if _plain(comp.member_decoder(rec, names.index(n))(data)) != _plain(values[n])
        ]
        if bad:
            raise CodecError(
                f"{path}: {cname} members {', '.join(n for n, _ in todo)} disagree "
                f"({bad[0]} does not survive the others); give one member"
            )


def _plain(v: Any) -> Any:
    """Records -> dicts, sequences -> lists, enum members -> ints, floats -> their bits
    (for comparisons)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, enum.IntEnum):
        return int(v)
    if isinstance(v, float):  # NaN != NaN: compare the bits
        return struct.pack("=d", v)
    return v


# ---------------------------------------------------------------------- the codec
class BTFCodec:
    """A codec for one C type: ``size``, ``encode(obj) -> bytes``, ``decode(bytes)``.

    ``layout`` is its :mod:`~bpfmaps.btf.layout`; ``cls`` the record class (struct/union
    types) or the IntEnum (enum types) or None.  ``what`` ("key"/"value") starts error
    paths.  Cost: decode is one ``struct.unpack`` plus the constructors; encode of an
    exact record one ``pack``; dicts and errors go through a checking walk."""

    __slots__ = ("size", "layout", "cls", "what", "encode", "decode", "compiler", "c_name")
    #: encode always returns exactly ``size`` bytes (Map skips its per-call size check)
    exact_size = True

    def __init__(
        self, layout: Any, what: str = "value", compiler: Optional[Compiler] = None
    ) -> None:
        comp = compiler if compiler is not None else Compiler()
        _check_layout(layout, what, set())
        comp.name_hints(layout)
        self.compiler = comp
        self.layout = layout
        self.what = what
        self.size = L.size_of(layout)
        t = L.strip(layout)
        self.c_name = _c_name(layout)
        self.cls: Optional[type] = (
            comp.record_class(t)
            if type(t) is L.Record
            else comp.enum_class(t)
            if type(t) is L.Enum
            else None
        )
        self.decode = comp.decoder(layout)
        fast = comp.encoder(layout)
        size = self.size

        def encode(obj: Any) -> bytes:
            try:
                b = fast(obj)
            except Exception:
                return check_encode(comp, layout, obj, what)
            return b

        self.encode = encode
        if size == 0:
            self.decode = lambda data: self.decode_empty()

    def decode_empty(self) -> Any:
        return _zero(self.layout, self.compiler)

    def __repr__(self) -> str:
        return f"BTFCodec({self.c_name}, {self.size} bytes)"


def _c_name(lay: Any) -> str:
    if type(lay) is L.Typedef:
        return lay.name
    t = lay
    if type(t) is L.Record:
        return f"{'union' if t.union else 'struct'} {t.name or '(anon)'}"
    if type(t) is L.Enum:
        return f"enum {t.name or '(anon)'}"
    if type(t) is L.Array:
        return f"{_c_name(t.elem)}[{t.n}]"
    return getattr(t, "name", "") or type(t).__name__.lower()


def codec_for(layout: Any, what: str = "value", compiler: Optional[Compiler] = None) -> BTFCodec:
    """A :class:`BTFCodec` for ``layout`` (compiled once; pass one ``compiler`` to share
    classes between codecs).  Errors: CodecError for layouts without a value form."""
    return BTFCodec(layout, what, compiler)


def record_class(layout: Any, compiler: Optional[Compiler] = None) -> type:
    """The dataclass generated for a struct/union layout."""
    comp = compiler if compiler is not None else Compiler()
    comp.name_hints(layout)
    t = L.strip(layout)
    if type(t) is not L.Record:
        raise CodecError(f"{t!r} is not a struct or union")
    return comp.record_class(t)


# ---------------------------------------------------------------------- maps
class NoBTFError(CodecError):
    """A map has no BTF (or no key/value type in it) but BTF codecs were asked for.

    ``map`` is the map's description (``id 7 'name'``), ``side`` "map", "key" or "value"."""

    def __init__(self, message: str, *, map: str = "", side: str = "map") -> None:
        super().__init__(message)
        self.map = map
        self.side = side


_CACHE: dict[tuple[bytes, int, int, int], tuple[Any, Any]] = {}
_CACHE_MAX = 64


def map_codecs(backend: Any, info: Any, desc: str = "") -> tuple[Any, Any]:
    """(key codec, value codec) from the BTF of a map (``info`` is its MapInfo).

    Cost: BTF_GET_FD_BY_ID + two OBJ_GET_INFO_BY_FD calls; the parse and compile run
    once per distinct BTF blob and type ids (cached).  A side without a BTF type id
    (no key, map-in-map and prog-array values, libbpf's ``key_size`` definitions) is
    None: the Map keeps its default codec there (raw bytes, object ids).
    Errors: NoBTFError naming the map (no BTF, or neither type id),
    BPFError from the kernel, BTFError for a bad blob, CodecError for types with no value
    form.  Kernel >= 5.4 (BTF ids)."""
    desc = desc or info.describe()
    if not info.btf_id:
        raise NoBTFError(
            f"map {desc} has no BTF (btf_id 0): it was not created with BTF types; "
            "pass key=/value= codecs instead",
            map=desc,
        )
    if not info.btf_value_type_id and not info.btf_key_type_id:
        raise NoBTFError(
            f"map {desc} has BTF (btf_id {info.btf_id}) but no key or value type in it",
            map=desc,
            side="value",
        )
    fd = backend.btf_get_fd_by_id(info.btf_id)
    if fd < 0:
        raise error_from_errno(-fd, "btf_get_fd_by_id", map=desc)
    try:
        rc, binfo = backend.btf_info(fd)
    finally:
        backend.close(fd)
    if rc < 0:
        raise error_from_errno(-rc, "btf_info", map=desc)
    data = binfo.data
    key = (data, info.btf_key_type_id if info.key_size else 0, info.btf_value_type_id, 0)
    got = _CACHE.get(key)
    if got is not None:
        return got
    btf = parse(data, source=f"map {desc}")
    got = btf_codecs(btf, key[1], key[2])
    if got[0] is None and info.key_size == 4 and int(info.type) in (2, 6):
        # arrays index with a u32 even when BTF gives no key (global-data maps)
        got = (BTFCodec(L.Int(4, False, "int", "__u32"), "key"), got[1])
    for side, c, size in (("key", got[0], info.key_size), ("value", got[1], info.value_size)):
        if c is not None and c.size != size:
            raise CodecError(
                f"map {desc}: BTF {side} type {c.c_name} is {c.size} bytes but the map's "
                f"{side} is {size}"
            )
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = got
    return got


def btf_codecs(btf: Any, key_type_id: int, value_type_id: int) -> tuple[Any, Any]:
    """(key codec, value codec) of a parsed BTF, None for a type id 0; one Compiler, so a
    type used by both is one class.  Cost: O(types reachable) to compile."""
    comp = Compiler()
    memo: dict[int, Any] = {}
    kc = None
    if key_type_id:
        kc = BTFCodec(L.from_btf(btf, key_type_id, what="key", memo=memo), "key", comp)
    vc = None
    if value_type_id:
        vc = BTFCodec(L.from_btf(btf, value_type_id, what="value", memo=memo), "value", comp)
    return kc, vc

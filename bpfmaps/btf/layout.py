"""Memory layouts of C types: the common form between BTF, codecs and generated code.

A layout says where every byte of a key or value goes and what Python type it
becomes; it is what :mod:`bpfmaps.btf.typed` compiles into a codec,
:mod:`bpfmaps.btf.gen` prints as Python source, and :func:`write_btf` turns back into
BTF (for maps created with BTF).  Layouts are built from a parsed BTF
(:func:`from_btf`) or from codecs (:mod:`bpfmaps.btf.fromcodec`).

Nodes (all immutable; ``size`` in bytes, offsets in bits from the start of the
enclosing record, like BTF):

* :class:`Int` (``kind`` "int", "char" or "bool"; ``signed``; C ``name``),
  :class:`Float`, :class:`Ptr`, :class:`Enum` (``values`` as (name, int) pairs),
* :class:`Array` (``elem``, ``n``), :class:`Record` (struct or union, ``members`` of
  :class:`Member` with ``bits`` > 0 for bitfields), :class:`Typedef` (a name over
  another layout: kept for naming and for BTF output),
* :class:`Opaque`: bytes we cannot give a better Python type (``long double``,
  incomplete types); decodes to ``bytes``.

Pure Python; no extension needed.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

from ..errors import CodecError
from .model import Kind

__all__ = [
    "Int",
    "Float",
    "Ptr",
    "Enum",
    "Array",
    "Record",
    "Member",
    "Typedef",
    "Opaque",
    "Layout",
    "strip",
    "from_btf",
    "write_btf",
]


class Int(NamedTuple):
    size: int
    signed: bool = False
    kind: str = "int"  # "int" | "char" | "bool"
    name: str = ""


class Float(NamedTuple):
    size: int
    name: str = ""


class Ptr(NamedTuple):
    size: int = 8
    name: str = ""  # what it points to, for comments only


class Enum(NamedTuple):
    name: str
    size: int
    values: tuple[tuple[str, int], ...]
    signed: bool = False


class Opaque(NamedTuple):
    size: int
    name: str = ""


class Typedef(NamedTuple):
    name: str
    type: Any  # Layout


class Array(NamedTuple):
    elem: Any  # Layout
    n: int

    @property
    def size(self) -> int:
        return size_of(self.elem) * self.n


class Member(NamedTuple):
    name: str  # "" for an anonymous struct/union member
    type: Any  # Layout
    bit_offset: int
    bits: int = 0  # > 0: a bitfield of this many bits


class Record(NamedTuple):
    name: str  # "" when anonymous
    size: int
    members: tuple[Member, ...]
    union: bool = False


Layout = Union[Int, Float, Ptr, Enum, Opaque, Typedef, Array, Record]


def size_of(layout: Any) -> int:
    """Size in bytes of a layout (through typedefs).  O(typedef depth)."""
    if type(layout) is Typedef:
        return size_of(layout.type)
    size: int = layout.size
    return size


def strip(layout: Any) -> Any:
    """The layout under any typedefs."""
    while type(layout) is Typedef:
        layout = layout.type
    return layout


def is_byte_int(layout: Any) -> bool:
    """A 1-byte integer (char, signed char, __u8, __s8, not _Bool): arrays of these are bytes."""
    t = strip(layout)
    return type(t) is Int and t.size == 1 and t.kind != "bool"


# ---------------------------------------------------------------------- from BTF
def from_btf(
    btf: Any, type_id: int, *, what: str = "value", memo: Optional[dict[int, Any]] = None
) -> Any:
    """The layout of BTF type ``type_id`` of a parsed :class:`bpfmaps.btf.BTF`.

    Const/volatile/restrict/type_tag are dropped, typedefs kept (as :class:`Typedef`).
    The same BTF type always gives the same layout object (so each struct compiles
    once; pass one ``memo`` dict to share that between calls).  Raises CodecError for
    types that have no value layout (void, functions, forward declarations) naming
    ``what`` and the type.  O(types reachable).
    """
    if memo is None:
        memo = {}

    def conv(tid: int, depth: int, path: str) -> Any:
        got = memo.get(tid)
        if got is not None:
            return got
        if depth > 64:
            raise CodecError(f"{path}: BTF type nesting too deep (type id {tid})")
        t = btf.strip_cv(tid)
        k = t.kind
        out: Any
        if k == Kind.TYPEDEF:
            out = Typedef(t.name, conv(t.type_id, depth + 1, path))
        elif k == Kind.INT:
            if t.is_bool:
                kind = "bool"
            elif t.is_char or (t.size == 1 and "char" in t.name):
                kind = "char"
            else:
                kind = "int"
            out = Int(t.size, t.signed, kind, t.name)
        elif k == Kind.FLOAT:
            out = Float(t.size, t.name) if t.size in (2, 4, 8) else Opaque(t.size, t.name)
        elif k == Kind.PTR:
            try:
                target = btf.name_of(btf.strip_cv(t.type_id).id)
            except Exception:
                target = ""
            out = Ptr(btf.ptr_size, target)
        elif k in (Kind.ENUM, Kind.ENUM64):
            out = Enum(t.name, t.size, tuple((v.name, v.value) for v in t.values), t.signed)
        elif k == Kind.ARRAY:
            out = Array(conv(t.type_id, depth + 1, path + "[]"), t.nelems)
        elif k in (Kind.STRUCT, Kind.UNION):
            members = []
            for m in t.members:
                bit_off, bits = btf.member_bitfield(m)
                if not bits:
                    bit_off = m.bit_offset
                members.append(
                    Member(m.name, conv(m.type_id, depth + 1, f"{path}.{m.name}"), bit_off, bits)
                )
            out = Record(t.name, t.size, tuple(members), k == Kind.UNION)
        elif k == Kind.DATASEC:
            # a global-data map's value (.bss, .data, .rodata): one member per variable
            members = []
            for vs in t.vars:
                var = btf[vs.type_id]
                if var.kind != Kind.VAR:
                    continue  # functions in .ksyms and the like carry no bytes here
                sub = f"{path}.{var.name}"
                members.append(Member(var.name, conv(var.type_id, depth + 1, sub), vs.offset * 8))
            out = Record(t.name, t.size, tuple(members))
        else:
            raise CodecError(f"{path}: BTF type {btf.name_of(t.id)} ({k.name}) has no value layout")
        memo[tid] = out
        return out

    return conv(type_id, 0, what)


# ---------------------------------------------------------------------- to BTF
def write_btf(writer: Any, layout: Any, cache: Optional[dict[Any, int]] = None) -> int:
    """Add ``layout`` (and everything it uses) to a :class:`~bpfmaps.btf.writer.BTFWriter`;
    return its type id.  ``cache`` (layout -> id) shares types between calls."""
    if cache is None:
        cache = {}

    def idx() -> int:
        # array index type: the kernel wants an int
        return add(Int(4, False, "int", "__ARRAY_SIZE_TYPE__"))

    def add(lay: Any) -> int:
        got = cache.get(lay)
        if got is not None:
            return got
        t = type(lay)
        if t is Int:
            # clang writes plain/signed char as SIGNED (one encoding bit at most)
            tid = writer.add_int(
                lay.name or _int_name(lay), lay.size, signed=lay.signed, bool=lay.kind == "bool"
            )
        elif t is Float:
            tid = writer.add_float(lay.name or _FLOAT_NAMES.get(lay.size, "float"), lay.size)
        elif t is Opaque:
            tid = writer.add_array(add(Int(1, False, "char", "unsigned char")), lay.size, idx())
        elif t is Ptr:
            tid = writer.add_ptr(0)
        elif t is Enum:
            tid = writer.add_enum(lay.name, lay.size, lay.values, signed=lay.signed)
        elif t is Typedef:
            tid = writer.add_typedef(lay.name, add(lay.type))
        elif t is Array:
            elem = add(lay.elem)
            tid = writer.add_array(elem, lay.n, idx())
        elif t is Record:
            ms = [(m.name, add(m.type), m.bit_offset, m.bits) for m in lay.members]
            tid = writer.add_struct(lay.name, lay.size, ms, union=lay.union)
        else:
            raise CodecError(f"cannot write BTF for {lay!r}")
        assert isinstance(tid, int)
        cache[lay] = tid
        return tid

    return add(layout)


_FLOAT_NAMES = {2: "_Float16", 4: "float", 8: "double", 16: "long double"}


def _int_name(lay: Int) -> str:
    if lay.kind == "bool":
        return "_Bool"
    if lay.kind == "char":
        return "char" if lay.signed else "unsigned char"
    base = {1: "char", 2: "short", 4: "int", 8: "long long", 16: "__int128"}.get(lay.size)
    if base is None:
        return f"__u{lay.size * 8}"
    if lay.size == 1:
        return "signed char" if lay.signed else "unsigned char"
    return base if lay.signed else "unsigned " + base

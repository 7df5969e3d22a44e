"""Layouts (and so BTF) from codecs: what ``Map.create(..., btf=True)`` describes.

:func:`layout_of` accepts:

* :class:`~bpfmaps.codecs.Int` codecs (``U32``, ``I64``, ``U16BE`` ...: big-endian ones
  become typedefs ``__be16``/``__be32``/``__be64`` of the unsigned int, as in C);
* :mod:`ctypes` Structure/Union classes (nested structures, arrays, bitfields,
  ``c_bool``, ``c_char``, floats, pointers), arrays and scalars, or a
  :class:`~bpfmaps.codecs.CType` codec of one;
* :class:`~bpfmaps.codecs.Struct` codecs with ``names=`` (a struct of those members;
  one-item formats are the scalar) and ``struct`` format strings with one item;
* :class:`~bpfmaps.btf.typed.BTFCodec` and the record classes it generates (or that
  ``bpfmaps btf gen`` wrote), which carry their layout;
* :class:`~bpfmaps.codecs.Raw` (``None``/``bytes``): ``unsigned char[size]``.

Anything else raises CodecError saying what is accepted.  Pure Python.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from typing import Any

from ..codecs import CType, Int, PerCPU, Raw, Struct
from ..errors import CodecError
from . import layout as L
from .typed import BTFCodec
from .writer import BTFWriter

__all__ = ["layout_of", "btf_for_map", "bpf_spin_lock", "bpf_timer"]


class bpf_spin_lock(ctypes.Structure):
    """``struct bpf_spin_lock`` (4 bytes): put one in a value struct to use
    ``UpdateFlags.LOCK`` on a map created with ``btf=True``."""

    _fields_ = [("val", ctypes.c_uint32)]


class bpf_timer(ctypes.Structure):
    """``struct bpf_timer`` (16 bytes, 8-aligned)."""

    _fields_ = [("__opaque", ctypes.c_uint64 * 2)]


_U = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"}
_S = {1: "signed char", 2: "short", 4: "int", 8: "long long"}


def _int(size: int, signed: bool) -> L.Int:
    names = _S if signed else _U
    name = names.get(size, f"__{'s' if signed else 'u'}{size * 8}")
    return L.Int(size, signed, "int", name)


_CT_SCALARS: dict[Any, Any] = {}


def _ctypes_scalars() -> dict[Any, Any]:
    if not _CT_SCALARS:
        for ct, signed in (
            (ctypes.c_int8, True),
            (ctypes.c_uint8, False),
            (ctypes.c_int16, True),
            (ctypes.c_uint16, False),
            (ctypes.c_int32, True),
            (ctypes.c_uint32, False),
            (ctypes.c_int64, True),
            (ctypes.c_uint64, False),
            (ctypes.c_byte, True),
            (ctypes.c_ubyte, False),
            (ctypes.c_short, True),
            (ctypes.c_ushort, False),
            (ctypes.c_int, True),
            (ctypes.c_uint, False),
            (ctypes.c_long, True),
            (ctypes.c_ulong, False),
            (ctypes.c_longlong, True),
            (ctypes.c_ulonglong, False),
            (ctypes.c_size_t, False),
            (ctypes.c_ssize_t, True),
        ):
            _CT_SCALARS.setdefault(ct, _int(ctypes.sizeof(ct), signed))
        _CT_SCALARS[ctypes.c_bool] = L.Int(1, False, "bool", "_Bool")
        _CT_SCALARS[ctypes.c_char] = L.Int(1, True, "char", "char")
        _CT_SCALARS[ctypes.c_float] = L.Float(4, "float")
        _CT_SCALARS[ctypes.c_double] = L.Float(8, "double")
        _CT_SCALARS[ctypes.c_void_p] = L.Ptr(ctypes.sizeof(ctypes.c_void_p), "void")
        _CT_SCALARS[ctypes.c_char_p] = L.Ptr(ctypes.sizeof(ctypes.c_void_p), "char")
    return _CT_SCALARS


def _from_ctype(ct: Any, memo: dict[Any, Any], path: str) -> Any:
    got = memo.get(ct)
    if got is not None:
        return got
    sc = _ctypes_scalars()
    out: Any
    if ct in sc:
        out = sc[ct]
    elif isinstance(ct, type) and issubclass(ct, ctypes.Array):
        n: Any = ct._length_  # a class attribute of the Array subclass (typeshed: a property)
        out = L.Array(_from_ctype(ct._type_, memo, path + "[]"), n)
    elif isinstance(ct, type) and issubclass(ct, ctypes._Pointer):
        out = L.Ptr(ctypes.sizeof(ct), getattr(ct._type_, "__name__", ""))
    elif isinstance(ct, type) and issubclass(ct, (ctypes.Structure, ctypes.Union)):
        if _foreign_order(ct):
            raise CodecError(
                f"{path}: {ct.__name__} has non-native byte order; BTF describes host-order "
                "integers (use a native Structure and a big-endian codec for the values)"
            )
        union = issubclass(ct, ctypes.Union)
        members = []
        for f in ct._fields_:
            fname, ftype = f[0], f[1]
            desc = getattr(ct, fname)
            if len(f) > 2:
                # ctypes packs (bit size << 16 | bit offset) into CField.size for bitfields
                bits, bit_in = desc.size >> 16, desc.size & 0xFFFF
                bit_off = desc.offset * 8 + bit_in
                members.append(
                    L.Member(fname, _from_ctype(ftype, memo, f"{path}.{fname}"), bit_off, bits)
                )
            else:
                members.append(
                    L.Member(fname, _from_ctype(ftype, memo, f"{path}.{fname}"), desc.offset * 8)
                )
        out = L.Record(ct.__name__, ctypes.sizeof(ct), tuple(members), union)
    else:
        raise CodecError(f"{path}: cannot describe ctypes type {ct!r} in BTF")
    memo[ct] = out
    return out


def _foreign_order(ct: type) -> bool:
    other = ctypes.BigEndianStructure if sys.byteorder == "little" else ctypes.LittleEndianStructure
    try:
        if issubclass(ct, other):
            return True
    except TypeError:
        pass
    other_u = getattr(
        ctypes, "BigEndianUnion" if sys.byteorder == "little" else "LittleEndianUnion", None
    )
    return other_u is not None and issubclass(ct, other_u)


_FMT_INT = {"b": (1, True), "B": (1, False), "h": (2, True), "H": (2, False), "i": (4, True),
            "I": (4, False), "l": (None, True), "L": (None, False), "q": (8, True),
            "Q": (8, False), "n": (None, True), "N": (None, False)}  # fmt: skip


def _from_struct_fmt(fmt: str, names: Any, path: str, name: str = "") -> Any:
    """A struct format with named items -> a Record (or the scalar for one item)."""
    order = fmt[:1] if fmt[:1] in "@=<>!" else "@"
    if order in ">!" and sys.byteorder == "little" or order == "<" and sys.byteorder == "big":
        be = True
    else:
        be = False
    body = fmt[1:] if fmt[:1] in "@=<>!" else fmt
    items: list[tuple[Any, int]] = []  # (layout or None for padding, byte offset)
    prefix = order
    i = 0
    while i < len(body):
        j = i
        while j < len(body) and body[j].isdigit():
            j += 1
        count = int(body[i:j]) if j > i else 1
        if j >= len(body):
            raise CodecError(f"{path}: bad struct format {fmt!r}")
        ch = body[j]
        i = j + 1
        if ch.isspace():
            continue
        reps = 1 if ch in "sp" else count
        for _ in range(reps):
            tok = f"{count}{ch}" if ch in "sp" else ch
            # where the item lands: after the alignment padding the format adds before it
            start = struct.calcsize(prefix + tok) - struct.calcsize(order + tok)
            lay: Any
            if ch == "x":
                lay = None
            elif ch in _FMT_INT:
                size, signed = _FMT_INT[ch]
                size = size or struct.calcsize(order + ch)
                lay = _int(size, signed)
                if be and size > 1:
                    lay = L.Typedef(f"__be{size * 8}", _int(size, False)) if not signed else lay
            elif ch == "?":
                lay = L.Int(1, False, "bool", "_Bool")
            elif ch == "c":
                lay = L.Int(1, True, "char", "char")
            elif ch in "efd":
                lay = L.Float(
                    {"e": 2, "f": 4, "d": 8}[ch], {"e": "_Float16", "f": "float", "d": "double"}[ch]
                )
            elif ch in "sp":
                lay = L.Array(L.Int(1, True, "char", "char"), count)
            elif ch == "P":
                lay = L.Ptr(struct.calcsize("P"), "void")
            else:
                raise CodecError(f"{path}: struct format character {ch!r} has no BTF type")
            prefix += tok
            if lay is not None:
                items.append((lay, start))
    size = struct.calcsize(fmt)
    if names is None:
        if len(items) == 1 and items[0][1] == 0 and L.size_of(items[0][0]) == size:
            return items[0][0]
        raise CodecError(
            f"{path}: a Struct codec needs names=(...) to become a BTF struct "
            f"(format {fmt!r} has {len(items)} items)"
        )
    names = list(names)
    if len(names) != len(items):
        raise CodecError(f"{path}: {len(names)} names for {len(items)} items of {fmt!r}")
    members = tuple(L.Member(n, lay, off * 8) for n, (lay, off) in zip(names, items))
    return L.Record(name, size, members)


def layout_of(spec: Any, what: str = "value") -> Any:
    """The layout of a codec (see the module docstring for what is accepted)."""
    lay = getattr(spec, "_bpfmaps_layout", None)
    if lay is not None:  # generated record classes (runtime or ``btf gen``)
        return lay
    if isinstance(spec, BTFCodec):
        return spec.layout
    if isinstance(spec, PerCPU):
        return layout_of(spec.inner, what)
    if type(spec) is Int or isinstance(spec, Int):
        base = _int(spec.size, spec.signed)
        if spec.size > 1 and spec.byteorder != sys.byteorder:
            return L.Typedef(
                f"__be{spec.size * 8}" if not spec.signed else f"__sbe{spec.size * 8}", base
            )
        return base
    if isinstance(spec, CType):
        return _from_ctype(spec.ctype, {}, what)
    if isinstance(spec, type) and issubclass(spec, ctypes._SimpleCData.__mro__[1]):
        return _from_ctype(spec, {}, what)
    if isinstance(spec, Struct):
        return _from_struct_fmt(spec.fmt, spec.names, what)
    if isinstance(spec, str):
        return _from_struct_fmt(spec, None, what)
    if isinstance(spec, Raw) or spec is None or spec is bytes:
        size = getattr(spec, "size", None)
        if size is None:
            raise CodecError(f"{what}: raw bytes have no size here; give a codec")
        return L.Array(L.Int(1, False, "char", "unsigned char"), size)
    raise CodecError(
        f"cannot describe the {what} codec {spec!r} in BTF: use an int codec (U32 ...), "
        "a ctypes Structure/Union/array, a Struct codec with names=, or a BTF record class"
    )


def btf_for_map(key: Any, value: Any, key_size: int, value_size: int) -> tuple[bytes, int, int]:
    """BTF for a map's key and value codecs: (raw blob, key type id, value type id).

    ``key`` None (queue/stack/bloom maps) gives key type id 0.  Raises CodecError when
    a codec's size differs from the map's."""
    w = BTFWriter()
    cache: dict[Any, int] = {}
    kid = 0
    if key is not None and key_size:
        kl = layout_of(key, "key")
        if L.size_of(kl) != key_size:
            raise CodecError(f"key codec is {L.size_of(kl)} bytes but key_size is {key_size}")
        kid = L.write_btf(w, kl, cache)
    vl = layout_of(value, "value")
    if L.size_of(vl) != value_size:
        raise CodecError(f"value codec is {L.size_of(vl)} bytes but value_size is {value_size}")
    vid = L.write_btf(w, vl, cache)
    return w.encode(), kid, vid

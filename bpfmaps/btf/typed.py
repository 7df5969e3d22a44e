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

from typing import Any, Callable, Optional

from ..errors import CodecError, error_from_errno
from . import layout as L
from ._classes import Compiler, _zero, type_hint
from ._encode import check_encode
from ._shapes import _check_layout, py_name
from .parse import parse

__all__ = [
    "BTFCodec",
    "Compiler",
    "NoBTFError",
    "btf_codecs",
    "check_encode",
    "codec_for",
    "map_codecs",
    "py_name",
    "record_class",
    "type_hint",
]


class BTFCodec:
    """A codec for one C type: ``size``, ``encode(obj) -> bytes``, ``decode(bytes)``.

    ``layout`` is its :mod:`~bpfmaps.btf.layout`; ``cls`` the record class (struct/union
    types) or the IntEnum (enum types) or None.  ``what`` ("key"/"value") starts error
    paths.  Cost: decode is one ``struct.unpack`` plus the constructors; encode of an
    exact record one ``pack``; dicts and errors go through a checking walk."""

    __slots__ = ("size", "layout", "cls", "what", "encode", "decode", "compiler", "c_name")
    size: int
    layout: Any
    cls: Optional[type]
    what: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    compiler: Compiler
    c_name: str
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
        self.cls = (
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

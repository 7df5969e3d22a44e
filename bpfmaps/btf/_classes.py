"""The generated Python classes of C types and the per-layout caches: :class:`Compiler`.

One compiler names and builds the dataclasses (structs, unions) and IntEnums (enums)
of the layouts it is given, shares them between the codecs it makes, and compiles
each layout's decoder (:mod:`bpfmaps.btf._decode`) and encoder
(:mod:`bpfmaps.btf._encode`) once.  Pure Python.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Mapping
from typing import Any, Callable, Optional, cast

from ..errors import CodecError
from . import layout as L
from ._decode import compile_decoder, compile_member_decoder
from ._encode import compile_encoder
from ._shapes import _members, _overlapping, enum_members, py_name

_SLOTS = {"slots": True} if sys.version_info >= (3, 10) else {}
#: the module generated classes say they come from (the public one, as before the split)
_MODULE = "bpfmaps.btf.typed"


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


class Compiler:
    """Builds classes and codecs for layouts; one compiler shares classes between the
    codecs it makes (a struct used by both key and value is one class).

    ``classes`` maps C names (or generated class names) to existing classes to use
    instead of generating them (what code written by ``bpfmaps btf gen`` passes).
    """

    def __init__(self, classes: Optional[Mapping[str, type]] = None) -> None:
        self.user_classes: dict[str, type] = dict(classes or {})
        self._records: dict[int, type] = {}  # id(layout) -> class
        self._enums: dict[int, type[enum.IntEnum]] = {}
        self._keep: list[Any] = []  # layouts keyed by id(): keep them alive
        self._used: set[str] = set()
        self._names: dict[int, str] = {}  # id(layout) -> class name hint
        self._dec: dict[int, Callable[[bytes], Any]] = {}
        self._enc: dict[int, Callable[[Any], bytes]] = {}
        self._mdec: dict[tuple[int, int], Callable[[bytes], Any]] = {}
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
    def enum_class(self, t: L.Enum) -> type[enum.IntEnum]:
        """The IntEnum of enum layout ``t`` (generated once, or the user's class).  O(values)."""
        got = self._enums.get(id(t))
        if got is not None:
            return got
        hint = self._names.get(id(t)) or t.name or "anon_enum"
        user = self.user_classes.get(hint) or self.user_classes.get(t.name)
        cls: type[enum.IntEnum]
        if user is not None:
            cls = cast("type[enum.IntEnum]", user)
        else:
            members = enum_members(t.values)
            cls = cast("type[enum.IntEnum]", enum.IntEnum(self._class_name(hint), members))
            cls.__module__ = _MODULE
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
        ns: dict[str, Any] = {"_bpfmaps_layout": rec, "__module__": _MODULE}
        doc = f"{'union' if rec.union else 'struct'} {rec.name or '(anon)'}: {rec.size} bytes"
        ns["__doc__"] = doc
        # unions keep the bytes they were decoded from (``_bpfmaps_raw``): no slots
        if _SLOTS and not (rec.union or _overlapping(rec)):
            return dataclasses.make_dataclass(name, fields, namespace=ns, slots=True)
        return dataclasses.make_dataclass(name, fields, namespace=ns)

    # ------------------------------------------------------------------ codecs
    def sym(self, g: dict[str, Any], obj: Any, prefix: str = "_o") -> str:
        """Bind ``obj`` in the generated code's globals ``g``; returns its name.  O(1)."""
        self._n += 1
        name = f"{prefix}{self._n}"
        g[name] = obj
        return name

    def decoder(self, lay: Any) -> Callable[[bytes], Any]:
        """A function bytes -> value for ``lay`` (compiled once per layout object)."""
        got = self._dec.get(id(lay))
        if got is None:
            got = compile_decoder(self, lay)
            self._dec[id(lay)] = got
            self._keep.append(lay)
        return got

    def member_decoder(self, rec: L.Record, idx: int) -> Callable[[bytes], Any]:
        """bytes of ``rec`` -> the value of its member ``idx`` (unions)."""
        key = (id(rec), idx)
        got = self._mdec.get(key)
        if got is None:
            got = compile_member_decoder(self, rec, idx)
            self._mdec[key] = got
            self._keep.append(rec)
        return got

    def encoder(self, lay: Any) -> Callable[[Any], bytes]:
        """A fast function value -> bytes for ``lay``; raises _Bad (or anything) when it
        cannot take the input (callers fall back to :func:`check_encode`)."""
        got = self._enc.get(id(lay))
        if got is None:
            got = compile_encoder(self, lay)
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

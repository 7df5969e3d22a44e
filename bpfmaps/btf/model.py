"""The BTF type model: one immutable object per type, ids as references.

A parsed :class:`BTF` holds ``types``, a list indexed by type id (id 0 is
:data:`VOID`).  Every type has ``id``, ``kind`` (a :class:`Kind`), ``name``
(``""`` when anonymous) and ``btf`` (its container).  Types refer to other types
by id (``type_id``, ``Member.type_id``, ...), each with a ``.type`` property that
returns the object; so cycles (``struct list_head *next``) are plain ints and
never recurse.  Per kind (fields beyond id/kind/name):

==========  ===================================================================
Int         ``size``, ``encoding`` (INT_SIGNED|INT_CHAR|INT_BOOL bits), ``offset``
            (bit offset inside the storage, almost always 0), ``bits``;
            properties ``signed``, ``is_char``, ``is_bool``
Ptr         ``type_id``
Array       ``type_id`` (element), ``index_type_id``, ``nelems``
Struct      ``size``, ``members`` (tuple of :class:`Member`), ``kind_flag``
Union       same as Struct
Enum        ``size``, ``values`` (tuple of :class:`EnumValue`), ``signed``
            (kind_flag); values are Python ints with that signedness
Enum64      same as Enum (64-bit values)
Fwd         ``is_union`` (kind_flag)
Typedef     ``type_id``
Volatile, Const, Restrict, TypeTag: ``type_id`` (TypeTag also has a name)
Func        ``type_id`` (a FuncProto), ``linkage`` (0 static, 1 global, 2 extern)
FuncProto   ``type_id`` (return type, 0 = void), ``params`` (tuple of :class:`Param`;
            a last param with name "" and type_id 0 means ``...``)
Var         ``type_id``, ``linkage``
Datasec     ``size``, ``vars`` (tuple of :class:`VarSecinfo`)
Float       ``size``
DeclTag     ``type_id``, ``component_idx`` (-1 = the type itself, else member/param)
==========  ===================================================================

:class:`Member` has ``name``, ``type_id``, ``bit_offset`` (from the start of the
struct) and ``bitfield_size`` (0 = not a bitfield).  Both encodings are
normalized: with ``kind_flag`` the kernel packs ``bitfield_size << 24 |
bit_offset``; without it a bitfield is an INT member whose own ``bits`` is
narrower than its size -- ``Member.bitfield_size`` is still 0 there (as in the
raw BTF); use :meth:`BTF.member_bitfield` for the effective (offset, bits) of any
member.

Resolution helpers on :class:`BTF` (all cost O(depth), depth at most
:data:`MAX_RESOLVE_DEPTH`, raising :class:`BTFError` on loops or bad kinds):
``resolve(id)`` strips typedef/const/volatile/restrict/type_tag;
``strip_cv(id)`` strips only const/volatile/restrict/type_tag; ``size_of(id)``;
``align_of(id)``; ``find(name, kind=None)`` / ``find_all``.  The model imports
nothing compiled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import IntEnum
from typing import Any, NamedTuple, Optional

from ..errors import BpfmapsError

__all__ = [
    "BTF",
    "BTFError",
    "Kind",
    "Type",
    "Void",
    "Int",
    "Ptr",
    "Array",
    "Struct",
    "Union",
    "Enum",
    "Enum64",
    "Fwd",
    "Typedef",
    "Volatile",
    "Const",
    "Restrict",
    "Func",
    "FuncProto",
    "Var",
    "Datasec",
    "Float",
    "DeclTag",
    "TypeTag",
    "Member",
    "EnumValue",
    "Param",
    "VarSecinfo",
    "INT_SIGNED",
    "INT_CHAR",
    "INT_BOOL",
    "MAX_RESOLVE_DEPTH",
    "VOID",
]

INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
MAX_RESOLVE_DEPTH = 32

LINKAGE_NAMES = {0: "static", 1: "global", 2: "extern"}


class BTFError(BpfmapsError, ValueError):
    """Malformed or unusable BTF: what is wrong, where (byte offset / type id), from what.

    Fields: ``reason``, ``source`` (file, "map id 7", "btf id 3", ...),
    ``offset`` (byte offset in the blob or None), ``type_id`` (or None).
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "",
        offset: Optional[int] = None,
        type_id: Optional[int] = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.offset = offset
        self.type_id = type_id
        where = []
        if source:
            where.append(source)
        if type_id is not None:
            where.append(f"type id {type_id}")
        if offset is not None:
            where.append(f"offset {offset}")
        msg = f"bad BTF: {reason}"
        if where:
            msg += " (" + ", ".join(where) + ")"
        super().__init__(msg)


class Kind(IntEnum):
    """BTF_KIND_* from include/uapi/linux/btf.h."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class Member(NamedTuple):
    """One struct/union member; ``bit_offset`` from the start of the aggregate."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0


class EnumValue(NamedTuple):
    name: str
    value: int


class Param(NamedTuple):
    name: str
    type_id: int


class VarSecinfo(NamedTuple):
    type_id: int
    offset: int
    size: int


class Type:
    """Base of every BTF type (see the module docstring for the per-kind fields)."""

    __slots__ = ("btf", "id", "name")
    kind: Kind = Kind.UNKN
    #: kinds that are pure references to ``type_id`` (modifiers and typedef)
    is_modifier = False

    def __init__(self, btf: BTF, id: int, name: str) -> None:
        self.btf = btf
        self.id = id
        self.name = name

    @property
    def type(self) -> Type:
        """The referenced type object (kinds with a ``type_id``)."""
        return self.btf[self.type_id]  # type: ignore[attr-defined]

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cls in type(self).__mro__:
            for s in getattr(cls, "__slots__", ()):
                if s not in ("btf", "id", "name") and not s.startswith("_") and s not in out:
                    out[s] = getattr(self, s)
        return out

    def __repr__(self) -> str:
        fields = "".join(f", {k}={v!r}" for k, v in self._fields().items())
        return f"<{self.kind.name} [{self.id}] {self.name!r}{fields}>"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.name == other.name  # type: ignore[attr-defined]
            and self._fields() == other._fields()  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.id, self.name))


class Void(Type):
    __slots__ = ()
    kind = Kind.UNKN


class Int(Type):
    __slots__ = ("size", "encoding", "offset", "bits")
    kind = Kind.INT

    def __init__(self, btf, id, name, size, encoding, offset, bits):
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self.encoding = encoding
        self.offset = offset
        self.bits = bits

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        return bool(self.encoding & INT_BOOL)


class _Ref(Type):
    __slots__ = ("type_id",)

    def __init__(self, btf, id, name, type_id):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id


class Ptr(_Ref):
    __slots__ = ()
    kind = Kind.PTR


class Typedef(_Ref):
    __slots__ = ()
    kind = Kind.TYPEDEF
    is_modifier = True


class Volatile(_Ref):
    __slots__ = ()
    kind = Kind.VOLATILE
    is_modifier = True


class Const(_Ref):
    __slots__ = ()
    kind = Kind.CONST
    is_modifier = True


class Restrict(_Ref):
    __slots__ = ()
    kind = Kind.RESTRICT
    is_modifier = True


class TypeTag(_Ref):
    __slots__ = ()
    kind = Kind.TYPE_TAG
    is_modifier = True


class Array(Type):
    __slots__ = ("type_id", "index_type_id", "nelems")
    kind = Kind.ARRAY

    def __init__(self, btf, id, name, type_id, index_type_id, nelems):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.index_type_id = index_type_id
        self.nelems = nelems

    @property
    def index_type(self) -> Type:
        return self.btf[self.index_type_id]


class _Lazy(Type):
    """Kinds with a vlen-sized list (members, values, params, vars): parsed on first use.

    ``_items`` holds the tuple, or None until the parser's decoder (``_dec``, the
    word offset of the list in the blob) is asked for it."""

    __slots__ = ("_items", "_dec")

    def _get_items(self):
        items = self._items
        if items is None:
            items = self._items = self.btf._decode_items(self)
        return items


class Struct(_Lazy):
    __slots__ = ("size", "kind_flag")
    kind = Kind.STRUCT

    def __init__(self, btf, id, name, size, members, kind_flag, _dec=-1):
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self._items = None if members is None else tuple(members)
        self.kind_flag = kind_flag
        self._dec = _dec

    @property
    def members(self) -> tuple[Member, ...]:
        return self._get_items()

    @property
    def vlen(self) -> int:
        return len(self._get_items())

    def _fields(self):
        return {"size": self.size, "members": self.members, "kind_flag": self.kind_flag}


class Union(Struct):
    __slots__ = ()
    kind = Kind.UNION


class Enum(_Lazy):
    __slots__ = ("size", "signed")
    kind = Kind.ENUM

    def __init__(self, btf, id, name, size, values, signed, _dec=-1):
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self._items = None if values is None else tuple(values)
        self.signed = signed
        self._dec = _dec

    @property
    def values(self) -> tuple[EnumValue, ...]:
        return self._get_items()

    @property
    def kind_flag(self) -> bool:
        return self.signed

    def _fields(self):
        return {"size": self.size, "values": self.values, "signed": self.signed}


class Enum64(Enum):
    __slots__ = ()
    kind = Kind.ENUM64


class Fwd(Type):
    __slots__ = ("is_union",)
    kind = Kind.FWD

    def __init__(self, btf, id, name, is_union):
        self.btf = btf
        self.id = id
        self.name = name
        self.is_union = is_union


class Func(Type):
    __slots__ = ("type_id", "linkage")
    kind = Kind.FUNC

    def __init__(self, btf, id, name, type_id, linkage):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.linkage = linkage


class FuncProto(_Lazy):
    __slots__ = ("type_id",)
    kind = Kind.FUNC_PROTO

    def __init__(self, btf, id, name, type_id, params, _dec=-1):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self._items = None if params is None else tuple(params)
        self._dec = _dec

    @property
    def params(self) -> tuple[Param, ...]:
        return self._get_items()

    def _fields(self):
        return {"type_id": self.type_id, "params": self.params}


class Var(Type):
    __slots__ = ("type_id", "linkage")
    kind = Kind.VAR

    def __init__(self, btf, id, name, type_id, linkage):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.linkage = linkage


class Datasec(_Lazy):
    __slots__ = ("size",)
    kind = Kind.DATASEC

    def __init__(self, btf, id, name, size, vars, _dec=-1):
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self._items = None if vars is None else tuple(vars)
        self._dec = _dec

    @property
    def vars(self) -> tuple[VarSecinfo, ...]:
        return self._get_items()

    def _fields(self):
        return {"size": self.size, "vars": self.vars}


class Float(Type):
    __slots__ = ("size",)
    kind = Kind.FLOAT

    def __init__(self, btf, id, name, size):
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size


class DeclTag(Type):
    __slots__ = ("type_id", "component_idx")
    kind = Kind.DECL_TAG

    def __init__(self, btf, id, name, type_id, component_idx):
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.component_idx = component_idx


_SIZED = (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FLOAT, Kind.DATASEC)
_MODIFIERS = frozenset((Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG))
_CV = frozenset((Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG))


class BTF:
    """A parsed BTF blob: ``types[id]`` for every id (0 = void), split BTF over ``base``.

    Build one with :func:`bpfmaps.btf.parse` / :func:`bpfmaps.btf.load`.  ``len(btf)``
    is the number of ids including the base's and void; iterating yields every type
    from id 1 on.  ``ptr_size`` (default 8) is used for PTR sizes and alignments.
    ``start_id`` is the first id this blob defines (1, or len(base) for split BTF).
    """

    def __init__(
        self,
        types: list[Type],
        *,
        base: Optional[BTF] = None,
        source: str = "",
        raw: bytes = b"",
        ptr_size: int = 8,
        endian: str = "<",
    ) -> None:
        self.types = types
        self.base = base
        self.source = source
        self.raw = raw
        self.ptr_size = ptr_size
        self.endian = endian
        self.start_id = len(base) if base is not None else 1
        self._by_name: Optional[dict[str, list[int]]] = None
        #: set by the parser: decodes a lazy type's list (members, values, ...)
        self._decode_items: Any = None

    # -- container -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.types)

    def __getitem__(self, type_id: int) -> Type:
        """The type with id ``type_id``; BTFError if out of range.  O(1)."""
        if not 0 <= type_id < len(self.types):
            raise BTFError(
                f"type id {type_id} out of range (0..{len(self.types) - 1})",
                source=self.source,
            )
        return self.types[type_id]

    def __iter__(self) -> Iterator[Type]:
        return iter(self.types[1:])

    def materialize(self) -> BTF:
        """Decode every lazy member/value/param/var list now (GC paused), e.g. before
        walking all types.  Cost: O(number of members), about 0.3 s for vmlinux."""
        import gc

        enabled = gc.isenabled()
        gc.disable()
        try:
            for t in self.types:
                if isinstance(t, _Lazy) and t._items is None:
                    t._get_items()
        finally:
            if enabled:
                gc.enable()
        return self

    def own_types(self) -> Sequence[Type]:
        """The types this blob defines (ids start_id..len-1; excludes the base's)."""
        return self.types[self.start_id :]

    def __repr__(self) -> str:
        base = f" base={self.base.source!r}" if self.base is not None else ""
        return f"<BTF {self.source!r} {len(self.types) - 1} types{base}>"

    # -- lookup ------------------------------------------------------------------
    def find_all(self, name: str, kind: Optional[Kind] = None) -> list[Type]:
        """Every type named ``name`` (optionally of ``kind``), in id order.

        Cost: O(n) once to build a name index, then O(matches)."""
        if self._by_name is None:
            idx: dict[str, list[int]] = {}
            for t in self.types:
                if t.name:
                    idx.setdefault(t.name, []).append(t.id)
            self._by_name = idx
        out = [self.types[i] for i in self._by_name.get(name, ())]
        if kind is not None:
            out = [t for t in out if t.kind == kind]
        return out

    def find(self, name: str, kind: Optional[Kind] = None) -> Type:
        """The first type named ``name`` (of ``kind``); KeyError when none."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{kind.name} " if kind is not None else ""
            raise KeyError(f"no BTF type {what}{name!r} in {self.source or 'BTF'}")
        return found[0]

    # -- resolution --------------------------------------------------------------
    def _chain(self, type_id: int, kinds: frozenset) -> Type:
        t = self[type_id]
        depth = 0
        while t.kind in kinds:
            depth += 1
            if depth > MAX_RESOLVE_DEPTH:
                raise BTFError(
                    "reference loop or chain too deep", source=self.source, type_id=type_id
                )
            t = self[t.type_id]  # type: ignore[attr-defined]
        return t

    def resolve(self, type_id: int) -> Type:
        """Strip typedef/const/volatile/restrict/type_tag: the underlying type. O(depth)."""
        return self._chain(type_id, _MODIFIERS)

    def strip_cv(self, type_id: int) -> Type:
        """Strip const/volatile/restrict/type_tag but keep typedefs. O(depth)."""
        return self._chain(type_id, _CV)

    def size_of(self, type_id: int) -> int:
        """Size in bytes of a type (``btf__resolve_size``).  BTFError for void, FUNC,
        FUNC_PROTO, FWD or loops.  O(depth)."""
        nelems = 1
        tid = type_id
        for _ in range(MAX_RESOLVE_DEPTH + 1):
            t = self[tid]
            k = t.kind
            if k in _SIZED:
                return nelems * t.size  # type: ignore[attr-defined]
            if k == Kind.PTR:
                return nelems * self.ptr_size
            if k in _MODIFIERS or k == Kind.VAR:
                tid = t.type_id  # type: ignore[attr-defined]
            elif k == Kind.ARRAY:
                nelems *= t.nelems  # type: ignore[attr-defined]
                tid = t.type_id  # type: ignore[attr-defined]
            else:
                raise BTFError(f"{k.name} type has no size", source=self.source, type_id=type_id)
        raise BTFError("reference loop or chain too deep", source=self.source, type_id=type_id)

    def align_of(self, type_id: int) -> int:
        """Alignment in bytes (``btf__align_of``: 1 for packed structs).  O(depth * members)."""
        return self._align(type_id, 0)

    def _align(self, type_id: int, depth: int) -> int:
        if depth > MAX_RESOLVE_DEPTH:
            raise BTFError("reference loop or chain too deep", source=self.source, type_id=type_id)
        t = self[type_id]
        k = t.kind
        if k in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
            return max(1, min(self.ptr_size, t.size))  # type: ignore[attr-defined]
        if k == Kind.PTR:
            return self.ptr_size
        if k in _MODIFIERS or k == Kind.ARRAY or k == Kind.VAR:
            return self._align(t.type_id, depth + 1)  # type: ignore[attr-defined]
        if k in (Kind.STRUCT, Kind.UNION):
            best = 1
            for m in t.members:  # type: ignore[attr-defined]
                a = self._align(m.type_id, depth + 1)
                if m.bit_offset % (8 * a) and not m.bitfield_size:
                    return 1
                best = max(best, a)
            if t.size % best:  # type: ignore[attr-defined]
                return 1
            return best
        raise BTFError(f"{k.name} type has no alignment", source=self.source, type_id=type_id)

    def member_bitfield(self, member: Member) -> tuple[int, int]:
        """(bit offset, bit size) of a member; bit size 0 when it is not a bitfield.

        Handles both encodings: kind_flag (``bitfield_size``) and an INT member type
        with its own ``offset``/``bits`` narrower than its storage."""
        if member.bitfield_size:
            return member.bit_offset, member.bitfield_size
        t = self.strip_cv(member.type_id)
        t = self.resolve(member.type_id) if t.kind == Kind.TYPEDEF else t
        if t.kind == Kind.INT and (t.offset or t.bits != t.size * 8):  # type: ignore[attr-defined]
            return member.bit_offset + t.offset, t.bits  # type: ignore[attr-defined]
        return member.bit_offset, 0

    def name_of(self, type_id: int) -> str:
        """A short C-ish name for messages: ``struct foo``, ``int``, ``(anon)``."""
        t = self[type_id]
        k = t.kind
        prefix = {
            Kind.STRUCT: "struct ",
            Kind.UNION: "union ",
            Kind.ENUM: "enum ",
            Kind.ENUM64: "enum ",
        }
        if k == Kind.UNKN:
            return "void"
        return prefix.get(k, "") + (t.name or "(anon)")


VOID = Void(None, 0, "")  # type: ignore[arg-type]

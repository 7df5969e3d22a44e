"""The BTF type objects, one class per kind, and :class:`BTFError`.

The fields of every kind are listed in :mod:`bpfmaps.btf.model` (which re-exports
all of this module and adds the :class:`~bpfmaps.btf.model.BTF` container).  Types
are immutable after parsing, refer to other types by id and reach their container
through ``btf``.  Kinds with a vlen-sized list (members, values, params, vars)
decode it on first use.  Pure Python; imports nothing compiled.

:class:`Kind` is an ``enum.IntEnum`` built on first use (reading ``Type.kind`` or the
module's ``Kind`` builds it); bpfmaps' own code uses the numbers as plain ints:
:data:`KIND` ``.STRUCT`` is 4, and every type class has its number as ``_kind``.
"""

from __future__ import annotations

from ..errors import BpfmapsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import IntEnum
    from typing import Any, NamedTuple, Optional, Protocol
else:
    from .._record import NamedTuple

    # Kind's class statement makes a plain class of ints; __getattr__ turns it into
    # the enum on first use (_public), as bpfmaps.types does with MapType: importing
    # this module loads neither enum nor typing (about 10 ms of start-up: a batch file
    # of lookups on a map with BTF loads this module)
    IntEnum = Protocol = object

__all__ = [
    "BTFError",
    "Kind",
    "KIND",
    "kind_name",
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

#: ``Int.encoding`` bits (``BTF_INT_SIGNED``, ``BTF_INT_CHAR``, ``BTF_INT_BOOL``)
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
#: longest typedef/modifier/array chain the resolvers follow before BTFError
MAX_RESOLVE_DEPTH = 32

LINKAGE_NAMES = {0: "static", 1: "global", 2: "extern"}
#: Kind has been built and every type class's ``kind`` set to its member (_public)
_KINDS_SET = False


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
        """Build the message ``bad BTF: REASON (SOURCE, type id N, offset N)``."""
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
    """One enumerator: its name and value (signed or not, as the enum says)."""

    name: str
    value: int


class Param(NamedTuple):
    """One FUNC_PROTO parameter (name "" and type_id 0 at the end: ``...``)."""

    name: str
    type_id: int


class VarSecinfo(NamedTuple):
    """One variable of a DATASEC: its VAR type id, byte offset and size."""

    type_id: int
    offset: int
    size: int


class TypeTable(Protocol):
    """What a type needs of the BTF that holds it (a :class:`bpfmaps.btf.model.BTF`):
    the type with an id, and the parser's decoder of a lazy kind's list.  The kinds
    depend on this interface only, so the container can import them one way."""

    #: set by the parser: decodes a lazy type's list (members, values, ...)
    _decode_items: Any

    def __getitem__(self, type_id: int, /) -> Type: ...


class Type:
    """Base of every BTF type (see :mod:`bpfmaps.btf.model` for the per-kind fields)."""

    __slots__ = ("btf", "id", "name")
    btf: TypeTable
    id: int
    name: str
    if TYPE_CHECKING:
        #: the :class:`Kind` member (at run time ``_KindOf`` until the enum is built,
        #: then each class's member as a plain class attribute)
        kind: Kind
    #: the kind's BTF_KIND_* number as a plain int (what bpfmaps' own code reads)
    _kind: int = Kind.UNKN
    #: kinds that are pure references to ``type_id`` (modifiers and typedef)
    is_modifier = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if _KINDS_SET:  # a class made after Kind was built: its member now
            cls.kind = _public("Kind")(cls._kind)

    def __init__(self, btf: TypeTable, id: int, name: str) -> None:
        """A type of ``btf`` with id ``id`` (the parser builds them).  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name

    @property
    def type(self) -> Type:
        """The referenced type object (kinds with a ``type_id``; AttributeError for
        the others).  O(1)."""
        type_id: int = getattr(self, "type_id")  # noqa: B009 - not every kind has one
        return self.btf[type_id]

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cls in reversed(type(self).__mro__):
            for s in getattr(cls, "__slots__", ()):
                if s not in ("btf", "id", "name") and not s.startswith("_") and s not in out:
                    out[s] = getattr(self, s)
        return out

    def __repr__(self) -> str:
        fields = "".join(f", {k}={v!r}" for k, v in self._fields().items())
        return f"<{self.kind.name} [{self.id}] {self.name!r}{fields}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Type)
            and type(other) is type(self)
            and self.name == other.name
            and self._fields() == other._fields()
        )

    def __hash__(self) -> int:
        return hash((self._kind, self.id, self.name))  # (a member hashes as its int)


class Void(Type):
    """Type id 0: ``void``."""

    __slots__ = ()
    _kind = Kind.UNKN


class Int(Type):
    """BTF_KIND_INT: ``size`` bytes of storage, ``bits`` of value at bit ``offset``."""

    __slots__ = ("size", "encoding", "offset", "bits")
    size: int
    encoding: int
    offset: int
    bits: int
    _kind = Kind.INT

    def __init__(
        self, btf: TypeTable, id: int, name: str, size: int, encoding: int, offset: int, bits: int
    ) -> None:
        """An INT (``encoding``: INT_SIGNED|INT_CHAR|INT_BOOL bits).  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self.encoding = encoding
        self.offset = offset
        self.bits = bits

    @property
    def signed(self) -> bool:
        """INT_SIGNED is set."""
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        """INT_CHAR is set."""
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        """INT_BOOL is set."""
        return bool(self.encoding & INT_BOOL)


class _Ref(Type):
    """Kinds whose first field is ``type_id`` (the referenced type)."""

    __slots__ = ("type_id",)
    type_id: int

    def __init__(self, btf: TypeTable, id: int, name: str, type_id: int) -> None:
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id


class Ptr(_Ref):
    """BTF_KIND_PTR to ``type_id``."""

    __slots__ = ()
    _kind = Kind.PTR


class Typedef(_Ref):
    """BTF_KIND_TYPEDEF: ``name`` for ``type_id``."""

    __slots__ = ()
    _kind = Kind.TYPEDEF
    is_modifier = True


class Volatile(_Ref):
    """BTF_KIND_VOLATILE of ``type_id``."""

    __slots__ = ()
    _kind = Kind.VOLATILE
    is_modifier = True


class Const(_Ref):
    """BTF_KIND_CONST of ``type_id``."""

    __slots__ = ()
    _kind = Kind.CONST
    is_modifier = True


class Restrict(_Ref):
    """BTF_KIND_RESTRICT of ``type_id``."""

    __slots__ = ()
    _kind = Kind.RESTRICT
    is_modifier = True


class TypeTag(_Ref):
    """BTF_KIND_TYPE_TAG ``name`` on ``type_id``."""

    __slots__ = ()
    _kind = Kind.TYPE_TAG
    is_modifier = True


class _Linked(_Ref):
    """Kinds with ``type_id`` and ``linkage`` (0 static, 1 global, 2 extern)."""

    __slots__ = ("linkage",)
    linkage: int

    def __init__(self, btf: TypeTable, id: int, name: str, type_id: int, linkage: int) -> None:
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.linkage = linkage


class Func(_Linked):
    """BTF_KIND_FUNC: ``type_id`` is its FuncProto."""

    __slots__ = ()
    _kind = Kind.FUNC


class Var(_Linked):
    """BTF_KIND_VAR: a variable of type ``type_id``."""

    __slots__ = ()
    _kind = Kind.VAR


class DeclTag(_Ref):
    """BTF_KIND_DECL_TAG on ``type_id`` (``component_idx`` -1: the type itself, else
    the member/param index)."""

    __slots__ = ("component_idx",)
    component_idx: int
    _kind = Kind.DECL_TAG

    def __init__(
        self, btf: TypeTable, id: int, name: str, type_id: int, component_idx: int
    ) -> None:
        """A DECL_TAG.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.component_idx = component_idx


class Array(_Ref):
    """BTF_KIND_ARRAY of ``nelems`` ``type_id`` indexed by ``index_type_id``."""

    __slots__ = ("index_type_id", "nelems")
    index_type_id: int
    nelems: int
    _kind = Kind.ARRAY

    def __init__(
        self, btf: TypeTable, id: int, name: str, type_id: int, index_type_id: int, nelems: int
    ) -> None:
        """An ARRAY.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self.index_type_id = index_type_id
        self.nelems = nelems

    @property
    def index_type(self) -> Type:
        """The index type object.  O(1)."""
        return self.btf[self.index_type_id]


class _Lazy(Type):
    """Kinds with a vlen-sized list (members, values, params, vars): parsed on first use.

    ``_items`` holds the tuple, or None until the parser's decoder (``_dec``, the
    word offset of the list in the blob) is asked for it."""

    __slots__ = ("_items", "_dec")
    _items: Optional[tuple[Any, ...]]
    _dec: int

    def _get_items(self) -> tuple[Any, ...]:
        items = self._items
        if items is None:
            items = self._items = self.btf._decode_items(self)
        return items


class _Flagged(_Lazy):
    """Lazy kinds with ``size``, a list and the type's ``kind_flag`` (STRUCT, UNION,
    ENUM, ENUM64)."""

    __slots__ = ("size", "kind_flag")
    size: int
    kind_flag: bool

    def __init__(
        self,
        btf: TypeTable,
        id: int,
        name: str,
        size: int,
        items: Optional[Any],
        kind_flag: bool,
        _dec: int = -1,
    ) -> None:
        """``items`` None: decoded on first use from word offset ``_dec``.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self._items = None if items is None else tuple(items)
        self.kind_flag = kind_flag
        self._dec = _dec


class Struct(_Flagged):
    """BTF_KIND_STRUCT of ``size`` bytes; ``members``; ``kind_flag`` (bitfield encoding)."""

    __slots__ = ()
    _kind = Kind.STRUCT

    @property
    def members(self) -> tuple[Member, ...]:
        """The members in declaration order.  O(vlen) the first time."""
        return self._get_items()

    @property
    def vlen(self) -> int:
        """The number of members."""
        return len(self._get_items())

    def _fields(self) -> dict[str, Any]:
        return {"size": self.size, "members": self.members, "kind_flag": self.kind_flag}


class Union(Struct):
    """BTF_KIND_UNION: as Struct."""

    __slots__ = ()
    _kind = Kind.UNION


class Enum(_Flagged):
    """BTF_KIND_ENUM of ``size`` bytes; ``values``; ``signed`` (the kind_flag)."""

    __slots__ = ()
    _kind = Kind.ENUM

    @property
    def values(self) -> tuple[EnumValue, ...]:
        """The enumerators in declaration order.  O(vlen) the first time."""
        return self._get_items()

    @property
    def signed(self) -> bool:
        """The values are signed (the kind_flag)."""
        return self.kind_flag

    def _fields(self) -> dict[str, Any]:
        return {"size": self.size, "values": self.values, "signed": self.signed}


class Enum64(Enum):
    """BTF_KIND_ENUM64: as Enum, 64-bit values."""

    __slots__ = ()
    _kind = Kind.ENUM64


class Fwd(Type):
    """BTF_KIND_FWD: a forward declaration of a struct (or union: ``is_union``)."""

    __slots__ = ("is_union",)
    is_union: bool
    _kind = Kind.FWD

    def __init__(self, btf: TypeTable, id: int, name: str, is_union: bool) -> None:
        """A FWD.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.is_union = is_union


class FuncProto(_Lazy):
    """BTF_KIND_FUNC_PROTO: return ``type_id`` (0 = void) and ``params``."""

    __slots__ = ("type_id",)
    type_id: int
    _kind = Kind.FUNC_PROTO

    def __init__(
        self,
        btf: TypeTable,
        id: int,
        name: str,
        type_id: int,
        params: Optional[Any],
        _dec: int = -1,
    ) -> None:
        """A FUNC_PROTO; ``params`` None: decoded on first use from ``_dec``.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.type_id = type_id
        self._items = None if params is None else tuple(params)
        self._dec = _dec

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters in order.  O(vlen) the first time."""
        return self._get_items()

    def _fields(self) -> dict[str, Any]:
        return {"type_id": self.type_id, "params": self.params}


class Datasec(_Lazy):
    """BTF_KIND_DATASEC of ``size`` bytes: its ``vars``."""

    __slots__ = ("size",)
    size: int
    _kind = Kind.DATASEC

    def __init__(
        self, btf: TypeTable, id: int, name: str, size: int, vars: Optional[Any], _dec: int = -1
    ) -> None:
        """A DATASEC; ``vars`` None: decoded on first use from ``_dec``.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size
        self._items = None if vars is None else tuple(vars)
        self._dec = _dec

    @property
    def vars(self) -> tuple[VarSecinfo, ...]:
        """The variables of the section.  O(vlen) the first time."""
        return self._get_items()

    def _fields(self) -> dict[str, Any]:
        return {"size": self.size, "vars": self.vars}


class Float(Type):
    """BTF_KIND_FLOAT of ``size`` bytes."""

    __slots__ = ("size",)
    size: int
    _kind = Kind.FLOAT

    def __init__(self, btf: TypeTable, id: int, name: str, size: int) -> None:
        """A FLOAT.  O(1)."""
        self.btf = btf
        self.id = id
        self.name = name
        self.size = size


#: type id 0 of every BTF (``btf`` is None: void refers to nothing)
VOID = Void(None, 0, "")  # type: ignore[arg-type]

#: the BTF_KIND_* numbers as plain ints, for bpfmaps' own use (no enum built):
#: KIND.STRUCT is 4.  (Type checkers see the enum class: each member is its int.)
KIND = Kind
_KIND_NAMES = {v: k for k, v in vars(KIND).items() if k.isupper()}


def kind_name(kind: int) -> str:
    """The :class:`Kind` name of BTF_KIND_* number ``kind`` (``"STRUCT"``; ``"kind N"``
    for a number without one), without building the enum.  O(1)."""
    return _KIND_NAMES.get(kind, f"kind {kind}")


class _KindOf:
    """``Type.kind`` until :class:`Kind` is built: the first read builds it and sets
    every type class's ``kind`` to its member (a plain class attribute from then on,
    shadowing this one)."""

    def __get__(self, obj: Any, cls: Any) -> Any:
        _public("Kind")
        return cls.kind


def _public(name: str) -> Any:
    """The module's ``Kind`` enum, built on first use (the module's ``__getattr__``,
    PEP 562), and each type class's ``kind`` then set to its member.  Cost: about
    1 ms once (the ``enum`` import, then the class), O(1) after."""
    global _KINDS_SET
    if name != "Kind":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    kind = globals().get("Kind")
    if kind is None:
        from ..types import _enum

        # setdefault: when two threads build it at once, both get the one published
        kind = globals().setdefault("Kind", _enum(KIND))
    if not _KINDS_SET:
        todo: list[Any] = [Type]
        while todo:
            c = todo.pop()
            c.kind = kind(c._kind)
            todo.extend(c.__subclasses__())
        _KINDS_SET = True
    return kind


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"Kind"})


def eager_names() -> dict[str, Any]:
    """The public names of this module but ``Kind`` (built on first use), for the
    modules that re-export them without building it.  O(names)."""
    g = globals()
    return {n: g[n] for n in __all__ if n != "Kind"}


if not TYPE_CHECKING:  # (hidden from type checkers: they see the classes above)
    Type.kind = _KindOf()
    del Kind  # (published by _public on first use)
    __getattr__ = _public

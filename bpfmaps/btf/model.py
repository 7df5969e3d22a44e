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
nothing compiled.  The per-kind classes live in :mod:`bpfmaps.btf.kinds`; this module
re-exports them with the container.
"""

from __future__ import annotations

import gc

from .kinds import KIND as KIND  # (x as x: re-exported, as the names the loop below adds)
from .kinds import MAX_RESOLVE_DEPTH as MAX_RESOLVE_DEPTH
from .kinds import BTFError as BTFError
from .kinds import Member as Member
from .kinds import Type as Type
from .kinds import __all__ as _kinds_all
from .kinds import _Lazy
from .kinds import _public as _kinds_attr  # (kinds' __getattr__)
from .kinds import eager_names as _kinds_names
from .kinds import kind_name as kind_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any, Callable, Optional

    from .kinds import *  # noqa: F403
    from .kinds import Kind
else:
    # every name of kinds but Kind, an enum built on first use (kinds' __getattr__,
    # reached through this module's): importing the model loads neither enum nor typing
    globals().update(_kinds_names())

__all__ = ["BTF", *_kinds_all]

_SIZED = (KIND.INT, KIND.STRUCT, KIND.UNION, KIND.ENUM, KIND.ENUM64, KIND.FLOAT, KIND.DATASEC)
_MODIFIERS = frozenset((KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG))
_CV = frozenset((KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG))


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
        self.types: list[Type] = types
        self.base: Optional[BTF] = base
        self.source: str = source
        self.raw: bytes = raw
        self.ptr_size: int = ptr_size
        self.endian: str = endian
        self.start_id: int = len(base) if base is not None else 1
        self._by_name: Optional[dict[str, list[int]]] = None
        #: set by the parser: decodes a lazy type's list (members, values, ...)
        self._decode_items: Any = None
        #: set by the parser: a string of this blob (or its base) by offset, for split BTF
        self._string: Optional[Callable[[int], Optional[str]]] = None
        self._str_len_total = 0

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
            out = [t for t in out if t._kind == kind]
        return out

    def find(self, name: str, kind: Optional[Kind] = None) -> Type:
        """The first type named ``name`` (of ``kind``); KeyError when none."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{kind.name} " if kind is not None else ""
            raise KeyError(f"no BTF type {what}{name!r} in {self.source or 'BTF'}")
        return found[0]

    # -- resolution --------------------------------------------------------------
    def _chain(self, type_id: int, kinds: frozenset[Kind]) -> Type:
        t = self[type_id]
        depth = 0
        while t._kind in kinds:
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
            k = t._kind
            if k in _SIZED:
                size: int = t.size  # type: ignore[attr-defined]
                return nelems * size
            if k == KIND.PTR:
                return nelems * self.ptr_size
            if k in _MODIFIERS or k == KIND.VAR:
                tid = t.type_id  # type: ignore[attr-defined]
            elif k == KIND.ARRAY:
                nelems *= t.nelems  # type: ignore[attr-defined]
                tid = t.type_id  # type: ignore[attr-defined]
            else:
                raise BTFError(
                    f"{kind_name(k)} type has no size", source=self.source, type_id=type_id
                )
        raise BTFError("reference loop or chain too deep", source=self.source, type_id=type_id)

    def align_of(self, type_id: int) -> int:
        """Alignment in bytes (``btf__align_of``: 1 for packed structs).  O(depth * members)."""
        return self._align(type_id, 0)

    def _align(self, type_id: int, depth: int) -> int:
        if depth > MAX_RESOLVE_DEPTH:
            raise BTFError("reference loop or chain too deep", source=self.source, type_id=type_id)
        t = self[type_id]
        k = t._kind
        if k in (KIND.INT, KIND.ENUM, KIND.ENUM64, KIND.FLOAT):
            size: int = t.size  # type: ignore[attr-defined]
            return max(1, min(self.ptr_size, size))
        if k == KIND.PTR:
            return self.ptr_size
        if k in _MODIFIERS or k == KIND.ARRAY or k == KIND.VAR:
            return self._align(t.type_id, depth + 1)  # type: ignore[attr-defined]
        if k in (KIND.STRUCT, KIND.UNION):
            best = 1
            for m in t.members:  # type: ignore[attr-defined]
                a = self._align(m.type_id, depth + 1)
                if m.bit_offset % (8 * a) and not m.bitfield_size:
                    return 1
                best = max(best, a)
            if t.size % best:  # type: ignore[attr-defined]
                return 1
            return best
        raise BTFError(f"{kind_name(k)} type has no alignment", source=self.source, type_id=type_id)

    def member_bitfield(self, member: Member) -> tuple[int, int]:
        """(bit offset, bit size) of a member; bit size 0 when it is not a bitfield.

        Handles both encodings: kind_flag (``bitfield_size``) and an INT member type
        with its own ``offset``/``bits`` narrower than its storage."""
        if member.bitfield_size:
            return member.bit_offset, member.bitfield_size
        t = self.strip_cv(member.type_id)
        t = self.resolve(member.type_id) if t._kind == KIND.TYPEDEF else t
        if t._kind == KIND.INT and (t.offset or t.bits != t.size * 8):  # type: ignore[attr-defined]
            return member.bit_offset + t.offset, t.bits  # type: ignore[attr-defined]
        return member.bit_offset, 0

    def has_special_fields(self, type_id: int) -> bool:
        """The type holds fields the kernel treats apart in map values (its
        ``btf_parse_fields``: spin locks, timers, workqueues, kptrs, list/rbtree heads
        and nodes, refcounts), in itself, its members or its array elements (not
        behind pointers): the lookup syscall zeroes them in the copy it returns.
        Conservative: any struct or union named ``bpf_*`` and any pointer to a
        TYPE_TAG (``__kptr`` and its kin) count, and so does a chain too deep or a
        loop (the answer to "may a value be copied raw?").  O(the type's members)."""
        seen: set[int] = set()
        todo = [type_id]
        while todo:
            tid = todo.pop()
            if tid in seen:
                continue
            seen.add(tid)
            try:
                t = self[tid]
            except (IndexError, KeyError, BTFError):
                return True
            k = t._kind
            if k in _MODIFIERS or k == KIND.ARRAY:
                todo.append(t.type_id)  # type: ignore[attr-defined]
            elif k == KIND.STRUCT or k == KIND.UNION:
                if t.name.startswith("bpf_"):
                    return True
                todo.extend(m.type_id for m in t.members)  # type: ignore[attr-defined]
            elif k == KIND.PTR:
                try:
                    target = self[t.type_id]  # type: ignore[attr-defined]
                except (IndexError, KeyError, BTFError):
                    return True
                if target._kind == KIND.TYPE_TAG:
                    return True
            if len(seen) > 1 << 16:
                return True
        return False

    def name_of(self, type_id: int) -> str:
        """A short C-ish name for messages: ``struct foo``, ``int``, ``(anon)``."""
        t = self[type_id]
        k = t._kind
        prefix: dict[int, str] = {
            KIND.STRUCT: "struct ",
            KIND.UNION: "union ",
            KIND.ENUM: "enum ",
            KIND.ENUM64: "enum ",
        }
        if k == KIND.UNKN:
            return "void"
        return prefix.get(k, "") + (t.name or "(anon)")


def eager_names() -> dict[str, Any]:
    """The public names of the model but ``Kind`` (built on first use), for the
    package to re-export without building it: the container and kinds' names.
    O(names)."""
    return {"BTF": BTF, **_kinds_names()}


def _lazy(name: str) -> Any:
    """``Kind`` (the module's ``__getattr__``, PEP 562): the kinds module's, built on
    first use (then a global here too, so annotations naming it resolve)."""
    if name == "Kind":
        return globals().setdefault("Kind", _kinds_attr("Kind"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not TYPE_CHECKING:  # (hidden from type checkers: they see the import above)
    __getattr__ = _lazy

"""Python source for BTF types: ``bpfmaps btf gen`` and :func:`generate`.

The module it writes defines, for the chosen types, the same classes that
``btf=True`` builds at run time (one ``@dataclass`` per struct/union, one
``IntEnum`` per enum, with the C layout as comments), the layouts as
:mod:`bpfmaps.btf.layout` literals, and codecs bound to those classes, e.g.::

    from prog_types import backends_key, backends_value, backend
    m = Map.from_pin(path, key=backends_key, value=backends_value)
    v: backend = m[k]

so the types can be checked in and seen by mypy and IDEs.  The generated code passes
``mypy`` and needs only bpfmaps at run time.  Cost: O(types) to generate.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Sequence
from typing import Any, Optional

from ..errors import CodecError
from ..maps import Map
from . import layout as L
from ._classes import _zero
from ._shapes import _members, enum_members
from .loader import load_file, load_id, load_map
from .model import Kind
from .typed import BTFCodec, Compiler, map_codecs, type_hint

__all__ = ["generate", "generate_for_btf", "generate_for_map", "map_types_of_object"]


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) else out


class _Emitter:
    def __init__(self, comp: Compiler) -> None:
        self.comp = comp
        self.order: list[Any] = []  # records and enums, dependencies first
        self.seen: set[int] = set()
        self.var: dict[int, str] = {}

    def visit(self, lay: Any) -> None:
        t = type(lay)
        if t is L.Typedef:
            self.visit(lay.type)
        elif t is L.Array:
            self.visit(lay.elem)
        elif t is L.Record:
            if id(lay) in self.seen:
                return
            self.seen.add(id(lay))
            for m in lay.members:
                self.visit(m.type)
            self.order.append(lay)
        elif t is L.Enum:
            if id(lay) in self.seen:
                return
            self.seen.add(id(lay))
            self.order.append(lay)

    def cls_name(self, lay: Any) -> str:
        if type(lay) is L.Record:
            return self.comp.record_class(lay).__name__
        return self.comp.enum_class(lay).__name__

    def lit(self, lay: Any) -> str:
        """A Python expression rebuilding ``lay`` (records/enums by variable)."""
        t = type(lay)
        if t in (L.Record, L.Enum):
            return self.var[id(lay)]
        if t is L.Typedef:
            return f"L.Typedef({lay.name!r}, {self.lit(lay.type)})"
        if t is L.Array:
            return f"L.Array({self.lit(lay.elem)}, {lay.n})"
        if t is L.Int:
            return f"L.Int({lay.size}, {lay.signed}, {lay.kind!r}, {lay.name!r})"
        if t is L.Float:
            return f"L.Float({lay.size}, {lay.name!r})"
        if t is L.Ptr:
            return f"L.Ptr({lay.size}, {lay.name!r})"
        if t is L.Opaque:
            return f"L.Opaque({lay.size}, {lay.name!r})"
        raise CodecError(f"cannot generate code for {lay!r}")

    def define(self, lay: Any) -> str:
        name = self.var[id(lay)]
        if type(lay) is L.Enum:
            vals = ", ".join(f"({n!r}, {v})" for n, v in lay.values)
            return (
                f"{name} = L.Enum({lay.name!r}, {lay.size}, ({vals}{',' if len(lay.values) == 1 else ''}),"
                f" {lay.signed})"
            )
        ms = []
        for m in lay.members:
            ms.append(
                f"        L.Member({m.name!r}, {self.lit(m.type)}, {m.bit_offset}"
                + (f", {m.bits}" if m.bits else "")
                + "),"
            )
        return (
            f"{name} = L.Record(\n    {lay.name!r},\n    {lay.size},\n    (\n"
            + "\n".join(ms)
            + f"\n    ),\n    {lay.union},\n)"
        )


def _c_type(lay: Any) -> str:
    t = type(lay)
    if t is L.Typedef:
        name: str = lay.name
        return name
    if t is L.Record:
        return f"{'union' if lay.union else 'struct'} {lay.name or '(anon)'}"
    if t is L.Enum:
        return f"enum {lay.name or '(anon)'}"
    if t is L.Array:
        dims = ""
        while type(lay) is L.Array:
            dims += f"[{lay.n}]"
            lay = lay.elem
        return _c_type(lay) + dims
    if t is L.Ptr:
        return f"{lay.name or 'void'} *"
    return lay.name or t.__name__.lower()


def generate(
    types: Sequence[tuple[str, Any]],
    *,
    source: str = "",
    note: str = "",
) -> str:
    """Python source for ``types``: (codec variable name, layout) pairs, e.g.
    ``[("backends_key", key_layout), ("backends_value", value_layout)]``.

    Every struct/union/enum they use becomes a class; each pair a codec variable.
    Errors: CodecError for layouts without a value form."""
    comp = Compiler()
    for _n, lay in types:
        comp.name_hints(lay)
        BTFCodec(lay, "value", comp)  # names every class the way run time will
    em = _Emitter(comp)
    for _n, lay in types:
        em.visit(lay)
    for lay in em.order:
        em.var[id(lay)] = f"_L_{em.cls_name(lay)}"
    class_names = {em.cls_name(lay) for lay in em.order}
    out: list[str] = []
    head = f"Types generated by ``bpfmaps btf gen``{' from ' + source if source else ''}."
    out.append(f'"""{head}')
    out.append("")
    out.append("Do not edit: regenerate instead.  Each class mirrors one C type (member offsets")
    out.append(
        "in the comments); the ``*_codec`` / map variables are codecs for Map(key=, value=)."
    )
    if note:
        out.append("")
        out.extend(note.splitlines())
    out.append('"""')
    out.append("")
    out.append("from __future__ import annotations")
    out.append("")
    out.append("import dataclasses")
    out.append("import enum")
    out.append("from typing import Any, ClassVar, Union")
    out.append("")
    out.append("from bpfmaps.btf import layout as L")
    out.append("from bpfmaps.btf.typed import BTFCodec, Compiler")
    out.append("")
    alias_needed: set[str] = set()
    for lay in em.order:
        if type(lay) is L.Record:
            for pname, _m in _members(lay):
                if pname in class_names:
                    alias_needed.add(pname)
    for lay in em.order:
        name = em.cls_name(lay)
        out.append("")
        if type(lay) is L.Enum:
            out.append(f"class {name}(enum.IntEnum):")
            out.append(
                f'    """enum {lay.name or "(anon)"}: {lay.size} bytes, {"signed" if lay.signed else "unsigned"}"""'
            )
            out.append("")
            out.extend(f"    {pn} = {v}" for pn, v in enum_members(lay.values))
        else:
            out.append("@dataclasses.dataclass")
            out.append(f"class {name}:")
            out.append(
                f'    """{"union" if lay.union else "struct"} {lay.name or "(anon)"}: {lay.size} bytes"""'
            )
            out.append("")
            for pname, m in _members(lay):
                hint = type_hint(m.type, comp, bitfield=bool(m.bits))
                for a in alias_needed:
                    hint = _replace_word(hint, a, f"_{a}_t")
                z = _zero(m.type, comp) if not m.bits else 0
                default = _default_expr(m, z, comp, alias_needed)
                where = f"offset {m.bit_offset // 8}"
                if m.bits:
                    where = f"bits {m.bit_offset}..{m.bit_offset + m.bits - 1}"
                elif m.bit_offset % 8:
                    where = f"bit {m.bit_offset}"
                size = f"{m.bits} bits" if m.bits else f"{L.size_of(m.type)} bytes"
                out.append(f"    {pname}: {hint} = {default}  # {where}, {size}: {_c_type(m.type)}")
            if not lay.members:
                out.append("    pass")
            out.append("")
            out.append("    _bpfmaps_layout: ClassVar[Any]")
        if name in alias_needed:
            out.append("")
            out.append(f"_{name}_t = {name}")
    out.append("")
    out.append("")
    out.append("# the layouts (bpfmaps.btf.layout) the codecs compile")
    for lay in em.order:
        out.append(em.define(lay))
    for lay in em.order:
        if type(lay) is L.Record:
            out.append(f"{em.cls_name(lay)}._bpfmaps_layout = {em.var[id(lay)]}")
    out.append("")
    out.append("_compiler = Compiler(")
    out.append("    classes={")
    for lay in em.order:
        n = em.cls_name(lay)
        out.append(f"        {n!r}: {n},")
    out.append("    }")
    out.append(")")
    out.append("")
    for var, lay in types:
        what = "key" if var.endswith("key") else "value"
        out.append(f"#: {_c_type(lay)}")
        out.append(f"{var}: BTFCodec = BTFCodec({em.lit(lay)}, {what!r}, _compiler)")
    out.append("")
    return "\n".join(out)


def _replace_word(text: str, word: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(word)}\b", new, text)


def _default_expr(m: L.Member, z: Any, comp: Compiler, aliases: set[str]) -> str:
    t = L.strip(m.type)
    if m.bits:
        return "False" if type(t) is L.Int and t.kind == "bool" else "0"
    if type(t) is L.Record:
        n = comp.record_class(t).__name__
        n = f"_{n}_t" if n in aliases else n
        return f"dataclasses.field(default_factory={n})"
    if type(t) is L.Enum:
        e = comp.enum_class(t)
        n = e.__name__
        n = f"_{n}_t" if n in aliases else n
        return f"{n}.{z.name}" if hasattr(z, "name") else "0"
    if isinstance(z, list):
        return f"dataclasses.field(default_factory=lambda: {_list_lit(t, comp, aliases)})"
    if isinstance(z, bytes):
        return f"bytes({len(z)})"
    return repr(z)


def _list_lit(t: Any, comp: Compiler, aliases: set[str]) -> str:
    t = L.strip(t)
    if type(t) is L.Array:
        if L.is_byte_int(t.elem):
            return f"bytes({t.n})"
        inner = _list_lit(t.elem, comp, aliases)
        if t.n > 4 and type(L.strip(t.elem)) in (L.Int, L.Float, L.Ptr):
            return f"[{inner}] * {t.n}"
        return f"[{inner} for _ in range({t.n})]"
    if type(t) is L.Record:
        n = comp.record_class(t).__name__
        return f"{'_' + n + '_t' if n in aliases else n}()"
    if type(t) is L.Enum:
        e = comp.enum_class(t)
        z = e._value2member_map_.get(0)
        n = e.__name__
        n = f"_{n}_t" if n in aliases else n
        return f"{n}.{z.name}" if z is not None else "0"
    z = _zero(t, comp)
    return repr(z)


# ---------------------------------------------------------------------- sources
def map_types_of_object(btf: Any) -> list[tuple[str, int, int]]:
    """(map name, key type id, value type id) of every map in a ``.maps`` section
    (libbpf's ``__type(key, T)`` / ``__type(value, T)`` definitions)."""
    out = []
    for t in btf:
        if t.kind != Kind.DATASEC or t.name != ".maps":
            continue
        for vs in t.vars:
            var = btf[vs.type_id]
            d = btf.resolve(var.type_id)
            if d.kind != Kind.STRUCT:
                continue
            kid = vid = 0
            for m in d.members:
                if m.name in ("key", "value"):
                    p = btf.resolve(m.type_id)
                    if p.kind == Kind.PTR:
                        if m.name == "key":
                            kid = p.type_id
                        else:
                            vid = p.type_id
            if vid:
                out.append((var.name, kid, vid))
    return out


def generate_for_btf(btf: Any, names: Sequence[str] = (), *, source: str = "") -> str:
    """Source for the types ``names`` of a parsed BTF (each a struct/union/enum/typedef
    name), or, without names, for the key/value types of every map in its ``.maps``
    section.  Errors: KeyError (unknown name), CodecError."""
    pairs: list[tuple[str, Any]] = []
    memo: dict[int, Any] = {}
    note = ""
    if names:
        for n in names:
            t = btf.find(n)
            lay = L.from_btf(btf, t.id, what=n, memo=memo)
            pairs.append((_ident(n) + "_codec", lay))
    else:
        maps = map_types_of_object(btf)
        if not maps:
            raise CodecError(
                f"{source or 'this BTF'} has no .maps section with typed maps; name the types "
                "to generate (type NAME ...)"
            )
        lines = []
        for mname, kid, vid in maps:
            if kid:
                pairs.append((_ident(mname) + "_key", L.from_btf(btf, kid, what="key", memo=memo)))
            pairs.append((_ident(mname) + "_value", L.from_btf(btf, vid, what="value", memo=memo)))
            lines.append(
                f"map {mname}: key {btf.name_of(kid) if kid else '(none)'}, value {btf.name_of(vid)}"
            )
        note = "\n".join(lines)
    return generate(pairs, source=source, note=note)


def generate_for_map(m: Any) -> str:
    """Source for the key and value types of an open Map with BTF (``<name>_key`` and
    ``<name>_value`` codecs).  Errors: NoBTFError, BPFError."""
    kc, vc = map_codecs(m.backend, m.info)
    base = _ident(m.name or f"map{m.id}")
    pairs = []
    if kc is not None:
        pairs.append((base + "_key", kc.layout))
    if vc is not None:
        pairs.append((base + "_value", vc.layout))
    note = (
        f"map {m.info.describe()}: key {kc.c_name if kc else '(no BTF type)'}, "
        f"value {vc.c_name if vc else '(no BTF type)'}"
    )
    return generate(pairs, source=f"map {m.info.describe()}", note=note)


# ---------------------------------------------------------------------- CLI
GEN_USAGE = """Usage: bpfmaps btf gen { map MAP | file FILE | id BTF_ID } [type NAME]... [out PATH]
       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }

Writes Python source (dataclasses, IntEnums, codecs) for BTF types: a map's key and
value, the maps of an object file (its .maps section), or the named types.
"""


def cli_main(args: list[str], json_mode: bool = False) -> int:
    """``bpfmaps btf gen ...``: 0, or 255 with ``Error: ...`` on stderr."""

    def err(msg: str) -> int:
        if json_mode:
            sys.stdout.write(json.dumps({"error": msg}) + "\n")
        else:
            sys.stderr.write(f"Error: {msg}\n")
        return 255

    if not args or args[0] == "help":
        sys.stdout.write(GEN_USAGE)
        return 0 if args else 255
    names: list[str] = []
    out_path: Optional[str] = None
    src = args[:2]
    rest = args[2:]
    if src[0] == "map":
        src = args[:3]
        rest = args[3:]
    while rest:
        if rest[0] == "type" and len(rest) >= 2:
            names.append(rest[1])
            rest = rest[2:]
        elif rest[0] == "out" and len(rest) >= 2:
            out_path = rest[1]
            rest = rest[2:]
        else:
            return err(f"unexpected argument {rest[0]!r}\n{GEN_USAGE}")
    try:
        text = _gen_from(src, names)
    except (CodecError, KeyError, ValueError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return err(str(msg))
    if out_path:
        with open(out_path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _gen_from(src: list[str], names: list[str]) -> str:
    if len(src) < 2:
        raise ValueError(f"expected a source\n{GEN_USAGE}")
    kind = src[0]
    if kind == "file":
        btf = load_file(src[1])
        return generate_for_btf(btf, names, source=f"file {src[1]}")
    if kind == "id":
        btf = load_id(_int(src[1]))
        return generate_for_btf(btf, names, source=f"btf id {src[1]}")
    if kind == "map":
        if len(src) < 3:
            raise ValueError(f"expected MAP after 'map'\n{GEN_USAGE}")
        how, what = src[1], src[2]
        if how == "id":
            m = Map.from_id(_int(what), readonly=True)
        elif how == "pinned":
            m = Map.from_pin(what, readonly=True)
        elif how == "name":
            m = Map.from_name(what, readonly=True)
        else:
            raise ValueError(f"expected 'id', 'pinned' or 'name', got {how!r}")
        with m:
            if names:
                return generate_for_btf(load_map(m), names, source=f"map {m.info.describe()}")
            return generate_for_map(m)
    raise ValueError(f"expected 'map', 'file' or 'id', got {kind!r}\n{GEN_USAGE}")


def _int(s: str) -> int:
    try:
        return int(s, 0)
    except ValueError:
        raise ValueError(f"invalid number {s!r}") from None

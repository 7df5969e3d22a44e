"""Compiled decoders: one ``struct.unpack`` of a whole key or value, then constructors.

:func:`compile_decoder` generates (``exec``) one function per layout from the
expressions :class:`_Flat` collects: scalars straight from the unpacked tuple, enum
members by dict lookup, bitfield runs by shift and mask, unions and overlapping
structs member by member over the same bytes.  Pure Python.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional

from ..errors import CodecError
from . import layout as L
from ._shapes import _LITTLE, _UINT_FMT, _UNROLL, Codegen, _overlapping, _scalar_fmt, _storage_runs


class _Flat:
    """Accumulates one struct format and the expressions that rebuild values from its
    items (``_i<k>`` locals), for one generated function."""

    def __init__(self, comp: Codegen, g: dict[str, Any]) -> None:
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
        for idxs, start, end in _storage_runs(rec):
            m = rec.members[idxs[0]]
            if not m.bits:
                exprs[idxs[0]] = self.value(m.type, off + m.bit_offset // 8)
                continue
            # a run of overlapping bitfields: one unsigned integer
            if not _LITTLE:
                raise CodecError("bitfields are supported on little-endian hosts only")
            size = end - start
            f = _UINT_FMT.get(size)
            if f is None:
                raw = self._item(f"{size}s", off + start, size)
                fb = self.comp.sym(self.g, int.from_bytes, "_fb")
                run = f"_b{len(self.pre)}"
                self.pre.append(f"{run} = {fb}({raw}, 'little')")
            else:
                run = self._item(f, off + start, size)
            for x in idxs:
                b = rec.members[x]
                exprs[x] = _bitfield_expr(self, run, b, b.bit_offset - start * 8)
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


def compile_decoder(comp: Codegen, lay: Any) -> Callable[[bytes], Any]:
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
    fn.__source__ = src
    return fn  # type: ignore[no-any-return]


def _simple_call(expr: str, items: list[str]) -> Optional[str]:
    """``_C3(_i0, _i1, _i2)`` -> ``_C3`` (every item once, in order, nothing else)."""
    head, sep, rest = expr.partition("(")
    if not sep or not head.startswith("_C") or not rest.endswith(")"):
        return None
    if rest[:-1].split(", ") == items:
        return head
    return None


def compile_member_decoder(comp: Codegen, rec: L.Record, idx: int) -> Callable[[bytes], Any]:
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

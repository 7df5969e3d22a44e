"""Encoders: the compiled fast path (one ``pack``) and the checking path (named errors).

:func:`compile_encoder` generates one function per layout that type-checks its input
with plain statements and packs it in one call, raising ``_Bad`` for anything it
does not take; :func:`check_encode` then walks the value, checks every field and
names the path of what is wrong (``value.backend.port``).  Unions and overlapping
structs always take the checking path (it knows which member was assigned).
Pure Python.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ..errors import CodecError
from . import layout as L
from ._shapes import (
    _BYTESLIKE,
    _FLOAT_FMT,
    _UINT_FMT,
    _UNROLL,
    Codegen,
    _Bad,
    _members,
    _overlapping,
    _scalar_fmt,
    _storage_runs,
)


class _FlatEnc:
    """The fast encoder: type checks as statements, one pack call."""

    def __init__(self, comp: Codegen, g: dict[str, Any], dicts: bool = False) -> None:
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
        for idxs, start, end in _storage_runs(rec):
            pname, m = pairs[idxs[0]]
            if not m.bits:
                self.value(m.type, off + m.bit_offset // 8, self.get(v, pname))
                continue
            parts = []
            for x in idxs:
                bp, b = pairs[x]
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
            f = _UINT_FMT.get(size)
            if f is None:
                self.arg(f"{size}s", off + start, size, f"({combined}).to_bytes({size}, 'little')")
            else:
                self.arg(f, off + start, size, combined)


def _bit_range(m: L.Member) -> tuple[int, int]:
    t = L.strip(m.type)
    if type(t) in (L.Int, L.Enum) and t.signed:
        return -(1 << (m.bits - 1)), (1 << (m.bits - 1)) - 1
    return 0, (1 << m.bits) - 1


def compile_encoder(comp: Codegen, lay: Any) -> Callable[[Any], bytes]:
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
    fn.__source__ = src
    return fn  # type: ignore[no-any-return]


def _union_encoder(comp: Codegen, rec: L.Record) -> Callable[[Any], bytes]:
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


def check_encode(comp: Codegen, lay: Any, obj: Any, path: str) -> bytes:
    """Encode ``obj`` as ``lay`` checking everything; CodecError names the path."""
    buf = bytearray(L.size_of(lay))
    _enc_into(comp, lay, obj, path, buf, 0)
    return bytes(buf)


def _enc_into(comp: Codegen, lay: Any, obj: Any, path: str, buf: bytearray, off: int) -> None:
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
        for i, elem in enumerate(obj):
            _enc_into(comp, t.elem, elem, f"{path}[{i}]", buf, off + i * es)
        return
    if k is L.Record:
        _enc_record(comp, t, obj, path, buf, off)
        return
    raise CodecError(f"{path}: cannot encode type {t!r}")


def _enc_record(
    comp: Codegen, rec: L.Record, obj: Any, path: str, buf: bytearray, off: int
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

"""The layout rules every BTF codec part shares: Python names, scalar formats, overlaps.

Used by :mod:`bpfmaps.btf._classes` (the generated classes), :mod:`bpfmaps.btf._decode`
and :mod:`bpfmaps.btf._encode` (the generated functions); see
:mod:`bpfmaps.btf.typed` for the value rules.  Pure Python.
"""

from __future__ import annotations

import enum
import keyword
import sys
from collections.abc import Sequence
from typing import Any, Callable, Optional, Protocol

from ..errors import CodecError
from . import layout as L

_LITTLE = sys.byteorder == "little"
_BYTESLIKE = (bytes, bytearray, memoryview)
#: arrays longer than this decode through one sub-struct instead of one local per element
_UNROLL = 16


class Codegen(Protocol):
    """What the decoder and encoder builders (:mod:`bpfmaps.btf._decode`,
    :mod:`bpfmaps.btf._encode`) need of the compiler that calls them
    (:class:`bpfmaps.btf._classes.Compiler`): names bound in generated code, the
    shared classes, and the cached codecs of nested layouts.  They depend on this
    interface only, so the compiler imports them one way."""

    def sym(self, g: dict[str, Any], obj: Any, prefix: str = "_o") -> str: ...
    def enum_class(self, t: L.Enum) -> type[enum.IntEnum]: ...
    def record_class(self, rec: L.Record) -> type: ...
    def decoder(self, lay: Any) -> Callable[[bytes], Any]: ...
    def member_decoder(self, rec: L.Record, idx: int) -> Callable[[bytes], Any]: ...
    def encoder(self, lay: Any) -> Callable[[Any], bytes]: ...


def py_name(name: str) -> str:
    """The Python attribute/class name for a C name (keywords get a trailing ``_``)."""
    if keyword.iskeyword(name) or name in ("None", "True", "False"):
        return name + "_"
    return name


def enum_members(values: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """(Python name, value) of an enum layout's values, as the generated IntEnum and
    ``btf gen``'s source name them: ``py_name`` of the C name, ``V_<name>`` for names
    with a leading ``__`` (``V_<value>`` for an empty one); a repeated name keeps its
    first value.  Cost: O(values)."""
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for n, v in values:
        pn = py_name(n) if n and not n.startswith("__") else f"V_{n.strip('_') or v}"
        if pn not in seen:
            seen.add(pn)
            out.append((pn, v))
    return out


class _Bad(Exception):
    """Internal: the fast encoder cannot take this input; use the checking path."""


_INT_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}
_FLOAT_FMT = {2: "e", 4: "f", 8: "d"}


def _scalar_fmt(t: Any) -> Optional[str]:
    """struct format of a scalar layout decoded/encoded as one item, or None."""
    k = type(t)
    if k is L.Int:
        if t.kind == "bool" and t.size == 1:
            return "?"
        f = _INT_FMT.get(t.size)
        return None if f is None else (f if t.signed else f.upper())
    if k is L.Enum:
        f = _INT_FMT[t.size]
        return f if t.signed else f.upper()
    if k is L.Float:
        return _FLOAT_FMT.get(t.size)
    if k is L.Ptr:
        return "Q" if t.size == 8 else "I"
    return None


def _members(rec: L.Record) -> list[tuple[str, L.Member]]:
    """(python attribute name, member) in declaration order (the anonymous-member rule)."""
    out = []
    anon = 0
    for m in rec.members:
        if m.name:
            out.append((py_name(m.name), m))
        else:
            out.append((f"_anon{anon}", m))
            anon += 1
    return out


#: struct format of an unsigned integer of 1, 2, 4 or 8 bytes (a bitfield run's storage)
_UINT_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _storage_runs(rec: L.Record) -> list[tuple[list[int], int, int]]:
    """The members of a (non-overlapping) struct by bit offset, grouped by the bytes
    they are stored in: ``(member indexes, first byte, end byte)`` per run.  A member
    that is not a bitfield is a run of its own (end byte = first byte: its type has
    the size); bitfields whose bytes overlap form one run (one unsigned integer of
    ``end - first`` bytes).  Cost: O(n log n)."""
    members = rec.members
    order = sorted(range(len(members)), key=lambda i: members[i].bit_offset)
    runs: list[tuple[list[int], int, int]] = []
    i = 0
    while i < len(order):
        m = members[order[i]]
        start = m.bit_offset // 8
        if not m.bits:
            runs.append(([order[i]], start, start))
            i += 1
            continue
        end = (m.bit_offset + m.bits + 7) // 8
        j = i + 1
        while j < len(order):
            n = members[order[j]]
            if not n.bits or n.bit_offset // 8 >= end:
                break
            end = max(end, (n.bit_offset + n.bits + 7) // 8)
            j += 1
        runs.append((order[i:j], start, end))
        i = j
    return runs


def _overlapping(rec: L.Record) -> bool:
    """A struct whose members overlap (beyond bitfields sharing bytes), are not byte
    aligned, or run past its end: decoded member by member, like a union."""
    end = 0  # first byte not yet used
    prev_bits = False
    for m in sorted(rec.members, key=lambda m: m.bit_offset):
        if m.bits:
            start = m.bit_offset // 8
            stop = (m.bit_offset + m.bits + 7) // 8
            if start < end and not prev_bits:
                return True
            end = max(end, stop)
            prev_bits = True
            continue
        start = m.bit_offset
        if start % 8 or start // 8 < end:
            return True
        end = start // 8 + L.size_of(m.type)
        prev_bits = False
    return end > rec.size


def _check_layout(lay: Any, path: str, seen: set[int]) -> None:
    """Members must lie inside their record (the kernel's BTF checks say the same)."""
    t = L.strip(lay)
    if id(t) in seen:
        return
    seen.add(id(t))
    if type(t) is L.Array:
        _check_layout(t.elem, path + "[]", seen)
    elif type(t) is L.Record:
        for pname, m in _members(t):
            bits = m.bits or L.size_of(m.type) * 8
            if m.bit_offset < 0 or m.bit_offset + bits > t.size * 8:
                raise CodecError(
                    f"{path}.{pname}: member at bit {m.bit_offset} ({bits} bits) lies outside "
                    f"its {t.size}-byte {'union' if t.union else 'struct'}"
                )
            if m.bits and type(L.strip(m.type)) not in (L.Int, L.Enum):
                raise CodecError(f"{path}.{pname}: a bitfield of a non-integer type")
            _check_layout(m.type, f"{path}.{pname}", seen)

"""Parse raw BTF blobs and ELF ``.BTF`` sections into the :mod:`bpfmaps.btf.model`.

* :func:`parse` -- a raw blob (``/sys/kernel/btf/*``, BTF_GET_INFO output, a ``.BTF``
  section), optionally split over a ``base`` BTF (module BTF over vmlinux: ids and
  string offsets continue after the base's).  Either byte order (the magic tells).
* :func:`elf_btf_section` -- the bytes of the ``.BTF`` section of an ELF object
  (32/64-bit, either endianness), e.g. a ``clang -target bpf -g`` output.

Checks (each a :class:`BTFError` naming the offset/type id): magic, version, header
length and section bounds, truncated type records, unknown kinds, string offsets
out of the string section or not NUL-terminated, referenced type ids out of range,
and reference loops that do not go through a pointer (typedef/modifier chains,
arrays or structs containing themselves).  Never an IndexError/struct.error, never
unbounded recursion.  Cost: O(size of the blob); vmlinux (about 125k types, 5 MB)
takes a few hundred milliseconds (benchmarks/bench_btf_parse.py).
"""

from __future__ import annotations

import gc
import itertools
import struct
import sys

from .kinds import KIND, kind_name
from .model import (
    BTF,
    Array,
    BTFError,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarSecinfo,
    Void,
    Volatile,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: importing the parser loads no typing)
    from array import array
    from collections.abc import Iterable, Iterator
    from typing import Any, Callable, Optional, TypeAlias

    #: the type section's words: native uint32 (a memoryview or, byte-swapped, an array;
    #: a string: ``array[int]`` is not subscriptable at run time, where the API docs run
    #: this block)
    Words: TypeAlias = "memoryview | array[int]"

__all__ = ["parse", "elf_btf_section", "BTF_MAGIC"]

BTF_MAGIC = 0xEB9F
_HDR_MIN = 24


def _strings(data: bytes, source: str, split: bool) -> bytes:
    if data and data[-1] != 0:
        raise BTFError("string section is not NUL-terminated", source=source)
    if not split and (not data or data[0] != 0):
        raise BTFError("string section must start with the empty string", source=source)
    return data


def parse(
    data: bytes,
    base: Optional[BTF] = None,
    *,
    source: str = "",
    ptr_size: int = 8,
    check_loops: bool = True,
) -> BTF:
    """Parse a raw BTF blob into a :class:`BTF` (split over ``base`` when given).

    Cost: O(len(data)); the cyclic GC is paused meanwhile (the model is acyclic
    per type, and 100k+ new objects would trigger it dozens of times).
    Errors: BTFError (see module docstring).  No syscall."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, base, source, ptr_size, check_loops)
    finally:
        if enabled:
            gc.enable()


def _parse(data: bytes, base: Optional[BTF], source: str, ptr_size: int, check_loops: bool) -> BTF:
    data = bytes(data)
    n = len(data)
    if n < 4:
        raise BTFError(f"truncated header ({n} bytes)", source=source, offset=0)
    if data[0:2] == b"\x9f\xeb":
        e = "<"
    elif data[0:2] == b"\xeb\x9f":
        e = ">"
    else:
        raise BTFError(
            f"wrong magic 0x{int.from_bytes(data[0:2], 'little'):04x} (want 0xeb9f)",
            source=source,
            offset=0,
        )
    version = data[2]
    if version != 1:
        raise BTFError(f"unsupported version {version}", source=source, offset=2)
    if n < 8:
        raise BTFError(f"truncated header ({n} bytes)", source=source, offset=0)
    (hdr_len,) = struct.unpack_from(e + "I", data, 4)
    if hdr_len < _HDR_MIN or hdr_len > n:
        raise BTFError(
            f"header length {hdr_len} invalid for a {n}-byte blob", source=source, offset=4
        )
    if any(data[_HDR_MIN:hdr_len]):
        raise BTFError("unknown non-zero header fields", source=source, offset=_HDR_MIN)
    type_off, type_len, str_off, str_len = struct.unpack_from(e + "IIII", data, 8)
    body = n - hdr_len
    if type_off % 4:
        raise BTFError("type section is not 4-byte aligned", source=source, offset=8)
    if type_off + type_len > body or str_off + str_len > body:
        raise BTFError(
            f"section out of bounds (types {type_off}+{type_len}, strings {str_off}+{str_len},"
            f" {body} bytes after the header)",
            source=source,
            offset=8,
        )
    if type_off < str_off < type_off + type_len or str_off < type_off < str_off + str_len:
        raise BTFError("type and string sections overlap", source=source, offset=8)
    if str_len > 0x7FFFFFFF:
        raise BTFError("string section too large", source=source, offset=20)
    strs = _strings(data[hdr_len + str_off : hdr_len + str_off + str_len], source, base is not None)
    tstart = hdr_len + type_off
    if type_len % 4:
        raise BTFError(
            f"type section length {type_len} is not a multiple of 4",
            source=source,
            offset=12,
        )
    # the type section as native uint32 words: a view of a copy (not the array module,
    # which imports collections.abc: about 1.5 ms of a batch file's start-up), or for a
    # blob of the other byte order, the words swapped by array
    words: Words = memoryview(data[tstart : tstart + type_len]).cast("I")
    if (e == "<") != (sys.byteorder == "little"):
        from array import array

        swapped = array("I", words)
        swapped.byteswap()
        words = swapped

    if base is not None:
        types = list(base.types)
        base_str_len = base._str_len_total
        base_string = base._string
    else:
        types = []
        base_str_len = 0
        base_string = None
    btf = BTF(types, base=base, source=source, raw=data, ptr_size=ptr_size, endian=e)
    if base is None:
        types.append(Void(btf, 0, ""))
    str_len_total = base_str_len + len(strs)
    names = _all_strings(strs, base_str_len)
    find = strs.find

    def name(off: int, where: int) -> str:
        s = names.get(off)
        if s is not None:
            return s
        if off < base_str_len:
            s = base_string(off) if base_string is not None else None
            if s is None:
                raise BTFError(f"name offset {off} invalid", source=source, offset=where)
        else:
            o = off - base_str_len
            if o >= len(strs):
                raise BTFError(
                    f"name offset {off} out of the string section ({str_len_total} bytes)",
                    source=source,
                    offset=where,
                )
            end = find(b"\0", o)
            s = strs[o:end].decode("utf-8", "replace")
        names[off] = s
        return s

    def string(off: int) -> Optional[str]:
        try:
            return name(off, 0)
        except BTFError:
            return None

    btf._string = string
    btf._str_len_total = str_len_total
    btf._decode_items = lambda t: _decode_items(words, name, names, tstart, t)

    append = types.append
    nw = len(words)
    i = 0
    tid = len(types)
    ref_max = 0  # largest referenced type id, checked against the count at the end
    while i < nw:
        where = tstart + 4 * i
        if i + 3 > nw:
            raise BTFError("truncated type record", source=source, offset=where, type_id=tid)
        name_off = words[i]
        info = words[i + 1]
        st = words[i + 2]
        i += 3
        kind = (info >> 24) & 0x1F
        nm = names.get(name_off)
        if nm is None:
            nm = name(name_off, where)
        if kind == 12:  # FUNC
            if st > ref_max:
                ref_max = st
            append(Func(btf, tid, nm, st, info & 0xFFFF))
        elif kind == 13:  # FUNC_PROTO
            vlen = info & 0xFFFF
            end = i + 2 * vlen
            if end > nw:
                raise BTFError(
                    "truncated FUNC_PROTO params", source=source, offset=where, type_id=tid
                )
            if st > ref_max:
                ref_max = st
            if vlen:
                m = max(words[i + 1 : end : 2])
                if m > ref_max:
                    ref_max = m
                if max(words[i:end:2]) >= str_len_total:
                    _bad_names(words, i, end, 2, name, where)
            append(FuncProto(btf, tid, nm, st, None, i))
            i = end
        elif kind == 2 or kind == 8 or kind == 10 or kind == 9 or kind == 11 or kind == 18:
            if st > ref_max:
                ref_max = st
            append(_REF_CLASSES[kind](btf, tid, nm, st))
        elif kind == 4 or kind == 5:
            vlen = info & 0xFFFF
            end = i + 3 * vlen
            if end > nw:
                raise BTFError("truncated members", source=source, offset=where, type_id=tid)
            if vlen:
                m = max(words[i + 1 : end : 3])
                if m > ref_max:
                    ref_max = m
                if max(words[i:end:3]) >= str_len_total:
                    _bad_names(words, i, end, 3, name, where)
            append((Struct if kind == 4 else Union)(btf, tid, nm, st, None, bool(info >> 31), i))
            i = end
        elif kind == 3:
            if i + 3 > nw:
                raise BTFError("truncated ARRAY", source=source, offset=where, type_id=tid)
            a = words[i]
            b = words[i + 1]
            ref_max = max(ref_max, a, b)
            append(Array(btf, tid, nm, a, b, words[i + 2]))
            i += 3
        elif kind == 1:  # INT
            if i + 1 > nw:
                raise BTFError("truncated INT", source=source, offset=where, type_id=tid)
            v = words[i]
            i += 1
            bits = v & 0xFF
            ioff = (v >> 16) & 0xFF
            if st not in (1, 2, 4, 8, 16) or bits == 0 or bits > 128 or ioff + bits > st * 8:
                raise BTFError(
                    f"INT size {st} bits {bits} offset {ioff} invalid",
                    source=source,
                    offset=where,
                    type_id=tid,
                )
            append(Int(btf, tid, nm, st, (v >> 24) & 0xF, ioff, bits))
        elif kind == 6 or kind == 19:
            vlen = info & 0xFFFF
            step = 2 if kind == 6 else 3
            end = i + step * vlen
            if end > nw:
                raise BTFError(
                    f"truncated {kind_name(kind)} values", source=source, offset=where, type_id=tid
                )
            if vlen and max(words[i:end:step]) >= str_len_total:
                _bad_names(words, i, end, step, name, where)
            append((Enum if kind == 6 else Enum64)(btf, tid, nm, st, None, bool(info >> 31), i))
            i = end
        elif kind == 7:
            append(Fwd(btf, tid, nm, bool(info >> 31)))
        elif kind == 14:
            if i + 1 > nw:
                raise BTFError("truncated VAR", source=source, offset=where, type_id=tid)
            if st > ref_max:
                ref_max = st
            append(Var(btf, tid, nm, st, words[i]))
            i += 1
        elif kind == 15:
            vlen = info & 0xFFFF
            end = i + 3 * vlen
            if end > nw:
                raise BTFError("truncated DATASEC", source=source, offset=where, type_id=tid)
            if vlen:
                m = max(words[i:end:3])
                if m > ref_max:
                    ref_max = m
            append(Datasec(btf, tid, nm, st, None, i))
            i = end
        elif kind == 16:
            if st not in (2, 4, 8, 12, 16):
                raise BTFError(f"FLOAT size {st} invalid", source=source, offset=where, type_id=tid)
            append(Float(btf, tid, nm, st))
        elif kind == 17:
            if i + 1 > nw:
                raise BTFError("truncated DECL_TAG", source=source, offset=where, type_id=tid)
            if st > ref_max:
                ref_max = st
            v = words[i]
            append(DeclTag(btf, tid, nm, st, v - (1 << 32) if v >= 1 << 31 else v))
            i += 1
        else:
            raise BTFError(f"unknown kind {kind}", source=source, offset=where, type_id=tid)
        tid += 1
    if ref_max >= len(types):
        _find_bad_ref(btf, words)
    if check_loops:
        _check_loops(btf, words)
    return btf


_new = tuple.__new__  # map(_new, repeat(Member), rows): records made at C speed
_REF_CLASSES = {2: Ptr, 8: Typedef, 9: Volatile, 10: Const, 11: Restrict, 18: TypeTag}


def _all_strings(strs: bytes, base: int) -> dict[int, str]:
    """Offset -> string for every string that starts after a NUL (one C-speed pass)."""
    if strs.isascii():
        parts = strs.decode("ascii").split("\0")
    else:
        parts = [p.decode("utf-8", "replace") for p in strs.split(b"\0")]
    if not strs.isascii():
        offs = itertools.accumulate([len(p) + 1 for p in strs.split(b"\0")], initial=base)
    else:
        offs = itertools.accumulate([len(p) + 1 for p in parts], initial=base)
    return dict(zip(offs, parts))


def _bad_names(
    words: Words, i: int, end: int, step: int, name: Callable[[int, int], str], where: int
) -> None:
    for j in range(i, end, step):
        name(words[j], where)


def _decode_items(
    words: Words,
    name: Callable[[int, int], str],
    names: dict[int, str],
    tstart: int,
    t: Any,
) -> tuple[Any, ...]:
    """The members/values/params/vars of lazy type ``t`` (``t._dec`` = word offset)."""
    i = t._dec
    k = t._kind
    if i < 0:
        return ()
    where = tstart + 4 * i
    raw_vlen = words[i - 2] & 0xFFFF
    if k == KIND.STRUCT or k == KIND.UNION:
        w = words[i : i + 3 * raw_vlen]
        nms = list(map(names.get, w[0::3]))
        if None in nms:
            nms = [name(o, where) for o in w[0::3]]
        if t.kind_flag:
            offs = w[2::3]
            return tuple(
                map(
                    _new,
                    itertools.repeat(Member),
                    zip(nms, w[1::3], [o & 0xFFFFFF for o in offs], [o >> 24 for o in offs]),
                )
            )
        return tuple(
            map(_new, itertools.repeat(Member), zip(nms, w[1::3], w[2::3], itertools.repeat(0)))
        )
    if k == KIND.ENUM:
        w = words[i : i + 2 * raw_vlen]
        if t.signed:
            return tuple(
                [
                    EnumValue(
                        name(w[j], where), w[j + 1] - (1 << 32) if w[j + 1] >= 1 << 31 else w[j + 1]
                    )
                    for j in range(0, len(w), 2)
                ]
            )
        return tuple([EnumValue(name(w[j], where), w[j + 1]) for j in range(0, len(w), 2)])
    if k == KIND.ENUM64:
        w = words[i : i + 3 * raw_vlen]
        out = []
        for j in range(0, len(w), 3):
            v = (w[j + 2] << 32) | w[j + 1]
            if t.signed and v >= 1 << 63:
                v -= 1 << 64
            out.append(EnumValue(name(w[j], where), v))
        return tuple(out)
    if k == KIND.FUNC_PROTO:
        w = words[i : i + 2 * raw_vlen]
        nms = list(map(names.get, w[0::2]))
        if None in nms:
            nms = [name(o, where) for o in w[0::2]]
        return tuple(map(_new, itertools.repeat(Param), zip(nms, w[1::2])))
    if k == KIND.DATASEC:
        w = words[i : i + 3 * raw_vlen]
        return tuple([VarSecinfo(w[j], w[j + 1], w[j + 2]) for j in range(0, len(w), 3)])
    return ()


def _refs(t: Any, words: Words) -> list[int]:
    """Type ids that ``t`` refers to (every edge, pointers included)."""
    k = t._kind
    if k in (KIND.STRUCT, KIND.UNION):
        i = t._dec
        return list(words[i + 1 : i + 3 * (words[i - 2] & 0xFFFF) : 3])
    if k == KIND.FUNC_PROTO:
        i = t._dec
        return [t.type_id, *words[i + 1 : i + 2 * (words[i - 2] & 0xFFFF) : 2]]
    if k == KIND.DATASEC:
        i = t._dec
        return list(words[i : i + 3 * (words[i - 2] & 0xFFFF) : 3])
    if k == KIND.ARRAY:
        return [t.type_id, t.index_type_id]
    if hasattr(t, "type_id"):
        return [t.type_id]
    return []


def _find_bad_ref(btf: BTF, words: Words) -> None:
    n = len(btf.types)
    for t in btf.types[btf.start_id :]:
        for r in _refs(t, words):
            if r >= n:
                raise BTFError(
                    f"{kind_name(t._kind)} refers to type id {r}, out of range (0..{n - 1})",
                    source=btf.source,
                    type_id=t.id,
                )


_VALUE_REF = frozenset(
    (KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG, KIND.VAR, KIND.ARRAY)
)


def _check_loops(btf: BTF, words: Words) -> None:
    """No cycle along value edges (member types, array elements, modifier/typedef/var
    targets, datasec vars): such BTF would make sizes and dumps recurse forever.
    Iterative three-colour DFS, O(types + members)."""
    types = btf.types
    start = btf.start_id
    VR = _VALUE_REF | {KIND.STRUCT, KIND.UNION, KIND.DATASEC}
    state = bytearray(len(types))  # 0 new, 1 on stack, 2 done
    # only value-kind neighbours can close a loop: filter the others at C speed
    mask = bytearray(len(types))
    for t in types[start:]:
        if t._kind in VR:
            mask[t.id] = 1
    keep: Callable[[int], int] = mask.__getitem__
    for t in types[start:]:
        if state[t.id] or not mask[t.id]:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(t.id, filter(keep, _edges(t, words)))]
        state[t.id] = 1
        while stack:
            node, it = stack[-1]
            for nxt in it:
                s = state[nxt]
                if s == 2:
                    continue
                if s == 1:
                    raise BTFError(
                        "reference loop: the type contains itself without a pointer",
                        source=btf.source,
                        type_id=nxt,
                    )
                state[nxt] = 1
                stack.append((nxt, filter(keep, _edges(types[nxt], words))))
                break
            else:
                state[node] = 2
                stack.pop()


def _edges(t: Any, words: Words) -> Iterable[int]:
    k = t._kind
    if k == KIND.STRUCT or k == KIND.UNION:
        i = t._dec
        return words[i + 1 : i + 3 * (words[i - 2] & 0xFFFF) : 3]
    if k == KIND.DATASEC:
        i = t._dec
        return words[i : i + 3 * (words[i - 2] & 0xFFFF) : 3]
    return (t.type_id,)


def elf_btf_section(data: bytes, source: str = "", section: str = ".BTF") -> bytes:
    """The bytes of section ``section`` (default ``.BTF``) of an ELF file.

    Cost: O(number of sections).  Errors: BTFError when not an ELF file, truncated
    headers, or no such section.  No syscall."""
    data = bytes(data)
    if len(data) < 16 or data[:4] != b"\x7fELF":
        raise BTFError("not an ELF file", source=source, offset=0)
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise BTFError(
            f"unsupported ELF class {cls} / data encoding {enc}", source=source, offset=4
        )
    e = "<" if enc == 1 else ">"
    try:
        if cls == 2:
            (shoff,) = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
            fmt = e + "IIQQQQIIQQ"
        else:
            (shoff,) = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
            fmt = e + "IIIIIIIIII"
        need = struct.calcsize(fmt)
        if shentsize < need:
            raise BTFError(f"ELF section header size {shentsize} too small", source=source)
        if shnum == 0 or shoff + shnum * shentsize > len(data):
            raise BTFError("ELF section headers out of the file", source=source, offset=shoff)
        if shstrndx >= shnum:
            raise BTFError("ELF section name table index out of range", source=source)
        secs = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, ...
        stab = secs[shstrndx]
        s_off, s_size = stab[4], stab[5]
        if s_off + s_size > len(data):
            raise BTFError("ELF section name table out of the file", source=source, offset=s_off)
        names = data[s_off : s_off + s_size]
        want = section.encode()
        for sec in secs:
            nm_off = sec[0]
            if nm_off >= len(names):
                continue
            end = names.find(b"\0", nm_off)
            if end < 0:
                end = len(names)
            if names[nm_off:end] == want:
                off, size = sec[4], sec[5]
                if sec[1] == 8:  # SHT_NOBITS
                    raise BTFError(f"{section} section has no data", source=source)
                if off + size > len(data):
                    raise BTFError(f"{section} section out of the file", source=source, offset=off)
                return data[off : off + size]
    except struct.error as exc:
        raise BTFError(f"truncated ELF file ({exc})", source=source) from None
    raise BTFError(f"no {section} section (compile with clang -g)", source=source)

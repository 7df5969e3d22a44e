"""An independent model of progs/typed_maps.bpf.c's types, written with ctypes.

It does not use bpfmaps: ctypes lays the structs out with the host compiler's rules,
so comparing it with what the BTF codecs decode checks offsets, signedness, bitfields,
arrays and the value rules.  ``expected(cls, data)`` gives the Python values the rules
promise (plain dicts/lists/ints), ``canonical(cls, data)`` the bytes a decoded value
encodes back to (padding and unused bits zero, _Bool bytes 0/1).
"""

from __future__ import annotations

import ctypes
import struct

C = ctypes


class addr(C.Structure):
    _fields_ = [("ip", C.c_uint32), ("port", C.c_uint16), ("proto", C.c_uint8), ("up", C.c_bool)]


class flow_key(C.Structure):
    _fields_ = [("src", addr), ("dst", addr)]


class LoHi(C.Structure):
    _fields_ = [("lo", C.c_uint32), ("hi", C.c_uint32)]


class U(C.Union):
    _fields_ = [("raw", C.c_uint64), ("_anon0", LoHi)]


class Stats(C.Structure):
    _fields_ = [("ratio", C.c_float), ("avg", C.c_double)]


class backend(C.Structure):
    _fields_ = [
        ("addr", addr),
        ("name", C.c_uint8 * 16),
        ("mac", C.c_uint8 * 6),
        ("weights", C.c_int16 * 3),
        ("grid", (C.c_uint32 * 3) * 2),
        ("color", C.c_uint32),
        ("kind", C.c_uint32, 3),
        ("delta", C.c_int32, 5),
        ("flag", C.c_uint32, 1),
        ("tint", C.c_uint32, 4),
        ("_anon0", U),
        ("stats", Stats),
        ("ptr", C.c_uint64),
        ("counters", C.c_int64 * 20),
        ("big", C.c_uint64),
        ("tiny", C.c_int8),
        ("sc", C.c_int8),
    ]


class lpm_key(C.Structure):
    _fields_ = [("prefixlen", C.c_uint32), ("data", C.c_uint8 * 4)]


#: byte arrays (char/__u8 arrays decode to bytes); bool members
BYTES = {"name", "mac", "data"}
BOOLS = {"up"}
#: enum members (enum color values -> names), unsigned as clang wrote them
COLOR = {0: "RED", 1: "GREEN", 2: "BLUE", 4294967291: "NEG"}
ENUMS = {"color": COLOR, "tint": COLOR}


def _val(name: str, v):
    if isinstance(v, C.Array):
        if name in BYTES:
            return bytes(v)
        return [_val(name, x) for x in v]
    if isinstance(v, (C.Structure, C.Union)):
        return expected_obj(v)
    if isinstance(v, float):
        return ("float", struct.pack("=d", v))
    if name in ENUMS and v in ENUMS[name]:
        return (ENUMS[name][v], v)
    return v


def expected_obj(obj) -> dict:
    return {f[0]: _val(f[0], getattr(obj, f[0])) for f in obj._fields_}


def expected(cls, data: bytes) -> dict:
    return expected_obj(cls.from_buffer_copy(data))


def normalize(v):
    """A decoded bpfmaps value in the model's shape (records -> dicts ...)."""
    import dataclasses
    import enum

    if dataclasses.is_dataclass(v):
        return {f.name: normalize(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list):
        return [normalize(x) for x in v]
    if isinstance(v, float):
        return ("float", struct.pack("=d", v))
    if isinstance(v, enum.IntEnum):
        return (v.name, int(v))
    return v


def _leaves(cls, base_bit: int = 0):
    """(bit offset, bits, is_bool) of every member byte range, bitfields included."""
    out = []
    for f in cls._fields_:
        name, t = f[0], f[1]
        d = getattr(cls, name)
        if len(f) > 2:
            out.append((base_bit + d.offset * 8 + (d.size & 0xFFFF), d.size >> 16, False))
            continue
        out += _leaves_of(t, base_bit + d.offset * 8, name in BOOLS)
    return out


def _leaves_of(t, bit: int, is_bool: bool):
    if isinstance(t, type) and issubclass(t, C.Array):
        es = C.sizeof(t._type_) * 8
        out = []
        for i in range(t._length_):
            out += _leaves_of(t._type_, bit + i * es, is_bool)
        return out
    if isinstance(t, type) and issubclass(t, C.Union):
        # the codec keeps the union's bytes: every byte counts
        return [(bit, C.sizeof(t) * 8, False)]
    if isinstance(t, type) and issubclass(t, C.Structure):
        return _leaves(t, bit)
    return [(bit, C.sizeof(t) * 8, is_bool)]


def canonical(cls, data: bytes) -> bytes:
    """``data`` with every bit outside a member cleared and _Bool bytes made 0/1."""
    n = int.from_bytes(data, "little")
    mask = 0
    for bit, bits, _b in _leaves(cls):
        mask |= ((1 << bits) - 1) << bit
    n &= mask
    out = bytearray(n.to_bytes(len(data), "little"))
    for bit, _bits, is_bool in _leaves(cls):
        if is_bool:
            out[bit // 8] = 1 if out[bit // 8] else 0
    return bytes(out)

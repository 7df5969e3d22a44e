"""BTF codec rules on hand-made layouts and BTF written by bpfmaps.btf.writer (no kernel)."""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfmaps import CodecError
from bpfmaps import codecs as C
from bpfmaps.btf import Kind, parse
from bpfmaps.btf import layout as L
from bpfmaps.btf.fromcodec import bpf_spin_lock, btf_for_map, layout_of
from bpfmaps.btf.typed import BTFCodec, Compiler, btf_codecs, check_encode, codec_for
from bpfmaps.btf.writer import BTFWriter

U8 = L.Int(1, False, "char", "unsigned char")
U16 = L.Int(2, False, "int", "unsigned short")
U32 = L.Int(4, False, "int", "unsigned int")
I32 = L.Int(4, True, "int", "int")
I64 = L.Int(8, True, "int", "long long")
BOOL = L.Int(1, False, "bool", "_Bool")
CHAR = L.Int(1, True, "char", "char")
COLOR = L.Enum("color", 4, (("RED", 0), ("BLUE", 2), ("NEG", -1)), True)


def rec(name, size, *members, union=False):
    return L.Record(name, size, tuple(L.Member(*m) for m in members), union)


def test_scalars_and_signedness():
    assert codec_for(I32).decode(struct.pack("=i", -7)) == -7
    assert codec_for(U32).decode(struct.pack("=i", -7)) == 2**32 - 7
    c = codec_for(BOOL)
    assert c.decode(b"\x00") is False and c.decode(b"\x05") is True
    assert c.encode(True) == b"\x01" and c.encode(0) == b"\x00"
    with pytest.raises(CodecError, match=r"^value: expected a bool"):
        c.encode(2)
    f = codec_for(L.Float(4, "float"))
    assert f.decode(struct.pack("=f", 1.5)) == 1.5 and type(f.decode(bytes(4))) is float
    with pytest.raises(CodecError, match="^value: "):
        f.encode(1e300)
    p = codec_for(L.Ptr(8, "void"))
    assert p.decode(struct.pack("=Q", 0xDEAD)) == 0xDEAD
    i128 = codec_for(L.Int(16, True, "int", "__int128"))
    assert i128.decode((-(2**100)).to_bytes(16, "little", signed=True)) == -(2**100)
    assert i128.encode(-5) == (-5).to_bytes(16, "little", signed=True)
    with pytest.raises(CodecError, match=r"out of range"):
        codec_for(U16).encode(65536)
    with pytest.raises(CodecError, match="expected an int, got float"):
        codec_for(U16).encode(1.0)


def test_enum_member_or_int():
    c = codec_for(COLOR)
    E = c.cls
    assert issubclass(E, enum.IntEnum) and E.__name__ == "color"
    assert c.decode(struct.pack("=i", 2)) is E.BLUE
    assert c.decode(struct.pack("=i", -1)) is E.NEG  # signed enum (kind_flag)
    v = c.decode(struct.pack("=i", 9))
    assert v == 9 and type(v) is int
    assert c.encode(E.BLUE) == c.encode(2) == struct.pack("=i", 2)


def test_arrays_bytes_and_lists():
    r = rec(
        "a",
        4 + 3 * 2 + 2 + 20 * 4 + 18 * 2 + 2 * 4,
        ("name", L.Array(CHAR, 4), 0),
        ("w", L.Array(U16, 3), 32),
        ("m", L.Array(L.Array(U8, 1), 2), 80),
        ("big", L.Array(U32, 20), 96),
        ("pairs", L.Array(rec("p", 2, ("x", U8, 0), ("y", U8, 8)), 18), 736),
        ("cols", L.Array(COLOR, 2), 1024),
    )
    c = codec_for(r)
    data = bytes(range(c.size))
    v = c.decode(data)
    assert v.name == bytes([0, 1, 2, 3]) and v.w == [0x0504, 0x0706, 0x0908]
    assert v.m == [b"\x0a", b"\x0b"]  # arrays of char arrays: a list of bytes
    assert len(v.big) == 20 and v.big[0] == 0x0F0E0D0C
    assert len(v.pairs) == 18 and v.pairs[0].x == 92 and type(v.pairs[0]).__name__ == "p"
    assert c.encode(v) == data
    v.w = [1, 2]
    with pytest.raises(CodecError, match=r"^value\.w: expected a list of 3 elements, got 2"):
        c.encode(v)
    v.w = [1, 2, 3]
    v.pairs[17].y = 300
    with pytest.raises(CodecError, match=r"^value\.pairs\[17\]\.y: 300 out of range"):
        c.encode(v)


def test_bitfields_signed_bool_enum():
    r = rec(
        "bf",
        4,
        ("a", U32, 0, 3),
        ("b", I32, 3, 5),
        ("ok", BOOL, 8, 1),
        ("col", COLOR, 9, 4),
        ("rest", U32, 13, 19),
    )
    c = codec_for(r)
    v = c.cls(a=5, b=-16, ok=True, col=c.compiler.enum_class(COLOR).BLUE, rest=2**19 - 1)
    b = c.encode(v)
    n = int.from_bytes(b, "little")
    assert n & 7 == 5 and (n >> 3) & 31 == 16 and (n >> 8) & 1 == 1 and (n >> 9) & 15 == 2
    back = c.decode(b)
    assert back == v and back.b == -16 and back.ok is True and back.col.name == "BLUE"
    for bad, path in ((dict(a=8), "value.a"), (dict(b=16), "value.b"), (dict(ok=2), "value.ok")):
        d = dataclasses.asdict(v)
        d.update(bad)
        with pytest.raises(CodecError, match=rf"^{path}: "):
            c.encode(d)


def test_anonymous_members_and_keywords():
    inner = rec("", 8, ("", rec("", 4, ("lo", U16, 0), ("hi", U16, 16)), 0), ("from", U32, 32))
    outer = rec("outer", 12, ("", inner, 0), ("class", U32, 64))
    c = codec_for(outer)
    v = c.decode(struct.pack("=HHII", 1, 2, 3, 4))
    assert v._anon0._anon0.lo == 1 and v._anon0.from_ == 3 and v.class_ == 4
    assert type(v._anon0).__name__ == "outer_anon0"
    assert type(v._anon0._anon0).__name__ == "outer_anon0_anon0"
    assert c.encode({"_anon0": {"_anon0": {"lo": 1, "hi": 2}, "from_": 3}, "class_": 4}) == (
        struct.pack("=HHII", 1, 2, 3, 4)
    )
    with pytest.raises(CodecError, match=r"unknown member 'from'"):
        c.encode({"_anon0": {"_anon0": {"lo": 1, "hi": 2}, "from": 3}, "class_": 4})


def test_union_rules():
    u = rec("u", 8, ("x", I64, 0), ("s", rec("s2", 8, ("a", U32, 0), ("b", U32, 32)), 0),
            ("c", U8, 0), union=True)  # fmt: skip
    c = codec_for(u)
    data = struct.pack("=II", 7, 9)
    v = c.decode(data)
    assert v.s.a == 7 and v.s.b == 9 and v.x == 7 + (9 << 32) and v.c == 7
    assert c.encode(v) == data  # nothing changed: the decoded bytes
    v.c = 255  # one member assigned: written over the decoded bytes
    assert c.encode(v) == struct.pack("=II", 255, 9)
    v.x = 1
    with pytest.raises(CodecError, match="members x, c were all set"):
        c.encode(v)
    assert c.encode(c.cls(c=3)) == b"\x03" + bytes(7)
    assert c.encode({"s": {"a": 1, "b": 2}}) == struct.pack("=II", 1, 2)
    assert c.encode(dataclasses.asdict(c.decode(data))) == data
    with pytest.raises(CodecError, match="disagree"):
        c.encode({"x": 1, "c": 2})
    with pytest.raises(CodecError, match="must name a member"):
        c.encode({})


def test_dict_and_record_errors():
    r = rec("backend", 8, ("ip", U32, 0), ("port", U16, 32))
    c = codec_for(r, "value")
    with pytest.raises(CodecError, match=r"^value: missing member 'port' for struct backend"):
        c.encode({"ip": 1})
    with pytest.raises(CodecError, match=r"^value: unknown member 'x'"):
        c.encode({"ip": 1, "port": 2, "x": 3})
    with pytest.raises(CodecError, match=r"^value: expected backend or a dict, got tuple"):
        c.encode((1, 2))
    assert c.encode({"ip": 1, "port": 2}) == c.encode(c.cls(1, 2)) == struct.pack("=IHxx", 1, 2)
    assert repr(c.cls(1, 2)) == "backend(ip=1, port=2)"


@given(st.binary(min_size=40, max_size=40))
def test_random_bytes_decode_encode_idempotent(data):
    r = rec(
        "h",
        40,
        ("a", U16, 0),
        ("bits", U32, 16, 7),
        ("sb", I32, 23, 9),
        ("ok", BOOL, 32),
        ("c", COLOR, 64),
        ("u", rec("uu", 8, ("x", I64, 0), ("y", L.Float(8, "double"), 0), union=True), 128),
        ("name", L.Array(CHAR, 8), 192),
        ("w", L.Array(I32, 2), 256),
    )
    c = codec_for(r)
    v = c.decode(data)
    b = c.encode(v)
    assert len(b) == 40
    assert c.decode(b) == v or v.u.y != v.u.y  # NaN != NaN
    assert c.encode(c.decode(b)) == b
    # the fast path and the checking path agree
    assert check_encode(c.compiler, r, v, "value") == b


def _btf_layout(blob, tid):
    return L.from_btf(parse(blob), tid)


def test_writer_round_trips_through_the_parser():
    w = BTFWriter()
    u32 = w.add_int("unsigned int", 4)
    ch = w.add_int("char", 1, signed=True)
    arr = w.add_array(ch, 16, u32)
    e = w.add_enum("color", 4, [("RED", 0), ("NEG", -1)], signed=True)
    e64 = w.add_enum("big", 8, [("X", 1 << 40)])
    s = w.add_struct("s", 32, [("a", u32, 0), ("b", u32, 32, 3), ("name", arr, 64), ("c", e, 192),
                               ("d", e64, 192 + 32)])  # fmt: skip
    td = w.add_typedef("s_t", s)
    p = w.add_ptr(td)
    f = w.add_float("double", 8)
    un = w.add_union("u", 8, [("p", p, 0), ("f", f, 0)])
    fw = w.add_fwd("later")
    cv = w.add_const(w.add_volatile(u32))
    btf = parse(w.encode())
    assert btf[s].kind == Kind.STRUCT and [m.name for m in btf[s].members] == [
        "a",
        "b",
        "name",
        "c",
        "d",
    ]
    assert btf.member_bitfield(btf[s].members[1]) == (32, 3)
    assert btf[e].signed and [v.value for v in btf[e].values] == [0, -1]
    assert btf[e64].kind == Kind.ENUM64 and btf[e64].values[0].value == 1 << 40
    assert btf[td].name == "s_t" and btf.resolve(td).id == s
    assert btf[un].kind == Kind.UNION and btf.size_of(un) == 8 and btf.size_of(p) == 8
    assert btf[fw].kind == Kind.FWD and btf.resolve(cv).id == u32
    with pytest.raises(ValueError, match="one of signed, char, bool"):
        w.add_int("x", 1, signed=True, char=True)
    with pytest.raises(ValueError, match="references type id 99"):
        w.add_ptr(99)
        w.encode()


class In(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint16), ("y", ctypes.c_int16)]


class V(ctypes.Structure):
    _fields_ = [
        ("lock", bpf_spin_lock),
        ("c", ctypes.c_uint8),
        ("arr", In * 2),
        ("name", ctypes.c_char * 8),
        ("d", ctypes.c_double),
        ("ok", ctypes.c_bool),
        ("p", ctypes.c_void_p),
    ]


class Bits(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32, 3), ("b", ctypes.c_int32, 5), ("c", ctypes.c_uint8)]


class UU(ctypes.Union):
    _fields_ = [("i", ctypes.c_uint64), ("b", ctypes.c_uint8 * 8)]


@pytest.mark.parametrize("ct", [V, Bits, UU, In * 3, ctypes.c_int16])
def test_ctypes_to_btf_to_codec_matches_ctypes(ct):
    """A ctypes type -> BTF (writer) -> parse -> codec decodes what ctypes decodes."""
    blob, kid, vid = btf_for_map(None, ct, 0, ctypes.sizeof(ct))
    assert kid == 0
    _kc, vc = btf_codecs(parse(blob), 0, vid)
    assert vc.size == ctypes.sizeof(ct)
    data = bytes((i * 37 + 11) & 0xFF for i in range(vc.size))
    obj = ct.from_buffer_copy(data)
    got = vc.decode(data)
    if ct is V:
        assert got.c == obj.c and got.arr[1].y == obj.arr[1].y and got.d == obj.d
        assert got.name == data[V.name.offset : V.name.offset + 8] and got.ok is True
        assert got.p == obj.p and type(got.lock).__name__ == "bpf_spin_lock"
    elif ct is Bits:
        assert (got.a, got.b, got.c) == (obj.a, obj.b, obj.c)
    elif ct is UU:
        assert got.i == obj.i and got.b == bytes(obj.b)
    elif ct is ctypes.c_int16:
        assert got == obj.value
    else:
        assert [(e.x, e.y) for e in got] == [(e.x, e.y) for e in obj]


def test_layout_of_codecs():
    assert layout_of(C.U32) == L.Int(4, False, "int", "unsigned int")
    assert layout_of(C.U16BE) == L.Typedef("__be16", L.Int(2, False, "int", "unsigned short"))
    s = layout_of(C.Struct("=IH2xQ", names=("a", "b", "c")))
    assert [(m.name, m.bit_offset) for m in s.members] == [("a", 0), ("b", 32), ("c", 64)]
    s = layout_of(C.Struct("@BI", names=("a", "b")))  # native alignment: b at 4
    assert [m.bit_offset for m in s.members] == [0, 32]
    assert layout_of("Q") == L.Int(8, False, "int", "unsigned long long")
    with pytest.raises(CodecError, match="needs names="):
        layout_of(C.Struct("=II"))
    with pytest.raises(CodecError, match="non-native byte order"):
        layout_of(type("BE", (ctypes.BigEndianStructure,), {"_fields_": [("a", ctypes.c_uint32)]}))
    with pytest.raises(CodecError, match="cannot describe"):
        layout_of(object())
    # generated record classes carry their layout
    c = codec_for(L.Record("r", 4, (L.Member("a", U32, 0),)))
    assert layout_of(c.cls) is c.layout and layout_of(c) is c.layout


def test_one_compiler_one_class_per_type():
    a = rec("addr", 4, ("ip", U32, 0))
    k = rec("k", 8, ("s", a, 0), ("d", a, 32))
    comp = Compiler()
    kc = BTFCodec(k, "key", comp)
    vc = BTFCodec(a, "value", comp)
    v = kc.decode(bytes(8))
    assert type(v.s) is type(v.d) is vc.cls

"""bpftool btf_dumper rules on hand-built BTF (kinds clang 14 does not emit, edge cases).

The clang-compiled fixtures are compared with bpftool itself in test_btf_cli.py; these
cover what they cannot: ENUM64, 128-bit and old-style INT bitfields, FWD/TYPE_TAG
stops, typedef to void, float sizes, string escaping, the Writer layout."""

from __future__ import annotations

import json
import struct

from bpfmaps import btf as B
from bpfmaps.btf.dumper import dump_value
from bpfmaps.json_writer import JsonWriter as Writer
from bpfmaps.json_writer import quote
from bpfmaps.json_writer import render_json as render

from ._btfbuild import Builder


def _fmt(btf, tid, data, plain=False, pretty=False):
    w = Writer(pretty)
    rc = dump_value(btf, tid, data, w, plain=plain)
    return rc, w.getvalue()


def test_enum64_and_signedness():
    b = Builder()
    e = b.enum64("e", 8, [("HUGE", 1 << 63), ("ONE", 1)])
    se = b.enum64("se", 8, [("MIN", -(1 << 63))], signed=True)
    t = B.parse(b.blob())
    assert _fmt(t, e, (1 << 63).to_bytes(8, "little")) == (0, '"HUGE"')
    assert _fmt(t, se, (1 << 63).to_bytes(8, "little")) == (0, '"MIN"')
    # no match: printed as a signed 64-bit number, like bpftool's jsonw_int
    assert _fmt(t, e, (2**64 - 2).to_bytes(8, "little")) == (0, "-2")


def test_enum_reads_signed_by_size():
    b = Builder()
    e = b.enum("u", 4, [("BIG", 0xFFFFFFF0)])
    e1 = b.enum("small", 1, [("X", 1)])
    e3 = b.enum("odd", 3, [("X", 1)])
    t = B.parse(b.blob())
    assert _fmt(t, e, struct.pack("<I", 0xFFFFFFF0)) == (0, '"BIG"')
    assert _fmt(t, e, struct.pack("<I", 0xFFFFFFF1)) == (0, "-15")
    assert _fmt(t, e1, b"\xff") == (0, "-1")
    assert _fmt(t, e3, b"\x01\x00\x00") == (-22, "")


def test_ints_bitfields_int128_char_bool_ptr():
    b = Builder()
    i128 = b.int("__int128 unsigned", 16)
    bf = b.int("int", 4, signed=True, bits=5, offset=3)
    i24 = b.int("u24", 4, bits=24)
    ch = b.int("char", 1, char=True)
    bo = b.int("_Bool", 1, bool_=True)
    p = b.ptr(0)
    s = b.struct("s", 8, [("x", bf, 0), ("y", bf, 33)])
    t = B.parse(b.blob())
    assert _fmt(t, i128, (5).to_bytes(16, "little")) == (0, '"0x5"')
    assert _fmt(t, i128, (1 << 100 | 7).to_bytes(16, "little"), plain=True) == (
        0,
        "0x10000000000000000000000007",
    )
    assert _fmt(t, bf, struct.pack("<I", 0b11111000)) == (0, '"0x1f"')
    assert _fmt(t, i24, b"\x01\x02\x03\x04", plain=True) == (0, "0x30201")
    assert _fmt(t, ch, b"A") == (0, '"A"')
    assert _fmt(t, ch, b'"') == (0, '"""')  # unescaped, as bpftool
    assert _fmt(t, ch, b"\x07", plain=True) == (0, "0x7")
    assert _fmt(t, ch, b"\x07") == (0, '"\\u0007"')
    assert _fmt(t, bo, b"\x02") == (0, "true")
    assert _fmt(t, p, bytes(8), plain=True) == (0, "(nil)")
    assert _fmt(t, p, struct.pack("<Q", 0xABC), plain=True) == (0, "0xabc")
    assert _fmt(t, p, struct.pack("<Q", 0xABC)) == (0, "2748")
    rc, out = _fmt(t, s, struct.pack("<II", 0xFF, 0xFF << 2))
    assert (rc, out) == (0, '{"x":"0x1f","y":"0x1f"}')


def test_stops_like_bpftool():
    b = Builder()
    i = b.int("int", 4, signed=True)
    fwd = b.fwd("opaque")
    tag = b.type_tag("user", i)
    tv = b.typedef("v", 0)
    s = b.struct("s", 12, [("a", i, 0), ("f", fwd, 32), ("b", i, 64)])
    td_tag = b.typedef("t", tag)
    t = B.parse(b.blob())
    assert _fmt(t, s, bytes(12)) == (-22, '{"a":0,"f":(fwd-kind-invalid)}')
    assert _fmt(t, tag, bytes(4)) == (-22, "(unsupported-kind")
    assert _fmt(t, td_tag, struct.pack("<i", -4)) == (0, "-4")  # resolve strips type tags
    assert _fmt(t, tv, bytes(4)) == (-22, "")
    assert _fmt(t, 0, bytes(4)) == (0, "(unknown)")


def test_floats_print_values():
    b = Builder()
    f4 = b.float("float", 4)
    f8 = b.float("double", 8)
    f16 = b.float("long double", 16)
    after = b.int("int", 4, signed=True)
    s = b.struct("s", 16, [("f", f4, 0), ("d", f8, 64)])
    t = B.parse(b.blob())
    del after
    assert _fmt(t, f4, struct.pack("<f", 1.5)) == (0, "1.5")
    assert _fmt(t, f8, struct.pack("<d", float("nan"))) == (0, '"nan"')
    assert _fmt(t, f8, struct.pack("<d", float("-inf"))) == (0, '"-inf"')
    x87_one = (1 << 63).to_bytes(8, "little") + (16383).to_bytes(2, "little") + bytes(6)
    assert _fmt(t, f16, x87_one) == (0, "1.0")
    rc, out = _fmt(t, s, struct.pack("<f4xd", 2.0, -0.25))
    assert rc == 0 and json.loads(out) == {"f": 2.0, "d": -0.25}


def test_strings_and_quote():
    b = Builder()
    i = b.int("int", 4)
    ch = b.int("char", 1, signed=True)  # clang's char: SIGNED, named "char"
    uc = b.int("unsigned char", 1)
    a = b.array(ch, i, 6)
    ua = b.array(uc, i, 3)
    td = b.typedef("char_t", ch)
    ta = b.array(td, i, 3)
    t = B.parse(b.blob())
    assert _fmt(t, a, b'a\\b"\0x') == (0, '"a\\nb\\""')
    assert _fmt(t, a, b"abcdef") == (0, "[97,98,99,100,101,102]")  # no NUL
    assert _fmt(t, a, b"ab\x80\0\0\0") == (0, "[97,98,-128,0,0,0]")
    assert _fmt(t, ua, b"ab\0") == (0, "[97,98,0]")
    assert _fmt(t, ta, b"ab\0") == (0, "[97,98,0]")  # typedef'd char is not a string
    assert quote("it's") == '"it\'s"'


def test_writer_layout_matches_bpftool_pretty():
    w = Writer(pretty=True)
    w.begin("[")
    w.begin("{")
    w.name("key")
    w.token("1")
    w.name("value")
    w.begin("[")
    w.token("1")
    w.token("2")
    w.end("]")
    w.end("}")
    w.begin("{")
    w.end("}")
    w.end("]")
    assert w.getvalue() == '[{\n        "key": 1,\n        "value": [1,2\n        ]\n    },{}\n]'
    assert render({"a": [1, None, True, "x"]}) == '{"a":[1,null,true,"x"]}'


def test_one_json_writer_for_bpftool_and_btf_output():
    """bpftool's -j/-p output and the BTF dumper write through the same writer class,
    so a BTF ``formatted`` member nested in a bpftool element follows the element's
    separators and indentation."""
    from bpfmaps.bpftool import output as bo
    from bpfmaps.btf import dumper, rawdump

    assert bo.JsonWriter is Writer
    assert not hasattr(dumper, "Writer") and dumper.quote is quote
    assert dumper.JsonWriter is Writer and rawdump.JsonWriter is Writer
    b = Builder()
    i = b.int("int", 4, signed=True)
    s = b.struct("s", 8, [("a", i, 0), ("b", i, 32)])
    t = B.parse(b.blob())

    class Entry:
        def write_json(self, w):
            dump_value(t, s, struct.pack("<ii", -1, 2), w)

    got = bo.render_json([{"key": bo.hex_json(b"\x01"), "formatted": Entry()}], pretty=True)
    assert got == (
        '[{\n        "key": ["0x01"\n        ],\n        "formatted": {\n'
        '            "a": -1,\n            "b": 2\n        }\n    }\n]'
    )

"""The compiled BTF output (btf/fmtprog.py run by _native/btffmt.c) prints what the
Python dumper prints, byte for byte, for random types and bytes (hypothesis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import btf as B
from bpfmaps.bpftool import scan
from bpfmaps.bpftool.output import element_json
from bpfmaps.btf.dumper import Formatted, dump_entry
from bpfmaps.btf.fmtprog import MAX_OPS, OPS, compile_entry
from bpfmaps.json_writer import JsonWriter
from bpfmaps.types import MapInfo, MapType

from ._btfbuild import Builder

pytestmark = pytest.mark.skipif(not scan.available(), reason="needs the compiled extension")

#: bytes the values are drawn from: NULs, printable characters (the quote and the
#: backslash the writer escapes), control and high bytes, so that char arrays print
#: both as strings and as elements
_BYTES = st.sampled_from([0, 0, 0x41, 0x7A, 0x22, 0x5C, 0x20, 0x01, 0x1F, 0x7F, 0x80, 0xFF, 0x07])

_INTS = [
    # name, size, signed, char, bool, bits, offset
    ("unsigned char", 1, False, False, False, 8, 0),
    ("signed char", 1, True, False, False, 8, 0),
    ("char", 1, True, False, False, 8, 0),  # (a char array of it is a string candidate)
    ("char", 1, False, True, False, 8, 0),  # CHAR-encoded
    ("_Bool", 1, False, False, True, 8, 0),
    ("short", 2, True, False, False, 16, 0),
    ("unsigned short", 2, False, False, False, 16, 0),
    ("int", 4, True, False, False, 32, 0),
    ("unsigned int", 4, False, False, False, 32, 0),
    ("long", 8, True, False, False, 64, 0),
    ("unsigned long", 8, False, False, False, 64, 0),
    ("__int128", 16, True, False, False, 128, 0),
    ("u24", 4, False, False, False, 24, 0),  # a width not a power of two: hex
    ("bf", 4, False, False, False, 13, 3),  # an INT with its own bit offset
    ("bf2", 8, True, False, False, 33, 0),
]


@st.composite
def _type(draw, b: Builder, depth: int = 0) -> tuple[int, int]:
    """A random type built into ``b``: (type id, size)."""
    leaf = depth >= 3
    kind = draw(
        st.sampled_from(
            ["int", "enum", "enum64", "ptr"]
            + ([] if leaf else ["typedef", "const", "array", "chars", "struct", "union"])
        )
    )
    if kind == "int":
        name, size, signed, char, bool_, bits, off = draw(st.sampled_from(_INTS))
        return b.int(name, size, signed=signed, char=char, bool_=bool_, bits=bits, offset=off), size
    if kind == "enum":
        size = draw(st.sampled_from([1, 2, 4, 8]))
        signed = draw(st.booleans())
        lo, hi = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << 32) - 1)
        vals = draw(st.lists(st.integers(lo, hi) | st.sampled_from([0, 1, 255]), max_size=5))
        names = [f"E{i}_{depth}" for i in range(len(vals))]
        return b.enum(f"en{depth}", size, list(zip(names, vals)), signed=signed), size
    if kind == "enum64":
        vals = draw(st.lists(st.integers(0, (1 << 64) - 1) | st.sampled_from([0, 1]), max_size=4))
        names = [f"Q{i}_{depth}" for i in range(len(vals))]
        return b.enum64(f"e64_{depth}", 8, list(zip(names, vals))), 8
    if kind == "ptr":
        return b.ptr(0), 8
    if kind in ("typedef", "const"):
        tid, size = draw(_type(b, depth + 1))
        return (b.typedef(f"t{tid}", tid) if kind == "typedef" else b.const(tid)), size
    if kind == "array":
        tid, size = draw(_type(b, depth + 1))
        n = draw(st.integers(0, 4))
        return b.array(tid, tid, n), size * n
    if kind == "chars":
        c = b.int("char", 1, signed=True)
        if draw(st.booleans()):
            c = b.const(c)
        n = draw(st.integers(1, 8))
        return b.array(c, c, n), n
    members = []
    off = 0
    kflag = draw(st.booleans())
    for i in range(draw(st.integers(0, 4))):
        if kflag and draw(st.booleans()):  # a bitfield member
            u = b.int("unsigned int", 4)
            bits = draw(st.integers(1, 31))
            members.append((f"m{i}", u, off * 8 + draw(st.integers(0, 7)), bits))
            off += 5
            continue
        tid, size = draw(_type(b, depth + 1))
        members.append((f"m{i}", tid, off * 8) + ((0,) if kflag else ()))
        if kind == "struct":
            off += size
        else:
            off = max(off, size)
    size = off if kind == "struct" else max(off, 0)
    if kind == "union":
        members = [(m[0], m[1], 0) + m[3:] for m in members]
    return b.struct(f"s{depth}_{len(b.recs)}", size, members, kflag=int(kflag),
                    union=kind == "union"), size  # fmt: skip


@st.composite
def _case(draw):
    b = Builder()
    kid, ksize = draw(_type(b))
    vid, vsize = draw(_type(b))
    ksize, vsize = max(ksize, 1), max(vsize, 1)
    btf = B.parse(b.blob(), source="hypothesis")
    percpu = draw(st.booleans())
    ncpus = draw(st.integers(1, 3)) if percpu else 1
    info = MapInfo(
        id=1, type=MapType.PERCPU_HASH if percpu else MapType.HASH, key_size=ksize,
        value_size=vsize, max_entries=1, btf_id=1,
        btf_key_type_id=kid if draw(st.booleans()) else 0, btf_value_type_id=vid,
    )  # fmt: skip
    vbuf = ncpus * ((vsize + 7) & ~7) if percpu else vsize
    return btf, info, vbuf, ncpus, draw(_data(ksize)), draw(_data(vbuf))


@st.composite
def _data(draw, n: int) -> bytes:
    """n bytes, by 8-byte words each either zeros (null pointers, zero enums) or
    drawn from _BYTES."""
    out = bytearray()
    while len(out) < n:
        k = min(8, n - len(out))
        out += (
            bytes(k)
            if draw(st.booleans())
            else bytes(draw(st.lists(_BYTES, min_size=k, max_size=k)))
        )
    return bytes(out)


def _python(btf, info, ncpus, key, value, plain, hex_members, pretty, depth, sep):
    w = JsonWriter(pretty)
    w.depth, w.sep = depth, "," if sep else ""
    if hex_members:
        w.value(element_json(info, key, value, ncpus, Formatted(btf, info, key, value, ncpus)))
        return 0, w
    return dump_entry(w, btf, info, key, value, ncpus, plain=plain), w


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _case(),
    st.sampled_from(["plain", "json", "hex"]),
    st.booleans(),
    st.integers(0, 3),
    st.booleans(),
)
def test_the_program_prints_what_the_dumper_prints(case, mode, pretty, depth, sep):
    from bpfmaps.bpftool.cprint import FormatRun

    btf, info, vbuf, ncpus, key, value = case
    plain, hexm = mode == "plain", mode == "hex"
    pretty = pretty or plain
    prog = compile_entry(btf, info, vbuf, ncpus, plain=plain, hex_members=hexm)
    rc, w = _python(btf, info, ncpus, key, value, plain, hexm, pretty, depth, sep)
    if prog is None:
        return  # (formatted in Python; the declines have their own test)
    assert rc == 0
    run = FormatRun(prog, depth, pretty)
    run.sep = sep
    text = run.format(key, value)
    assert text == w.getvalue()
    assert (run.prog.depth, run.sep) == (w.depth, bool(w.sep))
    assert len(text) <= prog.need(depth)


def _one(b: Builder, tid: int, size: int, **kw):
    btf = B.parse(b.blob(), source="t")
    info = MapInfo(id=1, type=MapType.HASH, key_size=4, value_size=size, max_entries=1,
                   btf_id=1, btf_value_type_id=tid)  # fmt: skip
    return compile_entry(btf, info, size, 1, plain=kw.get("plain", True))


def test_what_the_dumper_stops_at_or_prints_in_python_is_declined():
    b = Builder()
    i = b.int("int", 4, signed=True)
    assert _one(b, i, 4) is not None
    assert _one(b, b.fwd("opaque"), 4) is None  # (fwd-kind-invalid) and stop
    assert _one(b, b.float("double", 8), 8) is None  # our deliberate difference: Python
    assert _one(b, b.type_tag("user", i), 4) is None  # (unsupported-kind
    assert _one(b, b.enum("odd", 3, [("A", 1)]), 3) is None  # an enum of 3 bytes
    assert _one(b, b.int("int", 4, signed=True, char=True), 4) is None  # signed|char
    assert _one(b, b.struct("s", 8, [("a", i, 0), ("b", i, 32)]), 4) is None  # past the end
    assert _one(b, b.struct("s", 4, [("\u00e9", i, 0)]), 4) is None  # a name not ASCII
    t = i
    for _ in range(40):  # deeper than the dumper goes
        t = b.struct("d", 4, [("x", t, 0)])
    assert _one(b, t, 4) is None
    big = b.array(i, i, MAX_OPS)  # more ops than a program may have
    assert _one(b, big, 4 * MAX_OPS) is None


def test_the_op_codes_are_the_c_ones():
    from bpfmaps.bpftool.scan import extension

    src = (Path(B.__file__).parent.parent / "_native" / "btffmt.c").read_text()
    found = dict(re.findall(r"^\s+FMT_([A-Z]+) = (\d+),", src, flags=re.M))
    assert {k: int(v) for k, v in found.items()} == OPS
    ffi, _ = extension()
    assert ffi.sizeof("struct bpfm_fmt_op") == 16

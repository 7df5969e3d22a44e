"""Bad BTF never crashes or hangs the parser: BTFError or a usable model (hypothesis)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from bpfmaps import btf as B
from bpfmaps.btf import BTFError
from bpfmaps.btf.dumper import dump_value
from bpfmaps.btf.rawdump import dump_types_json, dump_types_raw
from bpfmaps.json_writer import JsonWriter as Writer

from ._btfbuild import every_kind

_GOOD = every_kind()[0].blob()


def _exercise(data: bytes) -> None:
    try:
        t = B.parse(data, source="fuzz")
    except BTFError as e:
        assert str(e).startswith("bad BTF: ")
        return
    for x in t:
        repr(x)
        for f in (t.size_of, t.align_of, t.resolve, t.strip_cv, t.name_of):
            try:
                f(x.id)
            except BTFError:
                pass
        for m in getattr(x, "members", ()):
            try:
                t.member_bitfield(m)
            except BTFError:
                pass
        getattr(x, "values", None)
        getattr(x, "params", None)
        getattr(x, "vars", None)
        # the bpftool-style dumpers never raise on a parsed BTF, whatever the data
        for plain in (False, True):
            dump_value(t, x.id, bytes(range(40)), Writer(plain), plain=plain)
    dump_types_raw(t, None)
    dump_types_raw(t, Writer(True))
    assert dump_types_json(t, None, False) == _raw_json(t)


def test_huge_arrays_do_not_print_forever():
    from ._btfbuild import Builder

    b = Builder()
    i = b.int("int", 4)
    e = b.struct("empty", 0, [])
    a = b.array(e, i, 0xFFFFFFFF)
    aa = b.array(a, i, 0xFFFFFFFF)
    t = B.parse(b.blob())
    for tid in (a, aa):
        w = Writer(False)
        assert dump_value(t, tid, bytes(8), w) == -22
        assert len(w.getvalue()) < 100_000


def _raw_json(t) -> str:
    w = Writer(False)
    dump_types_raw(t, w)
    return w.getvalue()


@given(st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(0, 255)), max_size=8))
def test_byte_flips(flips):
    data = bytearray(_GOOD)
    for pos, val in flips:
        data[pos] = val
    _exercise(bytes(data))


@given(st.integers(0, len(_GOOD)), st.binary(max_size=64))
def test_truncate_and_append(cut, extra):
    _exercise(_GOOD[:cut] + extra)


@given(st.binary(max_size=200))
def test_random_type_section(types):
    strs = b"\0a\0bb\0"
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    _exercise(hdr + types + strs)


@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 2**32 - 1)), min_size=1, max_size=40))
def test_random_words(words):
    """Type records from random (name, info, size/type) words with plausible kinds."""
    body = b""
    for kind, w in words:
        kind = kind * 2 + (w & 1)  # kinds 0..17
        body += struct.pack("<III", w % 7, (kind << 24) | (w >> 8 & 3), w % 6)
        body += struct.pack("<I", w)
    strs = b"\0a\0bb\0"
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strs))
    _exercise(hdr + body + strs)

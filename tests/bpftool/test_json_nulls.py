"""The C writers of ``-j`` items for scanned lines (compact ``bpfm_json_nulls``, and
``bpfm_json_items`` with pretty: bpftool's -jp layout, lookups' outputs with BTF ``formatted``
objects) against the JSON writer over the words cut from the same lines, for lines with
any mix of separators (spaces, tabs, CR), leading and trailing blanks and comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfmaps.bpftool import cprint, scan
from bpfmaps.bpftool.jsonbatch import op_words
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.json_writer import render_json

pytestmark = pytest.mark.skipif(not scan.available(), reason="needs the compiled scanner")


class _Ref:
    type = 1
    key_size = 4
    value_size = 4


class _PerCPURef(_Ref):
    type = 5  # PERCPU_HASH: a lookup's value is one slot of 8 bytes a possible CPU


def _resolver(handle):
    return _Ref()


def _percpu_resolver(handle):
    return _PerCPURef()


_sep = st.text(alphabet=" \t\r", min_size=1, max_size=3)
_byte = st.integers(0, 255).map(str)


@st.composite
def _line(draw) -> str:
    words = ["map", draw(st.sampled_from(["update", "delete", "lookup", "getnext"])), "id", "7"]
    if words[1] != "getnext" or draw(st.booleans()):  # (a getnext without a key: the first)
        words += ["key"] + [draw(_byte) for _ in range(4)]
    if words[1] == "update":
        words += ["value"] + [draw(_byte) for _ in range(4)]
    text = draw(st.sampled_from(["", " ", "\t", " \t"]))
    for k, w in enumerate(words):
        text += (draw(_sep) if k else "") + w
    text += draw(st.sampled_from(["", " ", "\r", " \t", " # a comment", "#x"]))
    return text + "\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(_line(), min_size=1, max_size=12))
def test_json_nulls_is_the_json_writer(lines):
    data = "".join(lines).encode()
    items = list(parse_batch(data, _resolver, file="f"))
    assert len(items) == 1 and items[0].taken == len(lines)  # the scanner took them all
    blk = items[0]
    got = b"".join(bytes(c) for c in cprint.json_nulls(data, blk, 0, blk.count, False))
    objs = [{"command": op_words(blk, i, data), "output": None} for i in range(blk.count)]
    # the C items are the inside of the top-level list
    assert "[" + got.decode("ascii") + "]" == render_json(objs)


#: mostly single spaces (the shuffle path of the C writer), sometimes a run or a tab
_sep_usual = st.sampled_from([" "] * 12 + ["  ", "\t", " \r", "\t \t"])


@st.composite
def _long_line(draw) -> str:
    """Lines of a map with 8-byte keys and 32-byte values (as the benchmarks write
    them: 100 bytes and more), so that the writer's 16- and 8-byte steps are taken."""
    words = ["map", "update", "id", str(draw(st.integers(1, 10**6))), "key"]
    words += [draw(st.sampled_from(["0", "00", "1", "255", "0x1f", "017"])) for _ in range(8)]
    words += ["value"] + [draw(_byte) for _ in range(32)]
    words += draw(st.sampled_from([[], ["any"], ["noexist"]]))
    text = draw(st.sampled_from(["", "", " ", "\t"]))
    for k, w in enumerate(words):
        text += (draw(_sep_usual) if k else "") + w
    text += draw(st.sampled_from(["", "", " ", "  ", " #c", "# x y", "\r"]))
    return text + "\n"


class _Ref832:
    type = 1
    key_size = 8
    value_size = 32


def _parse_832(data: bytes):
    items = list(parse_batch(data, lambda h: _Ref832(), file="f"))
    assert len(items) == 1 and items[0].taken == items[0].count
    return items[0]


@settings(max_examples=80, deadline=None)
@given(st.lists(_long_line(), min_size=1, max_size=8), st.booleans())
def test_json_nulls_long_lines(lines, last_nl):
    data = "".join(lines).encode()
    if not last_nl:
        data = data[:-1]  # the last line ends at the end of the data
    blk = _parse_832(data)
    assert blk.count == len(lines)
    got = b"".join(bytes(c) for c in cprint.json_nulls(data, blk, 0, blk.count, False))
    objs = [{"command": op_words(blk, i, data), "output": None} for i in range(blk.count)]
    assert "[" + got.decode("ascii") + "]" == render_json(objs)


@pytest.mark.parametrize("buf", [20_000, 1 << 20])
def test_json_write_is_json_nulls(monkeypatch, buf):
    """cprint.json_write: the items of json_nulls, in chunks of at most JSON_WRITE_BUF
    bytes from one reused buffer (each written before the next is formatted)."""
    line = "map update id 7 key 0 0 00 00 00 00 {} {} value " + "10 0 " * 16 + "\n"
    data = "".join(line.format(i % 256, i // 256) for i in range(3000)).encode()
    blk = _parse_832(data)
    monkeypatch.setattr(cprint, "JSON_WRITE_BUF", buf)
    chunks: list[bytes] = []
    assert cprint.json_write(data, blk, 5, blk.count, lambda c: chunks.append(bytes(c)))
    want = b"".join(bytes(c) for c in cprint.json_nulls(data, blk, 5, blk.count, False))
    assert b"".join(chunks) == want
    assert max(len(c) for c in chunks) <= buf
    assert (len(chunks) > 10) == (buf < 100_000)


def _pretty_case(lines, vals_seed, with_btf, percpu=False, pretty=True):
    """(C items, what the JSON writer writes) of the scanned ``lines`` (``pretty``: the
    -jp layout), their lookups' values drawn from ``vals_seed`` (and with_btf:
    formatted by a program; percpu: on a per-CPU map of 3 possible CPUs, "values")."""
    import random

    from bpfmaps import btf as B
    from bpfmaps.bpftool.output import hex_json
    from bpfmaps.bpftool.plan import GETNEXT, LOOKUP, NO_KEY
    from bpfmaps.btf.dumper import Formatted
    from bpfmaps.btf.fmtprog import compile_entry
    from bpfmaps.btf.writer import BTFWriter
    from bpfmaps.types import MapInfo, MapType

    ncpus = 3 if percpu else 1
    data = "".join(lines).encode()
    items = list(
        parse_batch(data, _percpu_resolver if percpu else _resolver, file="f", possible_cpus=ncpus)
    )
    assert len(items) == 1 and items[0].taken == len(lines)
    blk = items[0]
    rnd = random.Random(vals_seed)
    mtype = MapType.PERCPU_HASH if percpu else MapType.HASH
    vbuf = 8 * ncpus if percpu else 4
    fmts = None
    if with_btf:
        w = BTFWriter()
        u32 = w.add_int("unsigned int", 4)
        ch = w.add_int("char", 1, signed=True)
        arr = w.add_array(ch, 2, u32)
        val = w.add_struct("v", 4, [("n", w.add_int("short", 2, signed=True), 0), ("s", arr, 16)])
        btf = B.parse(w.encode())
        info = MapInfo(id=7, type=mtype, key_size=4, value_size=4, max_entries=9,
                       btf_id=1, btf_key_type_id=u32, btf_value_type_id=val)  # fmt: skip
        prog = compile_entry(btf, info, vbuf, ncpus, plain=False)
        assert prog is not None
        fmts = [cprint.FormatRun(prog, 0, False)]
    vals = b""
    objs = []
    for i in range(blk.count):
        kind, _, _m, _, ko, _, _ = blk.op(i)
        output = None
        if kind == LOOKUP:
            key = bytes(memoryview(blk.keys)[ko : ko + 4])
            v = bytes(rnd.choice([0, 0x41, 0x22, 0x5C, 7, 255]) for _ in range(vbuf))
            vals += v
            if percpu:
                cpus = [{"cpu": c, "value": hex_json(v[8 * c : 8 * c + 4])} for c in range(ncpus)]
                output = {"key": hex_json(key), "values": cpus}
            else:
                output = {"key": hex_json(key), "value": hex_json(v)}
            if fmts is not None:
                output["formatted"] = Formatted(btf, info, key, v, ncpus)
        if kind == GETNEXT:  # its next key among the values
            nxt = bytes(rnd.choice([0, 9, 255]) for _ in range(4))
            vals += nxt
            prev = bytes(memoryview(blk.keys)[ko : ko + 4]) if ko != NO_KEY else None
            output = {
                "key": hex_json(prev) if prev is not None else None,
                "next_key": hex_json(nxt),
            }
        objs.append({"command": op_words(blk, i, data), "output": output})
    chunks: list[bytes] = []
    cprint.json_write_items(data, blk, 0, blk.count, vals, lambda c: chunks.append(bytes(c)),
                            fmts, pretty=pretty)  # fmt: skip
    got = b"".join(chunks).decode("ascii")
    return "[" + got + ("\n]" if pretty else "]"), render_json(objs, pretty=pretty)


@settings(max_examples=80, deadline=None)
@given(st.lists(_line(), min_size=1, max_size=12), st.integers(0, 99), st.booleans())
def test_pretty_items_are_the_json_writer(lines, seed, with_btf):
    """bpftool's -jp items in C (``bpfm_json_items``, pretty): updates and deletes with null
    outputs, lookups with their key and value (and a map's BTF ``formatted`` object at
    its depth), the same text as the JSON writer's array of those items."""
    got, want = _pretty_case(lines, seed, with_btf)
    assert got == want


@settings(max_examples=80, deadline=None)
@given(st.lists(_line(), min_size=1, max_size=12), st.integers(0, 99), st.booleans(), st.booleans())
def test_per_cpu_items_are_the_json_writer(lines, seed, with_btf, pretty):
    """Lookups on a per-CPU map in C (``bpfm_json_items`` with ``ncpus``): ``"values"``,
    one object a possible CPU from its slot (and a BTF ``formatted`` object by the map's
    program), compact and -jp, the same text as the JSON writer's."""
    got, want = _pretty_case(lines, seed, with_btf, percpu=True, pretty=pretty)
    assert got == want


def test_pretty_null_items_are_the_json_writer():
    """json_write(pretty=True) of updates only: the null items' -jp layout."""
    lines = ["map update id 7 key 1 2 3 4 value 5 6 7 8\n", " map delete id 7 key 1 2 3 4 # x\n"]
    data = "".join(lines).encode()
    blk = list(parse_batch(data, _resolver, file="f"))[0]
    chunks: list[bytes] = []
    assert cprint.json_write(data, blk, 0, blk.count, lambda c: chunks.append(bytes(c)), True)
    objs = [{"command": op_words(blk, i, data), "output": None} for i in range(blk.count)]
    assert "[" + b"".join(chunks).decode() + "\n]" == render_json(objs, pretty=True)

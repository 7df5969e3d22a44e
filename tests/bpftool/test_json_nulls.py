"""The C writer of compact ``-j`` items for scanned lines (``bpfm_json_nulls``) against the JSON writer over the words cut from the same lines, for lines
with any mix of separators (spaces, tabs, CR), leading and trailing blanks and
comments."""

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


def _resolver(handle):
    return _Ref()


_sep = st.text(alphabet=" \t\r", min_size=1, max_size=3)
_byte = st.integers(0, 255).map(str)


@st.composite
def _line(draw) -> str:
    words = ["map", draw(st.sampled_from(["update", "delete", "lookup"])), "id", "7", "key"]
    words += [draw(_byte) for _ in range(4)]
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

"""The C writer of compact ``-j`` items for scanned lines (``bpfm_json_nulls``) against the JSON writer over the words cut from the same lines, for lines
with any mix of separators (spaces, tabs, CR), leading and trailing blanks and
comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfmaps.bpftool import scan
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
    got = b"".join(bytes(c) for c in scan.json_nulls(data, blk, 0, blk.count, False))
    objs = [{"command": op_words(blk, i, data), "output": None} for i in range(blk.count)]
    # the C items are the inside of the top-level list
    assert "[" + got.decode("ascii") + "]" == render_json(objs)

"""The C fast path gives exactly the same commands and bytes as the pure-Python parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfmaps.bpftool import batchfile
from bpfmaps.bpftool.batchfile import flatten, parse_batch
from bpfmaps.bpftool.grammar import Handle
from bpfmaps.errors import ParseError
from bpfmaps.types import MapInfo, MapType

pytestmark = pytest.mark.skipif(
    not batchfile.fastpath_available(), reason="compiled extension (fast path) not built"
)

MAPS = {
    Handle("id", 7): MapInfo.make(MapType.HASH, id=7, key_size=2, value_size=3, max_entries=8),
    Handle("id", 8): MapInfo.make(
        MapType.PERCPU_HASH, id=8, key_size=2, value_size=3, max_entries=8
    ),
    Handle("id", 9): MapInfo.make(MapType.QUEUE, id=9, key_size=0, value_size=2, max_entries=8),
    Handle("pinned", "/sys/fs/bpf/a"): MapInfo.make(
        MapType.HASH, id=10, key_size=2, value_size=3, max_entries=8
    ),
}


class Resolver:
    def __call__(self, h):
        try:
            return MAPS[h]
        except KeyError:
            raise ParseError(f"get map by id ({h.value}): No such file or directory") from None


def _byte_token(draw, hexmode):
    v = draw(st.integers(0, 300))
    if hexmode:
        return draw(st.sampled_from([f"{v:x}", f"{v:02x}", f"0x{v:x}", f"{v:X}"]))
    return draw(st.sampled_from([str(v), f"0{v:o}", f"0x{v:x}", "00", f"0{v}"]))


@st.composite
def update_line(draw):
    handle = draw(st.sampled_from(["id 7", "id 8", "id 9", "pinned /sys/fs/bpf/a", "id 07", "i 7"]))
    nk = draw(st.sampled_from([0, 2, 2, 2, 3]))
    nv = draw(st.sampled_from([2, 3, 3, 3, 4]))
    parts = ["map", draw(st.sampled_from(["update", "update", "update", "push", "u"])), handle]
    if nk:
        kh = draw(st.booleans())
        parts += ["key"] + (["hex"] if kh else []) + [_byte_token(draw, kh) for _ in range(nk)]
    vh = draw(st.booleans())
    parts += ["value"] + (["hex"] if vh else []) + [_byte_token(draw, vh) for _ in range(nv)]
    flag = draw(st.sampled_from(["", "", "any", "noexist", "exist", "ex"]))
    if flag:
        parts.append(flag)
    sep = draw(st.sampled_from([" ", " ", "\t", "  "]))
    line = sep.join(parts)
    line += draw(st.sampled_from(["", "", " ", "\r", " # c", "#x"]))
    return line


@st.composite
def batch(draw):
    lines = draw(
        st.lists(
            st.one_of(
                update_line(),
                update_line(),
                update_line(),
                st.sampled_from(
                    ["", "   ", "# comment", "map show", "map lookup id 7 key 1 2", "map dump id 9"]
                ),
            ),
            max_size=25,
        )
    )
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    return text.encode()


def _outcome(data, fast, **kw):
    try:
        return "ok", flatten(parse_batch(data, Resolver(), fast=fast, file="f", **kw))
    except ParseError as e:
        return "error", (e.line, e.column, e.message)


@settings(max_examples=300)
@given(batch(), st.booleans(), st.integers(1, 3))
def test_fast_path_equals_python_parser(data, compat, ncpus):
    slow = _outcome(data, False, compat=compat, possible_cpus=ncpus)
    fast = _outcome(data, True, compat=compat, possible_cpus=ncpus)
    assert fast == slow


@given(st.lists(update_line(), min_size=1, max_size=40))
def test_fast_path_parallel_segments(lines):
    # force the threaded segment split on small inputs
    data = ("\n".join(lines) + "\n").encode()
    old = batchfile.PARALLEL_MIN
    batchfile.PARALLEL_MIN = 1
    try:
        fast = _outcome(data, True)
    finally:
        batchfile.PARALLEL_MIN = old
    assert fast == _outcome(data, False)


def test_fast_path_consumes_runs():
    lines = [f"map update id 7 key {i} 0 value 1 2 3 " for i in range(50)]
    data = ("\n".join(lines) + "\n").encode()
    items = list(parse_batch(data, Resolver(), fast=True))
    assert len(items) == 1 and items[0].count == 50
    assert list(items[0].lines) == list(range(1, 51))
    assert bytes(items[0].keys[:4]) == b"\x00\x00\x01\x00"

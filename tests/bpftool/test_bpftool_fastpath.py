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
    Handle("id", 11): MapInfo.make(MapType.ARRAY, id=11, key_size=4, value_size=1, max_entries=8),
    Handle("id", 12): MapInfo.make(
        MapType.PROG_ARRAY, id=12, key_size=4, value_size=4, max_entries=8
    ),
}


class Resolver:
    def __call__(self, h):
        try:
            return MAPS[h]
        except KeyError:
            raise ParseError(f"get map by id ({h.value}): No such file or directory") from None


def _byte_token(draw, hexmode, hi=300):
    v = draw(st.integers(0, hi))
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


def _rare(draw, common, *rare):
    """``common`` most of the time (errors and odd spellings stay rare, so that most
    generated files parse and the op stream is exercised)."""
    return draw(st.sampled_from(rare)) if draw(st.integers(0, 15)) == 0 else common


def _op_byte(draw, hexmode):
    return _byte_token(draw, hexmode, _rare(draw, 255, 300))


@st.composite
def op_line(draw):
    """Update (any flag) or delete lines on several maps, mostly simple (the op stream)."""
    mid, ks, vs = draw(
        st.sampled_from(
            [("id 7", 2, 3), ("id 8", 2, 3), ("id 11", 4, 1), ("pinned /sys/fs/bpf/a", 2, 3)]
        )
    )
    mid, ks, vs = _rare(draw, (mid, ks, vs), ("id 12", 4, 4), ("id 9", 0, 2), ("id 99", 2, 3))
    nk = ks + _rare(draw, 0, 1, -1)
    kh = draw(st.booleans())
    key = ["key"] + (["hex"] if kh else []) + [_op_byte(draw, kh) for _ in range(max(nk, 0))]
    if draw(st.integers(0, 2)) == 0:
        parts = ["map", _rare(draw, "delete", "d", "del"), mid] + key
        parts += _rare(draw, [], ["value", "1"], ["any"])
    else:
        nv = vs + _rare(draw, 0, 1, -1)
        vh = draw(st.booleans())
        parts = ["map", _rare(draw, "update", "u", "push"), mid]
        parts += key if ks or draw(st.booleans()) else []
        parts += ["value"] + (["hex"] if vh else []) + [_op_byte(draw, vh) for _ in range(nv)]
        flag = draw(st.sampled_from(["", "", "any", "noexist", "exist"]))
        flag = _rare(draw, flag, "noe", "ex", "exist exist")
        if flag:
            parts.append(flag)
    line = " ".join(parts)
    return line + draw(st.sampled_from(["", "", " ", "\r", " # c"]))


@st.composite
def batch(draw):
    lines = draw(
        st.lists(
            st.one_of(
                update_line(),
                update_line(),
                update_line(),
                op_line(),
                op_line(),
                st.sampled_from(
                    ["", "   ", "# comment", "map show", "map lookup id 7 key 1 2", "map dump id 9"]
                ),
            ),
            max_size=25,
        )
    )
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    return text.encode()


@st.composite
def op_batch(draw):
    """Mostly op-stream lines, with same-shape streaks, blank lines and other commands."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind < 6:
            lines.append(draw(op_line()))
        elif kind < 8:
            line = draw(op_line())
            lines += [line] * draw(st.integers(2, 8))
        else:
            lines.append(draw(st.sampled_from(["", "# c", "map show", "map lookup id 7 key 1 2"])))
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n"]))).encode()


@settings(max_examples=400)
@given(
    op_batch(),
    st.booleans(),
    st.integers(1, 3),
    st.sampled_from([0, 3, 32]),
    st.sampled_from([1, 2, 256]),
)
def test_op_streams_equal_python_parser(data, compat, ncpus, streak, cap):
    """Mixed update/delete lines through the C op stream (small streak limits and
    stream capacities force every hand-over) give the Python parser's commands."""
    old = batchfile.OP_STREAK, batchfile.OP_CAP_FIRST
    batchfile.OP_STREAK, batchfile.OP_CAP_FIRST = streak, cap
    try:
        fast = _outcome(data, True, compat=compat, possible_cpus=ncpus)
    finally:
        batchfile.OP_STREAK, batchfile.OP_CAP_FIRST = old
    assert fast == _outcome(data, False, compat=compat, possible_cpus=ncpus)


def test_op_stream_takes_mixed_lines():
    lines = [
        "map update id 7 key 1 2 value 1 2 3 noexist",
        "map update pinned /sys/fs/bpf/a key hex 0a 0b value hex 1 2 3",
        "map delete id 7 key 1 2",
        "",
        "map update id 8 key 3 4 value 5 6 7 exist  # per-CPU",
        "map delete id 11 key 1 0 0 0",
    ]
    items = list(parse_batch(("\n".join(lines) + "\n").encode(), Resolver(), possible_cpus=2))
    assert len(items) == 1 and isinstance(items[0], batchfile.OpStream)
    assert items[0].count == 5 and items[0].first_index == 0
    flat = flatten(items)
    assert flat[0] == ("update", Handle("id", 7), 1, b"\x01\x02", b"\x01\x02\x03", 1)
    assert flat[2] == ("delete", Handle("id", 7), 3, b"\x01\x02")
    assert flat[3] == (
        "update", Handle("id", 8), 5, b"\x03\x04", (b"\x05\x06\x07" + bytes(5)) * 2, 2
    )  # fmt: skip
    # a long same-shape run leaves the stream for the packed-run path
    lines = ["map delete id 7 key 9 9"] + [
        f"map update id 7 key {i} 0 value 1 2 3" for i in range(40)
    ]
    items = list(parse_batch(("\n".join(lines) + "\n").encode(), Resolver()))
    assert [type(it).__name__ for it in items] == ["OpStream", "UpdateRun"]
    assert items[1].count == 40 and items[1].first_index == 1


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

"""The C scanner (bpftool/scan.py + _native/scan.c) gives exactly what the Python
reference (lexer + grammar) gives on perturbed ordinary lines: same commands, bytes,
lines, and the same errors (file:line:column, token, wording), in safe and compat
modes, for id/pinned/name handles, every verb, per-CPU and keyless maps.  (These
were the tests of the former pure-Python recognizer, quick.py.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfmaps.bpftool import scan
from bpfmaps.bpftool.bytes import _CACHE
from bpfmaps.bpftool.grammar import Handle
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.bpftool.plan import OpBlock, find_runs_py, flatten
from bpfmaps.bpftool.scan import find_runs
from bpfmaps.errors import ParseError
from bpfmaps.types import MapInfo, MapType

MAPS = {
    Handle("id", 7): MapInfo.make(MapType.HASH, id=7, key_size=2, value_size=3, max_entries=8),
    Handle("id", 8): MapInfo.make(
        MapType.PERCPU_HASH, id=8, key_size=2, value_size=3, max_entries=8
    ),
    Handle("id", 9): MapInfo.make(MapType.QUEUE, id=9, key_size=0, value_size=2, max_entries=8),
    Handle("id", 11): MapInfo.make(
        MapType.HASH_OF_MAPS, id=11, key_size=2, value_size=4, max_entries=8
    ),
    Handle("id", 12): MapInfo.make(MapType.HASH, id=12, key_size=2, value_size=9, max_entries=8),
    Handle("pinned", "/sys/fs/bpf/a"): MapInfo.make(
        MapType.HASH, id=10, key_size=2, value_size=3, max_entries=8
    ),
    Handle("name", "m7"): MapInfo.make(
        MapType.ARRAY, id=13, key_size=2, value_size=3, max_entries=8
    ),
}


class Resolver:
    def __init__(self):
        self.calls = 0

    def __call__(self, h):
        self.calls += 1
        try:
            return MAPS[h]
        except KeyError:
            raise ParseError(f"get map by id ({h.value}): No such file or directory") from None


BYTE_WORDS = [
    "0", "1", "00", "7", "255", "256", "0x1f", "0X1F", "0xff", "0x100", "017", "0377",
    "0400", "08", "-1", "+3", "ff", "0a", "A", "1f", "x", "hex", "h", "he", "''", '""',
    "18446744073709551616", "value", "key", "any", "noexist", "exist", "'5'", "1#",
    "0777", "0000", "00000", "000", "009", "1234", "99", "3#", "0#", "0x", "12a", "0\\",
]  # fmt: skip


@st.composite
def byte_words(draw, n):
    out = []
    if draw(st.integers(0, 3)) == 0:
        out.append(draw(st.sampled_from(["hex", "h", "he", "''", "hex"])))
    common = st.sampled_from(["0", "1", "2", "00", "255", "10", "0x1f", "017", "ff", "0a"])
    for _ in range(n):
        out.append(draw(st.one_of(common, common, common, st.sampled_from(BYTE_WORDS))))
    return out


SIZES = {"id 7": (2, 3), "id 8": (2, 3), "id 9": (0, 2), "id 11": (2, 4), "id 12": (2, 9),
         "pinned /sys/fs/bpf/a": (2, 3), "name m7": (2, 3)}  # fmt: skip
ODD_HANDLES = [
    "id 07", "id 0x7", "i 7", "id 99", "id", "name m77", "pinned", "id -1", "id ''",
    "p /sys/fs/bpf/a", "id 4294967303", "name", "pinned /nope",
]  # fmt: skip
VERBS = ["update"] * 6 + ["delete"] * 3 + [
    "lookup", "getnext", "push", "pop", "peek", "enqueue", "dequeue",
]  # fmt: skip
ODD_VERBS = ["u", "de", "lo", "upd", "updates", "l", "d", "''", "p", "e", "show", "dump"]
ODD_KEYWORDS = ["k", "v", "ke", "val", "''", "n", "ex", "a", "keys", "KEY"]


@st.composite
def line(draw):
    """A line that is valid for its map most of the time, then perturbed."""
    handle = draw(st.sampled_from(sorted(SIZES)))
    ks, vs = SIZES[handle]
    verb = draw(st.sampled_from(VERBS))
    words = ["map", verb] + handle.split()
    common = st.sampled_from(["0", "1", "2", "00", "255", "10", "0x1f", "017", "0X0a", "+3"])
    hexw = st.sampled_from(["0", "1", "ff", "0a", "1F", "00", "7", "0x1f"])

    def data(n):
        hexmode = draw(st.integers(0, 3)) == 0
        out = [draw(st.sampled_from(["hex", "hex", "h", "he"]))] if hexmode else []
        return out + [draw(hexw if hexmode else common) for _ in range(n)]

    parts = []
    if verb in ("update", "push", "enqueue"):
        if ks:
            parts.append(["key"] + data(ks))
        parts.append(["value"] + data(vs))
        if draw(st.booleans()):
            parts.append([draw(st.sampled_from(["any", "noexist", "exist"]))])
    elif (
        verb in ("delete", "lookup", "getnext")
        and (ks or verb == "delete")
        and (verb != "getnext" or draw(st.booleans()))
    ):
        parts.append(["key"] + data(ks))
    if len(parts) > 1 and draw(st.integers(0, 4)) == 0:
        parts = draw(st.permutations(parts))
    for p in parts:
        words += p
    # perturbations
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        what = draw(st.integers(0, 6))
        i = draw(st.integers(0, len(words) - 1))
        if what == 0:
            words[i] = draw(st.sampled_from(BYTE_WORDS))
        elif what == 1:
            del words[i]
        elif what == 2:
            words.insert(i, draw(st.sampled_from(BYTE_WORDS + ["key", "value", "any"])))
        elif what == 3:
            words[1] = draw(st.sampled_from(ODD_VERBS))
        elif what == 4:
            words[2:4] = draw(st.sampled_from(ODD_HANDLES)).split()
        elif what == 5 and len(words) > 4:
            words[draw(st.integers(4, len(words) - 1))] = draw(st.sampled_from(ODD_KEYWORDS))
        else:
            words[0] = draw(st.sampled_from(["m", "MAP", "''", "ma", "help"]))
    sep = draw(st.sampled_from([" ", " ", " ", "\t", "  ", " \r "]))
    text = sep.join(words)
    text = draw(st.sampled_from(["", "", "", " ", "  "])) + text
    text += draw(
        st.sampled_from(
            ["", "", "", "", " ", "\r", " # c", "#x", " \\", "\\", "\v", "\x00", "\xa0"]
        )
    )
    return text


@st.composite
def batch(draw):
    lines = draw(
        st.lists(
            st.one_of(
                line(),
                line(),
                line(),
                st.sampled_from(
                    [
                        "",
                        "   ",
                        "# comment",
                        "map show",
                        "map dump id 9",
                        "map update id 7 key 1 2 value 1 2 3",
                        "map update id 7 key 1 2 value 1 2 3 noexist",
                        "map delete id 7 key 1 2",
                        "map delete id 7 key hex 0a 0b",
                        "map lookup id 7 key 1 2",
                        "map update id 12 key 1 2 value 1 2 3 4 5 6 7 8 9",
                        "map update id 12 key 1 2 value hex 1 2 3 4 5 6 7 8 9 exist",
                        "map update id 7 key '1' 2 value 1 2 3",
                        "map update id 7 key 1 2 \\",
                        "map getnext id 7",
                        "map pop id 9 extra",
                    ]
                ),
            ),
            max_size=20,
        )
    )
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    return text.encode("latin-1")


_INITIAL = {k: dict(v) for k, v in _CACHE.items()}


def _reset_caches():
    """Forget byte words learned by earlier examples (exercises the slow word path)."""
    for k, v in _INITIAL.items():
        _CACHE[k].clear()
        _CACHE[k].update(v)


def _outcome(data, **kw):
    _reset_caches()
    items = []
    try:
        for it in parse_batch(data, Resolver(), file="f.txt", **kw):
            items.append(it)
    except ParseError as e:
        return flatten(items), ("error", str(e), e.line, e.column, e.token, e.message, type(e))
    return flatten(items), "ok"


needs_scanner = pytest.mark.skipif(not scan.available(), reason="extension not built")


@needs_scanner
@settings(max_examples=600)
@given(batch(), st.booleans(), st.integers(1, 3))
def test_scanner_equals_reference(data, compat, ncpus):
    kw = dict(compat=compat, possible_cpus=ncpus)
    assert _outcome(data, fast=True, **kw) == _outcome(data, fast=False, **kw)


@needs_scanner
@settings(max_examples=200)
@given(st.lists(line(), min_size=1, max_size=30), st.booleans())
def test_scanner_single_lines(lines, compat):
    for text in lines:
        data = (text + "\n").encode("latin-1")
        assert _outcome(data, fast=True, compat=compat) == _outcome(data, fast=False, compat=compat)


def test_runs_of_deletes_and_updates_are_grouped():
    lines = []
    for i in range(20):
        lines.append(f"map update id 7 key {i} 0 value 1 2 3 noexist")
    for i in range(10):
        lines.append(f"map delete id 7 key {i} 0")
    lines.append("map lookup id 7 key 1 0 # c")
    lines.append("map delete id 7 key hex 0a 00")
    lines.append("map show")
    data = ("\n".join(lines) + "\n").encode()
    for fast in (False, True):
        items = list(parse_batch(data, Resolver(), fast=fast))
        assert [type(i).__name__ for i in items] == ["OpBlock", "Show"]
        blk = items[0]
        assert isinstance(blk, OpBlock) and blk.count == 32 and blk.first_index == 0
        assert blk.taken == (32 if fast and scan.available() else 0)
        assert find_runs(blk, 10) == find_runs_py(blk, 10) == [(0, 20), (20, 30)]
        assert find_runs(blk, 21) == find_runs_py(blk, 21) == []
        flat = flatten(items)
        assert [f[2] for f in flat[20:30]] == list(range(21, 31))
        assert flat[30] == ("lookup", "lookup", Handle("id", 7), 31, b"\x01\x00")
        assert flat[31] == ("delete", Handle("id", 7), 32, b"\x0a\x00")
        assert items[1].line == 33 and items[1].index == 32

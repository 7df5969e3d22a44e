"""The C scanner gives exactly the same plan as the Python reference (through
flatten()), with every hand-over between them forced; the record layout matches its
Python view; the benchmark shapes are taken 100% by the scanner."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bpfmaps.bpftool import plan, scan
from bpfmaps.bpftool.grammar import Handle
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.bpftool.plan import OpBlock, flatten
from bpfmaps.errors import ParseError
from bpfmaps.types import MapInfo, MapType

pytestmark = pytest.mark.skipif(
    not scan.available(), reason="compiled extension (scanner) not built"
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
    Handle("name", "m7"): MapInfo.make(
        MapType.HASH, id=13, key_size=2, value_size=3, max_entries=8
    ),
    Handle("id", 14): MapInfo.make(MapType.ARRAY, id=14, key_size=4, value_size=0, max_entries=8),
    Handle("id", 15): MapInfo.make(MapType.HASH, id=15, key_size=8, value_size=2, max_entries=8),
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
    handle = draw(
        st.sampled_from(
            ["id 7", "id 8", "id 9", "pinned /sys/fs/bpf/a", "id 07", "i 7", "name m7", "name m8"]
        )
    )
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
            [
                ("id 7", 2, 3),
                ("id 8", 2, 3),
                ("id 11", 4, 1),
                ("pinned /sys/fs/bpf/a", 2, 3),
                ("name m7", 2, 3),
            ]
        )
    )
    mid, ks, vs = _rare(
        draw, (mid, ks, vs), ("id 12", 4, 4), ("id 9", 0, 2), ("id 99", 2, 3), ("id 14", 4, 0)
    )
    nk = ks + _rare(draw, 0, 1, -1)
    kh = draw(st.booleans())
    key = ["key"] + (["hex"] if kh else []) + [_op_byte(draw, kh) for _ in range(max(nk, 0))]
    what = draw(st.integers(0, 5))
    if what == 0:
        parts = ["map", _rare(draw, "delete", "d", "del"), mid] + key
        parts += _rare(draw, [], ["value", "1"], ["any"])
    elif what == 1:
        parts = ["map", draw(st.sampled_from(["lookup", "peek", "getnext"])), mid]
        parts += key if ks or draw(st.booleans()) else []
    elif what == 2:
        parts = ["map", draw(st.sampled_from(["pop", "dequeue"])), mid]
        parts += _rare(draw, [], ["key", "1"], ["x"])
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
@given(op_batch(), st.booleans(), st.integers(1, 3), st.sampled_from([1, 2, 256]))
def test_op_blocks_equal_python_parser(data, compat, ncpus, first):
    """Mixed lines on several maps through the scanner (small first blocks force
    every hand-over: full buffers, declined lines, unknown handles) give the
    reference's plan."""
    _assert_scan_equals_reference(data, first, compat=compat, possible_cpus=ncpus)


def test_scanner_takes_mixed_lines():
    lines = [
        "map update id 7 key 1 2 value 1 2 3 noexist",
        "map update pinned /sys/fs/bpf/a key hex 0a 0b value hex 1 2 3",
        "map delete id 7 key 1 2",
        "",
        "map update id 8 key 3 4 value 5 6 7 exist  # per-CPU",
        "map delete id 11 key 1 0 0 0",
        "map lookup name m7 key 1 2",
        "map push id 9 value 1 2",
        "map dequeue id 9",
        "map getnext id 7",
    ]
    items = list(parse_batch(("\n".join(lines) + "\n").encode(), Resolver(), possible_cpus=2))
    assert len(items) == 1 and isinstance(items[0], OpBlock)
    assert items[0].count == 9 and items[0].first_index == 0 and items[0].taken == 9
    flat = flatten(items)
    assert flat[0] == ("update", Handle("id", 7), 1, b"\x01\x02", b"\x01\x02\x03", 1)
    assert flat[2] == ("delete", Handle("id", 7), 3, b"\x01\x02")
    assert flat[3] == (
        "update", Handle("id", 8), 5, b"\x03\x04", (b"\x05\x06\x07" + bytes(5)) * 2, 2
    )  # fmt: skip
    assert flat[5] == ("lookup", "lookup", Handle("name", "m7"), 7, b"\x01\x02")
    assert flat[6] == ("update", Handle("id", 9), 8, None, b"\x01\x02", 0)
    assert flat[7] == ("pop", "dequeue", Handle("id", 9), 9)
    assert flat[8] == ("getnext", Handle("id", 7), 10, None)
    # the line spans: each op's pos is the start of its line
    data = ("\n".join(lines) + "\n").encode()
    blk = items[0]
    for i in range(blk.count):
        pos = blk.op(i)[6]
        assert pos == 0 or data[pos - 1 : pos] == b"\n"
        assert data[pos:].split(b"\n", 1)[0].decode() == lines[blk.line(i) - 1]
    # a long run stays in one block
    lines = ["map delete id 7 key 9 9"] + [
        f"map update id 7 key {i % 256} {i // 256} value 1 2 3" for i in range(400)
    ]
    items = list(parse_batch(("\n".join(lines) + "\n").encode(), Resolver()))
    assert [type(it).__name__ for it in items] == ["OpBlock"]
    assert scan.find_runs(items[0]) == [(1, 401)]


def _outcome(data, fast, **kw):
    try:
        return "ok", flatten(parse_batch(data, Resolver(), fast=fast, file="f", **kw))
    except ParseError as e:
        return "error", (e.line, e.column, e.message)


def _assert_scan_equals_reference(data, first, **kw):
    """The scanner's outcome with first blocks of ``first`` ops (small ones force every
    hand-over) is the reference parser's."""
    old = scan.BLOCK_FIRST
    scan.BLOCK_FIRST = first
    try:
        fast = _outcome(data, True, **kw)
    finally:
        scan.BLOCK_FIRST = old
    assert fast == _outcome(data, False, **kw)


@settings(max_examples=300)
@given(batch(), st.booleans(), st.integers(1, 3))
def test_scanner_equals_python_parser(data, compat, ncpus):
    slow = _outcome(data, False, compat=compat, possible_cpus=ncpus)
    fast = _outcome(data, True, compat=compat, possible_cpus=ncpus)
    assert fast == slow


def test_scanner_coverage_of_benchmark_shapes():
    """The shapes of benchmarks/bench_batch_file.py are taken 100% by the scanner (a
    scanner that silently declines more lines stays correct, only slower)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "bench_batch_file.py")
    spec = importlib.util.spec_from_file_location("bench_batch_file", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    infos = {
        Handle("id", 1): MapInfo.make(MapType.HASH, id=1, key_size=8, value_size=32, max_entries=1),
        Handle("id", 2): MapInfo.make(MapType.HASH, id=2, key_size=8, value_size=32, max_entries=1),
    }
    for shape in bench.SHAPES:
        data = bench.make_file(shape, 2000, 1, 2).encode()
        items = list(parse_batch(data, infos.__getitem__))
        blocks = [it for it in items if isinstance(it, OpBlock)]
        assert len(blocks) == len(items), shape
        assert sum(b.taken for b in blocks) == sum(b.count for b in blocks) > 0, shape


def test_record_layout_matches_header():
    from bpfmaps import loops
    from bpfmaps._ffi import ffi

    assert ffi.sizeof("struct bpfm_op") == plan.OP.size == loops.OP_SIZE == 32
    assert plan.OP.format == loops.OP_FORMAT
    fields = ["kind", "flags", "map", "line", "key_off", "value_off", "pos"]
    offs = [ffi.offsetof("struct bpfm_op", f) for f in fields]
    sizes = [ffi.sizeof(ffi.typeof("struct bpfm_op").fields[i][1].type) for i in range(7)]
    import struct

    view = [struct.calcsize("=" + plan.OP.format[1 : 1 + i]) for i in range(7)]
    assert offs == view
    assert sizes == [struct.calcsize("=" + c) for c in plan.OP.format[1:]]
    assert [f for f, _ in ffi.typeof("struct bpfm_op").fields] == fields
    from bpfmaps._ffi import lib

    assert (lib.BPFM_OP_UPDATE, lib.BPFM_OP_DELETE, lib.BPFM_OP_LOOKUP) == (1, 2, 3)
    assert (lib.BPFM_OP_GETNEXT, lib.BPFM_OP_POP) == (plan.GETNEXT, plan.POP)
    assert lib.BPFM_NO_KEY == plan.NO_KEY == loops.OP_NO_KEY


@pytest.fixture
def threaded(monkeypatch):
    """The two-thread scan (Scanner._scan_pair) on any data: no size threshold, two
    CPUs assumed."""
    monkeypatch.setattr(scan, "PAR_MIN", 0)
    monkeypatch.setattr(scan, "_free_cpus", lambda: 2)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op_batch(), st.booleans(), st.integers(1, 3), st.sampled_from([1, 2, 3]))
def test_threaded_scan_equals_python_parser(threaded, data, compat, ncpus, first):
    """The scan in two threads (first blocks of 1-3 ops, so every hand-over happens
    in both halves and at the cut) gives the reference's plan."""
    _assert_scan_equals_reference(data, first, compat=compat, possible_cpus=ncpus)


def _big_file(n, extra):
    """n upserts on id 7 (a key and value per line), with ``extra`` lines {line: text}."""
    lines = [f"map update id 7 key {i % 256} {i // 256 % 256} value 1 {i % 7} 3" for i in range(n)]
    for at, text in sorted(extra.items(), reverse=True):
        lines.insert(at, text)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "extra, block_max",
    [
        ({}, None),  # one block: the job's pages are moved after the first half
        ({70000: "map update id 11 key 1 0 0 0 value 9"}, None),  # a new handle in the job's half
        ({70000: "map update name m7 key 1 2 value 1 2 3 any"}, None),
        ({20000: "map show"}, None),  # a declined line in the first half: the job is dropped
        ({90000: "map show", 90001: "", 90002: "# c"}, None),  # one in the job's half
        ({50000: "map lookup id 8 key 1 2"}, None),  # near the cut
        ({}, 30000),  # blocks of at most 30000 ops: jobs that fill up
        ({5000: "map update id 8 key 1 2 value 1 2 3"}, 20000),
    ],
)
def test_threaded_scan_of_big_files(threaded, extra, block_max):
    """Files big enough for page moves in the join (the job's ops, keys and values are
    more than 16 pages each): the plan of the two-thread scan is the serial one's."""
    data = _big_file(100_000, extra)
    kw = dict(possible_cpus=2, block_max=block_max)
    fast = flatten(parse_batch(data, Resolver(), **kw))
    scan.PAR_MIN = 1 << 62  # serial
    serial = flatten(parse_batch(data, Resolver(), **kw))
    assert fast == serial
    assert fast == flatten(parse_batch(data, Resolver(), fast=False, **kw))


def test_threaded_scan_keeps_one_block(threaded):
    """A long run split between the threads is one block, byte for byte the serial
    scan's (the executor sees the run whole)."""
    data = _big_file(60_000, {})
    par = list(parse_batch(data, Resolver()))
    scan.PAR_MIN = 1 << 62
    ser = list(parse_batch(data, Resolver()))
    assert len(par) == len(ser) == 1
    a, b = par[0], ser[0]
    assert (a.count, a.first_index) == (b.count, b.first_index) == (60_000, 0)
    assert bytes(a.ops) == bytes(b.ops)
    assert bytes(a.keys) == bytes(b.keys) and bytes(a.values) == bytes(b.values)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["map update id 7 key 1 2 value 1 2 3", "map delete id 7 key 1 2", "", "  "]
            ),
            st.sampled_from([0, 0, 1, 3990, 3993, 3994, 3995, 3996, 4000, 4100]),
            st.sampled_from(["", " # c", " #\"'\\\x00\xff", "#", " \r"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_scanner_line_ends(lines, eol, last_eol):
    """Where a line ends (read in the same pass as its words): padded to about the
    4000-byte limit (longer lines are the reference's), comments with any bytes, CRLF,
    a last line without a newline."""
    text = []
    for body, pad, tail in lines:
        line = body + " " * max(pad - len(body) - len(tail), 0) + tail if pad else body + tail
        text.append(line)
    data = eol.join(text).encode("latin-1") + (eol.encode() if last_eol else b"")
    assert _outcome(data, True) == _outcome(data, False)


def test_threaded_scan_without_the_job_functions(threaded, monkeypatch):
    """An extension built before the threaded scan (no bpfm_scan_start) scans serially."""
    lib = scan.extension()[1]

    class Old:
        def __getattr__(self, name):
            if name == "bpfm_scan_start":
                raise AttributeError(name)
            return getattr(lib, name)

    monkeypatch.setattr(scan, "_EXT", (scan.extension()[0], Old()))
    data = _big_file(30_000, {})
    items = list(parse_batch(data, Resolver()))
    assert len(items) == 1 and items[0].count == 30_000
    assert flatten(items) == flatten(parse_batch(data, Resolver(), fast=False))


@pytest.mark.parametrize("value_size", [3, 32, 200])
def test_threaded_scan_cuts_a_uniform_file_in_the_middle(threaded, monkeypatch, value_size):
    """A file that fits in one block is cut where half its bytes are scanned, so both
    threads scan about the same: the probe's bytes per line are counted over the lines
    it took (it stops early when a map's values are bigger than its first buffers)."""
    ffi, lib = scan.extension()
    starts = []

    class Spy:
        def __getattr__(self, name):
            if name == "bpfm_scan_start":

                def start(t):
                    starts.append(t.pos)
                    return lib.bpfm_scan_start(t)

                return start
            return getattr(lib, name)

    info = MapInfo.make(MapType.HASH, id=7, key_size=2, value_size=value_size, max_entries=8)
    value = " ".join(str(i % 256) for i in range(value_size))
    data = "".join(
        f"map update id 7 key {i % 256} {i // 256 % 256} value {value}\n" for i in range(40_000)
    ).encode()
    monkeypatch.setattr(scan, "_EXT", (ffi, Spy()))
    items = list(parse_batch(data, lambda h: info))
    assert len(items) == 1 and items[0].count == 40_000
    assert len(starts) == 1
    assert 0.45 < starts[0] / len(data) < 0.55


_KEY_WORDS = ["0", "00", "1", "01", "10", "12", "120", "255", "256", "0x1f", "007", "08", "1a"]


@st.composite
def near_keys(draw):
    """Lines on one map (key 8) whose keys share leading words with the line before
    (the scanner reuses those words' bytes): the last words changed, words grown or
    shortened at the point they differ, separators, CRs, comments, hex keys, keys one
    word short or long."""
    key = [draw(st.sampled_from(_KEY_WORDS)) for _ in range(8)]
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        k = list(key)
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, 7))
            k[i] = draw(st.sampled_from(_KEY_WORDS + [k[i] + "0", k[i][:-1] or "3"]))
        if draw(st.integers(0, 9)) == 0:
            k = k[:7] if draw(st.booleans()) else k + ["1"]
        seps = [draw(st.sampled_from([" ", " ", " ", "  ", "\t", " \r "])) for _ in k]
        text = "".join(w + sep for w, sep in zip(k, seps)).rstrip(" \t\r")
        if draw(st.integers(0, 9)) == 0:
            text = "hex " + " ".join(f"{int(i) % 256:02x}" for i in range(8))
        verb = draw(st.sampled_from(["update", "update", "delete", "lookup"]))
        tail = " value 1 2" if verb == "update" else ""
        end = draw(st.sampled_from(["", "", " # c", "#c"]))
        lines.append(f"map {verb} id 15 key {text}{tail}{end}")
        if draw(st.booleans()):
            key = k[:8] + ["0"] * (8 - len(k[:8]))
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=500)
@given(near_keys(), st.sampled_from([1, 3, 256]))
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key 10 2 3 4 5 6 7 8\n", 256)
@example(b"map delete id 15 key 10 2 3 4 5 6 7 8\nmap delete id 15 key 1 2 3 4 5 6 7 8\n", 256)
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key 10 2 3 4 5 6 7\n", 256)
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key 1 23 4 5 6 7 8\n", 256)
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key 1 2 3 4 5 6 7 9\n", 256)
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key 1 2 3 4 5 6 7\n", 256)
@example(b"map delete id 15 key 1 2 3 4 5 6 7 8\nmap delete id 15 key hex 1 2 3 4 5 6 7 8\n", 1)
def test_scanner_reuses_shared_key_words(data, first):
    """Keys that share their leading words with the key before (taken from its bytes,
    not parsed again) give the reference's plan, whatever differs after them."""
    _assert_scan_equals_reference(data, first)


#: (verb, map, key words, value words) of the lines recent_heads_tails cycles through:
#: more heads (verb and map) and tails (value and flag) than the scanner keeps (8 each)
_CYCLE_MAPS = [("id 7", 2, 3), ("id 8", 2, 3), ("id 15", 8, 2), ("name m7", 2, 3), ("id 11", 4, 1)]


@st.composite
def recent_heads_tails(draw):
    """Lines that come back to a few earlier heads ("map VERB MAP key ") and value
    tails ("value ... [flag]"), at any distance (the scanner compares a line with its
    recent heads and tails and copies what matches), with near keys, hex keys and
    values, odd separators, comments, the same tail on another map, and a few lines
    that are errors or not ordinary."""
    pool = []
    for _ in range(draw(st.integers(1, 12))):
        mid, ks, vs = draw(st.sampled_from(_CYCLE_MAPS))
        verb = draw(st.sampled_from(["update", "update", "delete", "lookup", "getnext"]))
        hexv = draw(st.booleans())
        val = (
            ["value"]
            + (["hex"] if hexv else [])
            + [_byte_token(draw, hexv, 255) for _ in range(vs)]
        )
        flag = draw(st.sampled_from([[], [], ["any"], ["noexist"], ["exist"]]))
        pool.append((verb, mid, ks, val + flag))
    lines = []
    if draw(st.booleans()):  # every map known first: a scan call then runs them all
        lines += [f"map lookup {m} key " + " ".join(["1"] * k) for m, k, _ in _CYCLE_MAPS]
    for _ in range(draw(st.integers(1, 30))):
        verb, mid, ks, tail = pool[draw(st.integers(0, len(pool) - 1))]
        if draw(st.integers(0, 2)) == 0:  # the same tail on another map
            mid = draw(st.sampled_from([m for m, _, _ in _CYCLE_MAPS]))
        hexk = draw(st.integers(0, 5)) == 0
        key = (["hex"] if hexk else []) + [
            _byte_token(draw, hexk, _rare(draw, 255, 256)) for _ in range(ks + _rare(draw, 0, 1))
        ]
        sep = _rare(draw, " ", "  ", "\t", " \r")
        parts = ["map", verb, mid, "key", *key]
        if verb == "update":
            parts += tail
        lines.append(sep.join(parts) + draw(st.sampled_from(["", "", "", " ", " # c", "#"])))
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n"]))).encode()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(recent_heads_tails(), st.sampled_from([1, 4, 256]), st.integers(1, 3))
@example(
    b"map update id 7 key 1 2 value 1 2 3\nmap lookup id 7 key 1 2\n"
    b"map update id 7 key 1 3 value 1 2 3\nmap lookup id 7 key 1 3\n",
    256,
    1,
)
@example(
    b"map update id 7 key 1 2 value 1 2 3 noexist\nmap update id 8 key 1 2 value 1 2 3 noexist\n"
    b"map update id 7 key 1 2 value 1 2 3 noexist\nmap update id 7 key 1 2 value 1 2 3\n",
    256,
    2,
)
@example(  # a tail that is not the last one, on a map with another value size: an error
    b"map delete id 15 key 1 2 3 4 5 6 7 8\n"  # (a new map starts a new scan call)
    b"map update id 7 key 1 2 value 1 2 3\nmap update id 7 key 1 2 value 4 5 6\n"
    b"map update id 15 key 1 2 3 4 5 6 7 8 value 1 2 3\n",
    256,
    1,
)
def test_scanner_recent_heads_and_tails(data, first, ncpus):
    """Lines that repeat a head or a value tail of any recent line (not only the line
    before) give the reference's plan."""
    _assert_scan_equals_reference(data, first, possible_cpus=ncpus)


@pytest.mark.parametrize("usable, running, pair", [(2, 1, True), (2, 2, False), (1, 1, False)])
def test_two_thread_scan_only_on_a_free_cpu(monkeypatch, usable, running, pair):
    """The two-thread scan is taken only when the running tasks leave a second CPU
    free (with one of two cores busy it cost 1.03-1.06x the serial scan's time), and
    the plan is the same either way."""
    from bpfmaps import _cpus

    monkeypatch.setattr(scan, "PAR_MIN", 0)
    monkeypatch.setattr(_cpus, "usable", lambda: usable)
    monkeypatch.setattr(_cpus, "running_tasks", lambda: running)
    taken = []
    real = scan.Scanner._scan_pair
    monkeypatch.setattr(
        scan.Scanner, "_scan_pair", lambda self, *a: taken.append(1) or real(self, *a)
    )
    data = _big_file(30_000, {})
    items = list(parse_batch(data, Resolver()))
    assert bool(taken) == pair
    assert flatten(items) == flatten(parse_batch(data, Resolver(), fast=False))

"""The plan in every way the runner consumes it (issue 11, part 6): the C scanner and
the Python reference give the same plan when the generator is consumed item by item
(the incremental ``--bpftool-compat`` mode: the items before a bad line, then its
error) and when blocks are bounded (the two-pass mode's ``block_max``); every ordinary
verb with every handle kind is taken by the scanner, unknown handles through the
resolver callback, once each; the C run finder equals its Python twin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bpftool_scan_lines import Resolver, _reset_caches
from test_bpftool_scan_lines import batch as line_batch

from bpfmaps.bpftool import scan
from bpfmaps.bpftool.grammar import Handle
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.bpftool.plan import (
    DELETE,
    GETNEXT,
    LOOKUP,
    OP,
    POP,
    UPDATE,
    MapTable,
    OpBlock,
    find_runs_py,
    flatten,
)
from bpfmaps.errors import ParseError

needs_scanner = pytest.mark.skipif(not scan.available(), reason="extension not built")


def _incremental(data: bytes, **kw) -> tuple[list, object]:
    """What an incremental caller sees: each item as it comes, then the error."""
    _reset_caches()
    got = []
    gen = parse_batch(data, Resolver(), file="f.txt", **kw)
    while True:
        try:
            it = next(gen)
        except StopIteration:
            return got, "ok"
        except ParseError as e:
            return got, ("error", str(e), e.line, e.column, e.message)
        scanned = isinstance(it, OpBlock) and it.taken == it.count
        got.append((flatten([it]), it.count if scanned else 0))


@needs_scanner
@settings(max_examples=300, deadline=None)
@given(
    line_batch(),
    st.booleans(),
    st.integers(1, 3),
    st.sampled_from([1, 2, 5, None]),
    st.sampled_from([1, 3, 256]),
)
def test_incremental_and_bounded_plans_equal_reference(data, compat, ncpus, block_max, first):
    """Item by item (incremental) and with bounded blocks (two-pass), the scanner's
    plan flattens to the reference's, the same items before the same error."""
    kw = dict(compat=compat, possible_cpus=ncpus)
    old = scan.BLOCK_FIRST
    scan.BLOCK_FIRST = first
    try:
        fast_items, fast_end = _incremental(data, fast=True, block_max=block_max, **kw)
    finally:
        scan.BLOCK_FIRST = old
    slow_items, slow_end = _incremental(data, fast=False, **kw)
    assert fast_end == slow_end
    flat_fast = [c for part, _ in fast_items for c in part]
    flat_slow = [c for part, _ in slow_items for c in part]
    assert flat_fast == flat_slow
    if block_max is not None:  # the bound holds for every scanned block
        assert all(n <= max(block_max, first) for _, n in fast_items)


#: one line of every ordinary verb, per handle spelling (queue verbs on the queue)
HANDLES = {"id": "id 7", "pinned": "pinned /sys/fs/bpf/a", "name": "name m7"}
KEYED = [
    ("update", "{h} key 1 2 value 1 2 3", UPDATE),
    ("update", "{h} key hex 0a 0b value hex 01 02 03 noexist", UPDATE),
    ("delete", "{h} key 1 2", DELETE),
    ("lookup", "{h} key 1 2", LOOKUP),
    ("peek", "{h} key 1 2", LOOKUP),
    ("getnext", "{h} key 1 2", GETNEXT),
    ("getnext", "{h}", GETNEXT),
]
KEYLESS = [
    ("push", "id 9 value 1 2", UPDATE),
    ("enqueue", "id 9 value 1 2", UPDATE),
    ("pop", "id 9", POP),
    ("dequeue", "id 9", POP),
    ("peek", "id 9", LOOKUP),
    ("update", "id 9 value 1 2", UPDATE),
]


@needs_scanner
@pytest.mark.parametrize("how", sorted(HANDLES))
def test_every_ordinary_verb_and_handle_is_scanned(how):
    """``map update|push|enqueue|delete|lookup|peek|getnext|pop|dequeue`` with
    ``id|pinned|name`` handles: every op taken by the C scanner (none declined to the
    reference), per-CPU values replicated, each handle resolved once, through the
    callback, when the scanner first meets it."""
    h = HANDLES[how]
    lines = [f"map {verb} {rest.format(h=h)}" for verb, rest, _ in KEYED]
    lines += [f"map {verb} {rest}" for verb, rest, _ in KEYLESS]
    lines.append("map update id 8 key 1 2 value 1 2 3 exist")  # per-CPU
    data = ("\n".join(lines) + "\n").encode()
    res = Resolver()
    seen: list[Handle] = []

    def resolve(handle):
        seen.append(handle)
        return res(handle)

    items = list(parse_batch(data, resolve, possible_cpus=2))
    assert [type(it).__name__ for it in items] == ["OpBlock"]
    blk = items[0]
    assert blk.count == blk.taken == len(lines)
    kinds = [blk.op(i)[0] for i in range(blk.count)]
    assert kinds == [k for *_, k in KEYED] + [k for *_, k in KEYLESS] + [UPDATE]
    want = {"id": Handle("id", 7), "pinned": Handle("pinned", "/sys/fs/bpf/a")}
    want["name"] = Handle("name", "m7")
    assert seen == [want[how], Handle("id", 9), Handle("id", 8)]  # once each, in order
    # the same plan as the reference
    assert flatten(items) == flatten(parse_batch(data, Resolver(), possible_cpus=2, fast=False))
    assert flatten(items)[-1][4] == (b"\x01\x02\x03" + bytes(5)) * 2


@needs_scanner
def test_unresolved_handle_is_reported_by_the_reference():
    """A handle the callback cannot resolve: the scanner never reports an error; the
    reference reports it at its line with bpftool's wording."""
    data = b"map update id 7 key 1 2 value 1 2 3\nmap update id 99 key 1 2 value 1 2 3\n"
    got = []
    with pytest.raises(ParseError) as ei:
        for it in parse_batch(data, Resolver(), file="f.txt"):
            got.append(it)
    assert ei.value.line == 2 and "get map by id (99)" in str(ei.value)
    assert flatten(got) == [("update", Handle("id", 7), 1, b"\x01\x02", b"\x01\x02\x03", 0)]


@st.composite
def op_records(draw):
    n = draw(st.integers(0, 80))
    kinds = st.sampled_from([UPDATE, UPDATE, UPDATE, DELETE, DELETE, LOOKUP, GETNEXT, POP])
    out = []
    kind, flags, m = UPDATE, 0, 0
    for _ in range(n):
        if draw(st.integers(0, 5)) == 0:  # streaks, so that runs form
            kind = draw(kinds)
            flags = draw(st.integers(0, 2)) if kind == UPDATE else 0
            m = draw(st.integers(0, 2))
        out.append((kind, flags, m))
    return out


@needs_scanner
@settings(max_examples=400, deadline=None)
@given(op_records(), st.integers(1, 20))
def test_run_finder_c_equals_python(recs, run_min):
    """The one run finder: the C ``bpfm_find_runs`` and its Python twin agree on any
    op stream (updates per map and flag, deletes per map, queries breaking runs)."""
    ops = b"".join(OP.pack(k, f, m, i + 1, 0, 0, 0) for i, (k, f, m) in enumerate(recs))
    blk = OpBlock(MapTable(1), ops, b"", b"", len(recs), 0)
    py = find_runs_py(blk, run_min)
    assert scan.find_runs_c(blk, run_min) == py
    for a, b in py:  # maximal runs of one (kind, flags, map), at least run_min long
        assert b - a >= run_min
        assert len({recs[i] for i in range(a, b)}) == 1 and recs[a][0] in (UPDATE, DELETE)
        assert a == 0 or recs[a - 1] != recs[a]
        assert b == len(recs) or recs[b] != recs[a]

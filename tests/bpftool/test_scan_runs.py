"""The scanner's run mode (``bpfm_scan`` in ``bpfmaps/_native/scan.h``): a big scan
whose first ops are one run writes two records (the run's first op and its last) in
place of one an op, and stops before the first op of another run.  Its blocks
(:class:`~bpfmaps.bpftool.plan.OpBlock` with ``run``) build their records only when
read, as the normal scan of the same lines writes them; the executor applies them
without reading them, and a failure report reads them with the same result."""

from __future__ import annotations

import io

import pytest
from test_bpftool_scan import Resolver

from bpfmaps.bpftool import scan
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.bpftool.plan import OpBlock, find_runs_py, flatten
from bpfmaps.bpftool.runner import Runner
from bpfmaps.errors import ParseError
from bpfmaps.types import MapType

pytestmark = pytest.mark.skipif(
    not scan.available() or not hasattr(scan.extension()[1], "BPFM_SCAN_RUN_END"),
    reason="extension (with the run mode) not built",
)


def _upd(i: int, tail: str = "", handle: str = "id 7") -> str:
    return f"map update {handle} key {i % 256} {i // 256 % 256} value 1 {i % 7} 3{tail}"


def _file(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _blocks(data: bytes, **kw) -> list:
    return list(parse_batch(data, Resolver(), possible_cpus=2, **kw))


#: files that are one run: upserts (blank and comment lines inside, a per-CPU map,
#: a flag), deletes, pushes (no key)
ONE_RUN = {
    "upserts": [_upd(i) for i in range(700)],
    "blank and comment lines": [
        _upd(i) if i % 50 else ("" if i % 100 else "  # c") for i in range(1, 701)
    ],
    "comments after the ops": [_upd(i, "  # c" if i % 3 else " ") for i in range(700)],
    "per-CPU": [_upd(i, handle="id 8") for i in range(700)],
    "noexist": [_upd(i, " noexist") for i in range(700)],
    "deletes": [f"map delete id 7 key {i % 256} {i // 256}" for i in range(700)],
    "pushes": [f"map push id 9 value {i % 256} 1" for i in range(700)],
}


@pytest.mark.parametrize("name", sorted(ONE_RUN))
def test_one_run_is_a_run_block_with_the_normal_scans_records(name):
    data = _file(ONE_RUN[name])
    (blk,) = _blocks(data)
    (norm,) = _blocks(data, runs=False)
    assert norm.run is None
    assert blk.run is not None and blk._ops is None  # a run block, records not built
    n = blk.count
    ops = sum(1 for w in ONE_RUN[name] if w.startswith("map"))
    assert (n, blk.first_index, blk.taken) == (norm.count, 0, n) == (ops, 0, ops)
    assert bytes(blk.keys) == bytes(norm.keys) and bytes(blk.values) == bytes(norm.values)
    # its first and last op without the records
    assert blk.op(0) == norm.op(0) and blk.op(n - 1) == norm.op(n - 1)
    assert blk.line(n - 1) == norm.line(n - 1)
    assert scan.find_runs(blk) == find_runs_py(blk) == scan.find_runs(norm) == [(0, n)]
    assert blk._ops is None
    # any other op builds them: the normal scan's, byte for byte
    assert blk.op(1) == norm.op(1)
    assert blk._ops is not None and bytes(blk.ops) == bytes(norm.ops)
    assert flatten([blk]) == flatten([norm]) == flatten(_blocks(data, fast=False))


#: lines that end a run of upserts to id 7 with no flag
BREAKS = {
    "a flag": _upd(1, " exist"),
    "another map": _upd(1, handle="id 8"),
    "another handle": _upd(1, handle="pinned /sys/fs/bpf/a"),
    "a handle met for the first time": "map update id 11 key 1 0 0 0 value 9",
    "a delete": "map delete id 7 key 1 2",
    "a lookup": "map lookup id 7 key 1 2",
    "a getnext": "map getnext id 7",
    "a declined line": "map show",
    "an error": "map update id 7 key 1 2 value 1 2",
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_run_block_ends_before_another_run(name):
    """The first run is one run block (600 ops); then normal blocks (run mode is not
    tried again after a run ended before its block; a declined line ends the block
    itself), with the plan (or the error) of the normal scan and of the reference."""
    lines = [_upd(i) for i in range(600)] + [BREAKS[name]] + [_upd(i) for i in range(600)]
    data = _file(lines)

    def outcome(**kw):
        try:
            items = _blocks(data, **kw)
        except ParseError as e:
            return "error", (e.line, e.column, e.message)
        return "ok", flatten(items)

    assert outcome() == outcome(runs=False) == outcome(fast=False)
    gen = parse_batch(data, Resolver(), possible_cpus=2)
    first = next(gen)
    assert isinstance(first, OpBlock) and first.run is not None and first.count == 600
    try:
        rest = list(gen)
    except ParseError:
        rest = []
    if name not in ("a declined line", "an error"):
        assert all(getattr(it, "run", None) is None for it in rest)
    elif name == "a declined line":  # the next stretch is a run block of its own
        assert [type(it).__name__ for it in rest] == ["Show", "OpBlock"]
        assert rest[1].run is not None and rest[1].count == 600


def test_runs_off_and_small_files_give_normal_blocks():
    data = _file(ONE_RUN["upserts"])
    assert all(b.run is None for b in _blocks(data, runs=False))
    assert all(b.run is None for b in _blocks(_file(ONE_RUN["upserts"][:200])))  # one probe


def test_probe_that_is_not_one_run_scans_normally():
    lines = [_upd(i) for i in range(100)] + ["map lookup id 7 key 1 2"]
    lines += [_upd(i) for i in range(600)]
    (blk,) = _blocks(_file(lines))
    assert blk.run is None and blk.count == 701


@pytest.fixture
def threaded(monkeypatch):
    """The two-thread scan on any data (no size threshold, two CPUs assumed)."""
    monkeypatch.setattr(scan, "PAR_MIN", 0)
    monkeypatch.setattr(scan, "_free_cpus", lambda: 2)


@pytest.mark.parametrize(
    "second",
    [
        "same",  # the job's ops continue the run: one run block
        "other map",  # the job's half is another run: not merged, two run... then normal
        "break in the job's half",
        "break in the first half",
    ],
)
def test_threaded_run_blocks(threaded, monkeypatch, spy, second):
    n = 20_000
    lines = [_upd(i) for i in range(n)]
    if second == "other map":
        lines[n // 2 :] = [_upd(i, handle="id 8") for i in range(n // 2, n)]
    elif second == "break in the job's half":
        lines.insert(3 * n // 4, "map lookup id 7 key 1 2")
    elif second == "break in the first half":
        lines.insert(n // 4, _upd(5, " exist"))
    data = _file(lines)
    pairs: list[bool] = []
    spy(scan.Scanner, "_scan_pair", lambda a, r: pairs.append(r is not None))
    par = _blocks(data)
    assert pairs and pairs[0]
    assert par[0].run is not None
    unbuilt = par[0]._ops is None
    monkeypatch.setattr(scan, "PAR_MIN", 1 << 62)  # serial
    ser = _blocks(data)
    norm = _blocks(data, runs=False)
    assert flatten(par) == flatten(ser) == flatten(norm)
    if second == "same":
        assert len(par) == len(ser) == 1 and par[0].count == n
        assert unbuilt
        assert par[0].op(n - 1) == norm[0].op(n - 1)
        assert bytes(par[0].ops) == bytes(ser[0].ops) == bytes(norm[0].ops)
        assert bytes(par[0].keys) == bytes(norm[0].keys)
        assert bytes(par[0].values) == bytes(norm[0].values)


# -- the executor ---------------------------------------------------------------


def _run(data: bytes, backend) -> tuple[int, str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    r = Runner(backend, stdout=out, stderr=err)
    status = r.run_data(data, "batch.txt")
    return status, out.getvalue(), err.getvalue(), r.processed


def _contents(kb, fd, ks, vs) -> dict:
    out, prev = {}, None
    kbuf, vbuf = kb.alloc(ks), kb.alloc(vs)
    while kb.map_get_next_key(fd, prev if prev is not None else kb.NULL, kbuf) == 0:
        key = kb.tobytes(kbuf, ks)
        assert kb.map_lookup_elem(fd, key, vbuf, 0) == 0
        out[key] = kb.tobytes(vbuf, vs)
        prev = key
    return out


@pytest.mark.parametrize("flag", ["", " noexist"])
def test_runner_applies_a_run_block_without_its_records(backend, monkeypatch, spy, flag):
    """A run block is applied whole without building its records; a failure in it
    builds them once and reports what the normal scan's plan reports."""
    built: list[int] = []
    spy(scan.Scanner, "_records", lambda a, r: built.append(a[-1]))
    n = 3000

    def attempt(entries: int) -> tuple:
        fd = backend.map_create(int(MapType.HASH), 2, 3, entries, 0, b"t")
        assert fd >= 0
        try:
            mid = backend.map_info(fd)[1].id
            lines = ["# a run"] + [_upd(i, flag, f"id {mid}") for i in range(n)]
            status, out, err, done = _run(_file(lines), backend)
            got = _contents(backend, fd, 2, 3)
        finally:
            backend.close(fd)
        return status, out, err.replace(f"id {mid} ", "id MID "), done, got

    want = {bytes([i % 256, i // 256]): bytes([1, i % 7, 3]) for i in range(n)}
    assert attempt(n) == (0, f"processed {n} commands\n", "", n, want)
    assert built == []
    failed = attempt(n - 100)
    assert built == [n]  # the failure report built them, once
    status, out, err, done, got = failed
    assert status == (256 - 7) & 0xFF and done == len(got) == n - 100
    assert f"batch.txt:{n - 100 + 2}: update failed: Argument list too long" in err
    built.clear()
    monkeypatch.setattr(scan, "_one_run", lambda b: False)  # normal blocks: the same report
    assert attempt(n - 100) == failed and built == []


@pytest.mark.parametrize("runs", [True, False], ids=["run blocks", "records"])
def test_has_kind_is_the_records_kinds(runs):
    """plan.has_kind (a strided copy of the kind fields) says what a pass over the
    records says, for run blocks (no records read) and record blocks alike."""
    from bpfmaps.bpftool.plan import DELETE, GETNEXT, LOOKUP, POP, UPDATE, has_kind

    files = [
        [_upd(i) for i in range(700)],
        [f"map delete id 7 key {i % 256} {i // 256}" for i in range(700)],
        [_upd(i) if i % 97 else f"map lookup id 7 key {i % 256} 0" for i in range(700)],
        [_upd(i) for i in range(699)] + ["map getnext id 7 key 1 0"],
        ["map lookup id 7 key 3 0"] + [_upd(i) for i in range(5)],
    ]
    for lines in files:
        for blk in _blocks(_file(lines), runs=runs):
            if not isinstance(blk, OpBlock):
                continue
            kinds = {blk.op(i)[0] for i in range(blk.count)}
            for kind in (UPDATE, DELETE, LOOKUP, GETNEXT, POP):
                assert has_kind(blk, kind) == (kind in kinds), (lines[0], kind)

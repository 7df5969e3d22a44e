"""Issue 11 part 6, the coverage test at the benchmark's scale: the shapes of
benchmarks/bench_batch_file.py, big enough (over :data:`bpfmaps.bpftool.scan.PAR_MIN`
after the first block) for the paths a 2000-line file never reaches: the two-thread
scan (``Scanner._scan_pair``) and blocks of up to ``BLOCK_MAX`` ops.  Every line is
taken by the C scanner (no block declines a line to the reference), the two-thread
scan is taken where it should be (a pair that silently returns None stays correct,
only slower: a speed bug this test names), the upsert shapes come as run blocks
(records left unwritten; the same kind of speed bug), and the plan is the serial scan's (whose
equality with the reference the hypothesis tests of test_bpftool_scan.py hold).
The real thresholds are kept; only the CPU count is set to two."""

from __future__ import annotations

import importlib.util
import os

import pytest

from bpfmaps.bpftool import scan
from bpfmaps.bpftool.grammar import Handle
from bpfmaps.bpftool.parse import parse_batch
from bpfmaps.bpftool.plan import OpBlock, flatten
from bpfmaps.types import MapInfo, MapType

pytestmark = pytest.mark.skipif(not scan.available(), reason="extension not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: lines a shape's file has here: 6 to 11 MB of ordinary lines
N = 80_000


def _bench():
    path = os.path.join(ROOT, "benchmarks", "bench_batch_file.py")
    spec = importlib.util.spec_from_file_location("bench_batch_file", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


BENCH = _bench()
INFOS = {
    Handle("id", i): MapInfo.make(MapType.HASH, id=i, key_size=8, value_size=32, max_entries=1)
    for i in (1, 2)
}


@pytest.mark.parametrize("shape", BENCH.SHAPES)
def test_benchmark_shapes_at_scale_are_all_scanned(shape, monkeypatch, spy):
    monkeypatch.setattr(scan, "_free_cpus", lambda: 2)
    pairs: list[bool] = []
    spy(scan.Scanner, "_scan_pair", lambda a, r: pairs.append(r is not None))
    data = BENCH.make_file(shape, N, 1, 2).encode()
    items = list(parse_batch(data, INFOS.__getitem__))
    blocks = [it for it in items if isinstance(it, OpBlock)]
    assert len(blocks) == len(items), shape
    lines = data.count(b"\n")
    assert sum(b.taken for b in blocks) == sum(b.count for b in blocks) == lines, shape
    if len(data) > scan.PAR_MIN + scan.BLOCK_FIRST * 200:  # "user" is the small file
        assert pairs and all(pairs), (shape, pairs)  # the two-thread scan ran, never declined
        assert len(blocks) <= -(-lines // scan.BLOCK_MAX) + 2, (shape, len(blocks))
    else:
        assert not pairs, shape
    monkeypatch.setattr(scan, "_free_cpus", lambda: 1)  # the serial scan: the same plan
    serial = list(parse_batch(data, INFOS.__getitem__))
    if shape in ("populated", "random", "increasing", "json"):  # one run each: run blocks
        assert all(b.run is not None for b in blocks + serial), shape  # (scan.h's run mode)
    assert flatten(items) == flatten(serial)

"""``-j batch file`` writes bpftool's array as it goes (issue 11 part 3: bounded
memory): whatever the flush threshold, the bytes are those of one write of the whole
array, compact and pretty, on both parse paths, with failures, queries, commands and
words the reference kept; the items the runner holds never exceed the threshold by
more than one block."""

from __future__ import annotations

import io
import json

import pytest
from test_runner_modes import _key, _Maps

from bpfmaps.bpftool import jsonbatch
from bpfmaps.bpftool.runner import Runner


@pytest.fixture
def mmaps(backend):
    m = _Maps(backend)
    yield m
    m.close()


def _file(ids, fail):
    h, a, pc, q = ids
    lines = [f"map update id {h} key {_key(i)} value {i} 0 0 0" for i in range(12)]
    lines += [f"map lookup id {h} key {_key(3)}", f"map show id {h}", "# c", ""]
    lines += [f"map update id {a} key {_key(i % 8)} value {i} 1 1 1" for i in range(40)]
    lines += [f"map push id {q} value 1 2 3 4", f"map pop id {q}", f"map getnext id {a}"]
    lines += [f"map update id {h} key '{i}' 0 0 0 value 7 7 7 7" for i in range(5)]
    lines += [f"map delete id {h} key {_key(i)}" for i in range(12)]
    lines += [f"map update id {pc} key {_key(i)} value {i} 2 2 2 noexist" for i in range(12)]
    lines += [f"map lookup id {pc} key {_key(1)}"]
    if fail == "kernel":
        lines.append(f"map update id {pc} key {_key(1)} value 1 1 1 1 noexist")
    elif fail == "lookup":
        lines.append(f"map lookup id {h} key {_key(11)}")
    lines += [f"map update id {h} key {_key(i % 12)} value 5 5 5 5" for i in range(20)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("fail", [None, "kernel", "lookup"])
@pytest.mark.parametrize("pretty", [False, True])
def test_streamed_array_is_the_whole_array(mmaps, monkeypatch, fail, pretty):
    data = _file(mmaps.ids, fail)
    got = []
    for threshold, fast in [(1 << 40, True), (1, True), (3, False), (17, True), (1 << 40, False)]:
        monkeypatch.setattr(jsonbatch, "JSON_FLUSH_OPS", threshold)
        out, err = io.StringIO(), io.StringIO()
        r = Runner(mmaps.be, stdout=out, stderr=err, json=True, pretty=pretty, fast=fast)
        status = r.run_data(data, "s.txt")
        assert r._json_items == [] and r._json_pending == 0
        got.append((status, out.getvalue(), err.getvalue(), mmaps.state()))
    assert all(g == got[0] for g in got[1:])
    status, out, _, _ = got[0]
    items = json.loads(out)
    assert status == {None: 0, "kernel": 239, "lookup": 254}[fail]
    last = items[-1]
    if fail == "kernel":
        assert last["output"] == {"error": "update failed: File exists"}
    elif fail == "lookup":  # bpftool: a null output, nothing more
        assert last["output"] is None and last["command"][1] == "lookup"
    else:
        assert last["command"][1] == "update" and len(items) == len(data.splitlines()) - 2
    assert out.endswith("\n]\n" if pretty else "]\n")


def test_held_items_stay_bounded(mmaps, monkeypatch):
    """While a two-pass run goes (blocks of at most CHUNKED_BLOCK ops), at most the
    threshold plus one block of commands is held."""
    from bpfmaps.bpftool import runner

    monkeypatch.setattr(runner, "CHUNKED_MIN", 1)
    monkeypatch.setattr(runner, "CHUNKED_BLOCK", 256)
    h = mmaps.ids[0]
    lines = [f"map update id {h} key {_key(i % 12)} value {i % 256} 0 0 0" for i in range(3000)]
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(jsonbatch, "JSON_FLUSH_OPS", 100)
    seen = []
    flush = jsonbatch.JsonBatch._json_flush

    def spy(self, final):
        seen.append(self._json_pending)
        return flush(self, final)

    monkeypatch.setattr(jsonbatch.JsonBatch, "_json_flush", spy)
    out = io.StringIO()
    r = Runner(mmaps.be, stdout=out, stderr=io.StringIO(), json=True)
    assert r.run_data(data, "b.txt") == 0
    assert len(json.loads(out.getvalue())) == 3000
    assert len(seen) > 8 and max(seen) < 100 + 256

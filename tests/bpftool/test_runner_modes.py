"""The executor on every path (issue 11, parts 1 and 6), on the fake and the kernel:

* the scanner's plan and the reference's plan RUN the same (status, stdout, stderr,
  map contents) in the checked, two-pass (bounded memory) and incremental
  (``--bpftool-compat``) modes, plain and JSON, on hash, array, per-CPU and queue maps;
* progress is drawn after engine and loop calls and never changes what is executed:
  the same engine runs (whole, with the parallel flag) and loop slices with the
  progress line on as off.
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import engine
from bpfmaps.bpftool import execute, reporting
from bpfmaps.bpftool import runner as runner_mod
from bpfmaps.bpftool.runner import Runner
from bpfmaps.types import MapType


class _Maps:
    """A hash, an array, a per-CPU hash and a queue on one backend, reset between runs."""

    SPECS = [(MapType.HASH, 4, 4, 12), (MapType.ARRAY, 4, 4, 8),
             (MapType.PERCPU_HASH, 4, 4, 12), (MapType.QUEUE, 0, 4, 6)]  # fmt: skip

    def __init__(self, be):
        self.be = be
        self.fds, self.ids = [], []
        for t, ks, vs, n in self.SPECS:
            fd = be.map_create(int(t), ks, vs, n, 0, b"modes")
            assert fd >= 0
            self.fds.append(fd)
            self.ids.append(be.map_info(fd)[1].id)
        self.vbuf = be.alloc(4 * 8 * be.possible_cpus() + 64)
        self.kbuf = be.alloc(4)

    def state(self):
        """Everything in the maps; empties them (arrays: zeroed) for the next run."""
        be, out = self.be, []
        for (t, ks, _, _n), fd in zip(self.SPECS, self.fds):
            got = []
            if t == MapType.QUEUE:
                while be.map_lookup_and_delete_elem(fd, be.NULL, self.vbuf, 0) == 0:
                    got.append(be.tobytes(self.vbuf, 4))
            else:
                keys = []
                prev = be.NULL
                while be.map_get_next_key(fd, prev, self.kbuf) == 0:
                    prev = be.tobytes(self.kbuf, ks)
                    keys.append(prev)
                vsz = 8 * be.possible_cpus() if t == MapType.PERCPU_HASH else 4
                for k in keys:
                    assert be.map_lookup_elem(fd, k, self.vbuf, 0) == 0
                    got.append((k, be.tobytes(self.vbuf, vsz)))
                    if t == MapType.ARRAY:
                        assert be.map_update_elem(fd, k, bytes(4), 0) == 0
                    else:
                        assert be.map_delete_elem(fd, k) == 0
            out.append(sorted(got) if t != MapType.QUEUE else got)
        return out

    def close(self):
        for fd in self.fds:
            self.be.close(fd)


@pytest.fixture
def mmaps(backend):
    m = _Maps(backend)
    yield m
    m.close()


def _key(i):
    return f"{i} 0 0 0"


def _lines(rng: random.Random, ids: list[int], n: int) -> list[str]:
    """Mixed lines that mostly succeed (a model of the maps picks present keys), with a
    rare failure or syntax error, so that most files run far."""
    h, a, pc, q = ids
    present: dict[int, set[int]] = {h: set(), pc: set(), a: set(range(8))}
    queued = 0
    out: list[str] = []

    def upd(mid: int, k: int, value: str, flag: str = "") -> str:
        present[mid].add(k)
        return f"map update id {mid} key {_key(k)} value {value}{flag}"

    while len(out) < n:
        what = rng.randrange(16)
        mid = rng.choice([h, a, pc])
        top = 8 if mid == a else 12
        k = rng.randrange(top)
        if what == 0:  # a run for the batch engine (20 updates to one map, one flag)
            fl = rng.choice(["", " any"])
            out += [upd(mid, i % top, f"{i} 1 2 3", fl) for i in range(20)]
        elif what == 1 and present[h]:  # a run of deletes (or a short one)
            keys = sorted(present[h])
            out += [f"map delete id {h} key {_key(i)}" for i in keys]
            present[h].clear()
        elif what < 6:
            flag = ""
            if mid != a and rng.random() < 0.3:
                flag = " exist" if k in present[mid] else " noexist"
            out.append(upd(mid, k, f"{k} {len(out) % 256} 0 9", flag))
        elif what == 6 and mid != a and k in present[mid]:
            present[mid].discard(k)
            out.append(f"map delete id {mid} key {_key(k)}")
        elif what == 7 and k in present[mid]:
            out.append(f"map {rng.choice(['lookup', 'peek'])} id {mid} key {_key(k)}")
        elif what == 8 and mid == a:
            out.append(
                f"map getnext id {a}" + (f" key {_key(k % 7)}" if rng.random() < 0.7 else "")
            )
        elif what == 9 and queued < 6:
            queued += 1
            out.append(f"map {rng.choice(['push', 'enqueue'])} id {q} value {k} 0 0 1")
        elif what == 10 and queued:
            word = rng.choice(["pop", "dequeue", "peek"])
            queued -= word != "peek"
            out.append(f"map {word} id {q}")
        elif what == 11:
            out.append(rng.choice(["", "# comment", f"map show id {h}"]))
        elif what == 12:
            present[h].add(10)  # the reference parses these two
            out.append(rng.choice([f"map update id {h} key hex 0a 00 00 00 value 1 2 3 4",
                                   f"map update id {h} key '10' 0 0 0 value 1 2 3 4"]))  # fmt: skip
        elif what == 13 and rng.random() < 0.03:
            out.append(f"map update id {h} key 1 2 value 1 2 3 4")  # a syntax error
        elif what == 14 and rng.random() < 0.03:  # a kernel failure
            out.append(f"map lookup id {h} key {_key(13)}")
    return out


def _run(be, data, **kw):
    out, err = io.StringIO(), io.StringIO()
    r = Runner(be, stdout=out, stderr=err, progress=False, **kw)
    status = r.run_data(data, "modes.txt")
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, 2**32),
    st.integers(1, 160),
    st.sampled_from(["checked", "two-pass", "incremental"]),
    st.booleans(),
)
def test_scanner_plan_runs_like_reference_plan(mmaps, seed, n, mode, json):
    """Same status, stdout, stderr and final map contents with the scanner on
    (``fast=True``) and off (the reference parses every line), in each mode."""
    data = ("\n".join(_lines(random.Random(seed), mmaps.ids, n)) + "\n").encode()
    old = runner_mod.CHUNKED_MIN, runner_mod.CHUNKED_BLOCK
    if mode == "two-pass":
        runner_mod.CHUNKED_MIN, runner_mod.CHUNKED_BLOCK = 1, 7
    try:
        got = []
        for fast in (True, False):
            res = _run(mmaps.be, data, fast=fast, compat=mode == "incremental", json=json)
            got.append((res, mmaps.state()))
    finally:
        runner_mod.CHUNKED_MIN, runner_mod.CHUNKED_BLOCK = old
    assert got[0] == got[1]
    assert "Traceback" not in got[0][0][2]


def _recorded(monkeypatch, be, data, progress):
    """(what was executed, status, stdout, stderr) of one run."""
    log = []
    upd, dele = engine.update_packed, engine.delete_packed

    def update_packed(target, keys, values, *, flags=0, parallel=True, **kw):
        log.append(("engine-update", len(values), flags, parallel))
        return upd(target, keys, values, flags=flags, parallel=parallel, **kw)

    def delete_packed(target, keys, **kw):
        log.append(("engine-delete", len(keys)))
        return dele(target, keys, **kw)

    ops = execute.BlockExecutor._exec_ops

    def exec_ops(self, blk, a, b):
        log.append(("loop", blk.first_index + a, blk.first_index + b))
        return ops(self, blk, a, b)

    clock = iter(range(10**9))
    monkeypatch.setattr(engine, "update_packed", update_packed)
    monkeypatch.setattr(engine, "delete_packed", delete_packed)
    monkeypatch.setattr(execute.BlockExecutor, "_exec_ops", exec_ops)
    monkeypatch.setattr(reporting.time, "monotonic", lambda: float(next(clock)))
    out, err = io.StringIO(), io.StringIO()
    status = Runner(be, stdout=out, stderr=err, progress=progress).run_data(data, "p.txt")
    monkeypatch.undo()
    return log, status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("fail", [False, True])
def test_progress_never_changes_execution(mmaps, monkeypatch, fail):
    """With the progress line drawn after every engine or loop call, the same engine
    calls (each run whole, same parallel flag) and loop slices run, and the output
    and final contents are those of a run without progress."""
    h, a, pc, q = mmaps.ids
    lines = [f"map update id {h} key {_key(i)} value {i} 0 0 0" for i in range(12)]
    lines += [f"map lookup id {h} key {_key(3)}", f"map show id {h}"]
    lines += [f"map update id {a} key {_key(i % 8)} value {i} 1 1 1" for i in range(40)]
    lines += [f"map push id {q} value 1 2 3 4", f"map pop id {q}"]
    lines += [f"map delete id {h} key {_key(i)}" for i in range(12)]
    lines += [f"map update id {pc} key {_key(i)} value {i} 2 2 2 noexist" for i in range(12)]
    lines += [f"map update id {h} key {_key(i)} value 5 5 5 5" for i in range(12)]
    if fail:
        lines.append(f"map update id {h} key {_key(1)} value 1 1 1 1 noexist")
    data = ("\n".join(lines) + "\n").encode()
    runs = []
    for progress in (False, True):
        log, status, out, err = _recorded(monkeypatch, mmaps.be, data, progress)
        runs.append((log, status, out, err, mmaps.state()))
    (log0, st0, out0, err0, s0), (log1, st1, out1, err1, s1) = runs
    assert log1 == log0 and (st1, out1, s1) == (st0, out0, s0)
    assert any(e[0] == "engine-update" for e in log0) and any(e[0] == "loop" for e in log0)
    assert st0 == (239 if fail else 0)
    assert "commands applied" in err1 and "commands applied" not in err0  # it was drawn
    # the progress line is wiped before the report: the report itself is the same
    assert err1.rsplit("\033[K", 1)[-1] == err0

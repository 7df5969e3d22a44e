"""SIGINT/SIGTERM during ``bpfmaps -j batch file`` and ``bpfmaps --bpftool-compat batch
file`` (plain and JSON): real kernel maps, real signals sent to a real process.  The
report must be true: exit status 128 + signal, and the map contents equal what the
report says was applied.

* JSON: stdout is one JSON array, bpftool's shape; every command the report lists with
  a non-error output was applied, in that order, and nothing else: replaying those
  updates on empty maps gives the map contents exactly.  The last item is the stopped
  command, ``{"error": "interrupted by SIGxxx"}``, and it was not applied.  (After a
  parallel apply the commands it applied beyond the stopped one are listed before the
  error item: the array is in the order things were done, not in file order.)
* ``--bpftool-compat`` parses and executes incrementally: the signal lands while
  applying (the plain report of test_signals) or while parsing the next command
  ("...while parsing F; N earlier command(s) were applied").
"""

from __future__ import annotations

import json
import re
import signal

import pytest
from test_signals import Maps, N, expected, interrupt, make_file, plain_report

pytestmark = pytest.mark.kernel

SHAPES = [
    ("parallel", signal.SIGINT),
    ("serial", signal.SIGTERM),
    ("ops", signal.SIGTERM),
    ("commands", signal.SIGINT),
]  # fmt: skip


def _replay(items: list, maps: Maps) -> tuple[set, set]:
    """(map contents the listed updates make, the lines of the listed commands)."""
    state: dict = {}
    lines = set()
    for it in items:
        words = it["command"]
        assert words[:3] in (["map", "update", "id"], ["map", "lookup", "id"]), words
        m = maps.ids.index(int(words[3]))
        key = int.from_bytes(bytes(int(x, 16) for x in words[6:10]), "little")
        if words[1] == "update":
            value = int.from_bytes(bytes(int(x, 16) for x in words[12:20]), "little")
            assert it["output"] is None, it
            state[(m, key)] = value
            lines.add(value + 1)  # make_file: line i + 1 writes the value i
        else:  # a lookup of the "commands" shape: the value the model has now
            out = it["output"]
            got = int.from_bytes(bytes(int(x, 16) for x in out["value"]), "little")
            assert state.get((m, key)) == got, (it, state.get((m, key)))
    return {(m, k, v) for (m, k), v in state.items()}, lines


def _check_json(status: int, out: str, err: str, sig: int, rows, maps: Maps) -> int:
    """Check a JSON report against the maps; returns the number of updates applied."""
    assert status == 128 + sig, (status, err)
    items = json.loads(out)
    assert isinstance(items, list) and items, out[:200]
    *done, last = items
    name = signal.Signals(sig).name
    assert all("error" not in (it.get("output") or {}) for it in done)
    state, lines = _replay(done, maps)
    assert maps.contents() == state
    if "command" in last:  # stopped before this command
        assert last["output"] == {"error": f"interrupted by {name}"}, last
        stopped = int.from_bytes(bytes(int(x, 16) for x in last["command"][12:20]), "little") + 1
    else:  # --bpftool-compat, between two commands of the incremental parse
        m = re.fullmatch(
            rf"interrupted by {name} while parsing .*f; (\d+) earlier command\(s\) were applied",
            last["error"],
        )
        assert m, last
        assert int(m.group(1)) == len(done)
        stopped = len(done) + 1
    assert stopped not in lines  # the stopped command was not applied
    assert set(range(1, stopped)) - lines <= {
        i + 1 for i, r in enumerate(rows) if r is None
    }  # every update before it was
    assert 0 < len(lines) < N
    return len(lines)


@pytest.mark.parametrize(("shape", "sig"), SHAPES)
def test_json_batch_report_is_true(kernel_backend, tmp_path, shape, sig):
    maps = Maps(kernel_backend)
    try:
        rows = make_file(tmp_path / "f", maps, shape)
        status, out, err = interrupt(maps, rows, tmp_path / "f", sig, "-j")
        if status == 0:  # pragma: no cover - it finished before the signal arrived
            assert maps.contents() == expected(rows, N, [])
            pytest.skip("the run finished before the signal arrived")
        _check_json(status, out, err, sig, rows, maps)
        assert err == ""  # JSON mode: the report is on stdout only
    finally:
        maps.close()


def _check_compat_plain(status: int, err: str, sig: int, rows, maps: Maps) -> int:
    assert status == 128 + sig, (status, err)
    name = signal.Signals(sig).name
    m = re.match(
        rf"Error: interrupted by {name} while parsing .*f; (\d+) earlier command\(s\) were applied\n$",
        err,
    )
    if m:  # between two commands, in the incremental parse
        n = int(m.group(1))
        also: list[tuple[int, int]] = []
    else:
        line, n, also = plain_report(err, sig)
        assert line == n + 1
    assert maps.contents() == expected(rows, n, also)
    assert 0 < n < N
    return n


@pytest.mark.parametrize(("shape", "sig"), SHAPES)
def test_bpftool_compat_report_is_true(kernel_backend, tmp_path, shape, sig):
    maps = Maps(kernel_backend)
    try:
        rows = make_file(tmp_path / "f", maps, shape)
        status, out, err = interrupt(maps, rows, tmp_path / "f", sig, "--bpftool-compat")
        if status == 0:  # pragma: no cover
            assert maps.contents() == expected(rows, N, [])
            pytest.skip("the run finished before the signal arrived")
        _check_compat_plain(status, err, sig, rows, maps)
    finally:
        maps.close()


@pytest.mark.parametrize(("shape", "sig"), SHAPES[1:3])
def test_bpftool_compat_json_report_is_true(kernel_backend, tmp_path, shape, sig):
    maps = Maps(kernel_backend)
    try:
        rows = make_file(tmp_path / "f", maps, shape)
        status, out, err = interrupt(maps, rows, tmp_path / "f", sig, "-j", "--bpftool-compat")
        if status == 0:  # pragma: no cover
            assert maps.contents() == expected(rows, N, [])
            pytest.skip("the run finished before the signal arrived")
        _check_json(status, out, err, sig, rows, maps)
        assert err == ""
    finally:
        maps.close()

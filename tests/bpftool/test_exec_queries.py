"""Queries of a batch file in the exec loop (``bpfm_exec_print``): a queue's or a
stack's pop (``BPF_MAP_LOOKUP_AND_DELETE_ELEM``) printed in C as a keyless lookup's
entry (plain, and in ``-j`` by the JSON writer's C items: ``"key": []``), and getnext in
``-j`` (``{"key": ..., "next_key": ...}`` by the C items, or by the JSON writer next to
a line the reference parsed), and lookups on per-CPU maps in ``-j`` (``"values"``);
only a query that fails is handed to the Python handler;
the output is bpftool's, byte for byte."""

from __future__ import annotations

import io
import subprocess

import pytest

from bpfmaps.bpftool.runner import Runner
from bpfmaps.kernel import KernelBackend

pytestmark = [pytest.mark.kernel, pytest.mark.bpftool]

KB = KernelBackend()
MODES = {"plain": [], "json": ["-j"], "pretty": ["-j", "-p"]}


def _both(bpftool_bin, path, mode: str, monkeypatch, handler: str) -> tuple:
    """(bpfmaps' (status, stdout), bpftool's, the commands that reached the Python
    handler ``handler`` of bpftool.commands.Commands) of the batch file ``path``."""
    from bpfmaps.bpftool.commands import Commands

    reached: list = []
    real = getattr(Commands, handler)
    monkeypatch.setattr(Commands, handler, lambda self, c: reached.append(c) or real(self, c))
    want = subprocess.run(
        [bpftool_bin, *MODES[mode], "batch", "file", str(path)], capture_output=True, text=True
    )
    out, err = io.StringIO(), io.StringIO()
    r = Runner(stdout=out, stderr=err, json="-j" in MODES[mode], pretty="-p" in MODES[mode])
    rc = r.run_file(str(path))
    return (rc, out.getvalue()), (want.returncode, want.stdout), reached


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("map_type", [22, 23], ids=["queue", "stack"])
def test_pops_print_in_c_as_bpftool(bpftool_bin, tmp_path, monkeypatch, mode, map_type):
    fd = KB.map_create(map_type, 0, 6, 64, 0, b"qp_test")
    assert fd >= 0
    try:
        mid = KB.map_info(fd)[1].id
        lines = []
        for i in range(30):  # pushes and pops interleaved, then the map emptied, then one more
            lines.append(
                f"map push id {mid} value {' '.join(str((i * 5 + j) & 0xFF) for j in range(6))}"
            )
            if i % 3 == 2:
                lines += [
                    f"map pop id {mid}",
                    f"map dequeue id {mid}" if map_type == 22 else f"map pop id {mid}",
                ]
        lines += [f"map pop id {mid}"] * 11
        path = tmp_path / "f.txt"
        path.write_text("\n".join(lines) + "\n")
        got, want, reached = _both(bpftool_bin, path, mode, monkeypatch, "_do_pop")
    finally:
        KB.close(fd)
    assert got == want and want[0] != 0  # (the last pop: empty map)
    assert len(reached) == 1  # the pop that found nothing


@pytest.mark.parametrize("mode", ["json", "pretty"])
@pytest.mark.parametrize("quoted", [False, True], ids=["scanned", "with a reference line"])
def test_json_getnext_prints_in_c_as_bpftool(bpftool_bin, tmp_path, monkeypatch, mode, quoted):
    fd = KB.map_create(1, 4, 4, 64, 1 << 6, b"qp_next")  # (BPF_F_ZERO_SEED: one order)
    assert fd >= 0
    try:
        mid = KB.map_info(fd)[1].id
        lines = [f"map update id {mid} key {i} 0 0 0 value {i} 1 2 3" for i in range(20)]
        lines += [f"map getnext id {mid}"] + [
            f"map getnext id {mid} key {i} 0 0 0" for i in range(20)
        ]
        if quoted:  # a line the scanner declines: the reference parses it
            lines.insert(25, f'map getnext id "{mid}" key 3 0 0 0')
        path = tmp_path / "f.txt"
        path.write_text("\n".join(lines) + "\n")
        got, want, reached = _both(bpftool_bin, path, mode, monkeypatch, "_do_getnext")
    finally:
        KB.close(fd)
    assert got == want and want[0] != 0  # (the last key in the map's order has no next)
    assert len(reached) == 1  # that getnext (the reference's line is an op of the block too)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("map_type", [5, 6], ids=["percpu_hash", "percpu_array"])
def test_per_cpu_lookups_print_in_c_as_bpftool(bpftool_bin, tmp_path, monkeypatch, mode, map_type):
    """Updates and lookups on a per-CPU map (every mode): the lookups printed in C (-j:
    "values" by the JSON writer's C items), only the one that finds nothing reaching
    the Python handler."""
    ks = 8 if map_type == 5 else 4
    fd = KB.map_create(map_type, ks, 12, 64, 0, b"qp_pcpu")
    assert fd >= 0
    try:
        mid = KB.map_info(fd)[1].id
        lines = []
        for i in range(40):
            k = " ".join(str(b) for b in i.to_bytes(ks, "little"))
            v = " ".join(str((i * 7 + j) & 0xFF) for j in range(12))
            lines += [f"map update id {mid} key {k} value {v}", f"map lookup id {mid} key {k}"]
        missing = " ".join(["7"] * ks) if map_type == 5 else "99 0 0 0"
        lines.append(f"map lookup id {mid} key {missing}")
        path = tmp_path / "f.txt"
        path.write_text("\n".join(lines) + "\n")
        got, want, reached = _both(bpftool_bin, path, mode, monkeypatch, "_do_lookup")
    finally:
        KB.close(fd)
    assert got == want and want[0] != 0 and len(reached) == 1

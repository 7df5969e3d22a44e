"""Lookups and getnext on per-CPU maps printed by the C exec loop (``fmt_entry_percpu``:
one ``value (CPU NN):`` line or row block a CPU): stdout is bpftool's byte for byte and
the reference executor's (every lookup through Python), for per-CPU hash and array maps
with values of one line and of several rows; JSON mode keeps them in Python."""

from __future__ import annotations

import io
import subprocess

import pytest

from bpfmaps.bpftool.runner import Runner
from bpfmaps.kernel import KernelBackend
from bpfmaps.types import possible_cpus

pytestmark = pytest.mark.kernel

KB = KernelBackend()


def _file(mid: int, ks: int, vs: int, n: int) -> str:
    lines = []
    for i in range(n):
        k = " ".join(f"{b:02x}" for b in i.to_bytes(ks, "little"))
        v = " ".join(f"{(i * 7 + j) & 0xFF:02x}" for j in range(vs))
        lines.append(f"map update id {mid} key hex {k} value hex {v}")
        lines.append(f"map lookup id {mid} key hex {k}")
        if i % 50 == 49:
            lines.append(f"map getnext id {mid} key hex {k}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("opts", [[], ["-j"]])
@pytest.mark.parametrize("shape", [(5, 8, 4), (5, 8, 24), (6, 4, 40), (6, 4, 3)])
def test_percpu_lookups_print_as_bpftool(tmp_path, bpftool_bin, shape, opts):
    """Each run on a fresh map (hash maps with BPF_F_ZERO_SEED: the same order for
    getnext; an update of an existing key would move it in its bucket)."""
    t, ks, vs = shape
    n = 300 if t == 5 else 64
    outs = []
    for tool in ("bpftool", "fast", "reference"):
        fd = KB.map_create(t, ks, vs, n, (1 << 6) if t == 5 else 0, b"pc_print")
        assert fd >= 0
        try:
            mid = KB.map_info(fd)[1].id
            path = tmp_path / f"{tool}.txt"
            path.write_text(_file(mid, ks, vs, n))
            if tool == "bpftool":
                r = subprocess.run(
                    [bpftool_bin, *opts, "batch", "file", str(path)], capture_output=True, text=True
                )
                rc, out, err = r.returncode, r.stdout, ""
            else:
                o, e = io.StringIO(), io.StringIO()
                runner = Runner(stdout=o, stderr=e, json=bool(opts), fast=tool == "fast")
                rc, out, err = runner.run_file(str(path)), o.getvalue(), e.getvalue()
            outs.append((rc, out.replace(f"id {mid} ", "id M ").replace(f'"{mid}"', '"M"'), err))
        finally:
            KB.close(fd)
    assert outs[0][0] == 0
    assert outs[1] == outs[2] == outs[0]
    if not opts:
        assert outs[0][1].count("value (CPU ") == n * possible_cpus()

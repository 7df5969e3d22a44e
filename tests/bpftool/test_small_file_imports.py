"""The import set of the small-file path (``bpfmaps batch file F`` of the user's
513-line file: 512 + 1 upserts on two maps, all taken by the C scanner): the modules
it loads are listed here, so a new eager import (the typed Map API, BTF, codecs, the
sync/ring-buffer machinery, heavy stdlib modules) fails this test instead of slowing
every small file down silently (issue 11 goal: at most 1.5x a bare ``python -c
pass``; see docs/performance.md).  Run in a fresh interpreter on the kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: every bpfmaps module the small-file path may load (and, by being listed, has to)
ALLOWED = frozenset(
    {
        "bpfmaps",
        "bpfmaps._cbuf",
        "bpfmaps._ffi",
        "bpfmaps._ffi.lib",
        "bpfmaps._host",
        "bpfmaps._kloops",
        "bpfmaps._kring",
        "bpfmaps._loopbase",
        "bpfmaps._version",
        "bpfmaps.backend",
        "bpfmaps.bpftool",
        "bpfmaps.bpftool._safety",
        "bpfmaps.bpftool.bytes",
        "bpfmaps.bpftool.commands",
        "bpfmaps.bpftool.execute",
        "bpfmaps.bpftool.grammar",
        "bpfmaps.bpftool.jsonbatch",
        "bpfmaps.bpftool.lexer",
        "bpfmaps.bpftool.output",
        "bpfmaps.bpftool.parse",
        "bpfmaps.bpftool.plan",
        "bpfmaps.bpftool.reporting",
        "bpfmaps.bpftool.resolve",
        "bpfmaps.bpftool.runner",
        "bpfmaps.bpftool.scan",
        "bpfmaps.bpftool.state",
        "bpfmaps.chunks",
        "bpfmaps.cli",
        "bpfmaps.dump",
        "bpfmaps.engine",
        "bpfmaps.errors",
        "bpfmaps.json_writer",
        "bpfmaps.kernel",
        "bpfmaps.loops",
        "bpfmaps.rollback",
        "bpfmaps.types",
    }
)

#: modules the path must never need (named so the failure says what came back)
FORBIDDEN = (
    "bpfmaps.maps", "bpfmaps.bulk", "bpfmaps.batching", "bpfmaps.codecs", "bpfmaps.sync",
    "bpfmaps.ringbuf", "bpfmaps.progs", "bpfmaps.memory", "bpfmaps.replace",
    "bpfmaps.bpftool.syncfile", "bpfmaps.btf", "bpfmaps.testing",
    "json", "dataclasses", "inspect", "ast", "subprocess", "tempfile", "decimal",
    "datetime", "concurrent.futures", "asyncio", "logging", "argparse", "importlib.metadata",
)  # fmt: skip

_CHILD = r"""
import json, sys
before = set(sys.modules)
from bpfmaps import cli
status = cli.main(["batch", "file", sys.argv[1]])
sys.stdout.flush()
new = sorted(set(sys.modules) - before)
sys.stderr.write("\n@@" + json.dumps({"status": status, "new": new}) + "\n")
"""


def _user_file(kernel_backend, path: str) -> list[int]:
    fds = [kernel_backend.map_create(1, 8, 32, 1024, 0, b"imp") for _ in range(2)]
    assert min(fds) >= 0
    mids = [kernel_backend.map_info(fd)[1].id for fd in fds]
    zeros = "00 " * 24
    with open(path, "w") as f:
        for i in range(513):
            mid = mids[0] if i < 512 else mids[1]
            k = " ".join(str(b) for b in i.to_bytes(8, "big"))
            f.write(f"map update id {mid} key {k} value 10 0 0 1 10 89 0 4 {zeros}\n")
    return fds


def test_small_file_import_set(kernel_backend, tmp_path):
    path = str(tmp_path / "user.txt")
    fds = _user_file(kernel_backend, path)
    try:
        env = dict(os.environ, PYTHONPATH=ROOT)
        p = subprocess.run(
            [sys.executable, "-c", _CHILD, path], capture_output=True, text=True, env=env, cwd=ROOT
        )
    finally:
        for fd in fds:
            kernel_backend.close(fd)
    report = json.loads(p.stderr.rsplit("\n@@", 1)[1])
    assert report["status"] == 0 and p.stdout == "processed 513 commands\n", p.stderr
    new = set(report["new"])
    ours = {m for m in new if m == "bpfmaps" or m.startswith("bpfmaps.")}
    assert not ours - ALLOWED, f"new eager imports on the small-file path: {sorted(ours - ALLOWED)}"
    assert not ALLOWED - ours, f"no longer imported (drop from ALLOWED): {sorted(ALLOWED - ours)}"
    bad = sorted(m for m in new if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"the small-file path imports {bad}"

"""The process entry (:func:`bpfmaps.cli.command`, behind ``python -m bpfmaps`` and the
installed ``scripts/bpfmaps``): it leaves with ``os._exit`` after flushing, so these
check that nothing is lost on the way out: every byte of stdout and stderr (to a pipe
and to a file, where stdout is block-buffered), the exit status, and the in-process
result of :func:`bpfmaps.cli.main` for the same words."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from _cli import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "bpfmaps")
ENTRIES = {
    "python -m bpfmaps": [sys.executable, "-m", "bpfmaps"],
    "scripts/bpfmaps": [sys.executable, SCRIPT],
}
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

#: words with output on stdout, on stderr, a failure status, and JSON
CASES = [
    ["version"],
    ["-jp", "version"],
    ["map", "help"],
    ["--no-such-option", "map"],
    ["-j", "--no-such-option"],
    ["map", "lookup", "id"],
    ["-jp", "map", "frobnicate"],
]


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_command_keeps_output_and_status(entry, argv):
    want = run_main(argv)
    p = subprocess.run([*ENTRIES[entry], *argv], capture_output=True, text=True, env=ENV)
    assert (p.returncode, p.stdout, p.stderr) == want
    assert want[1] or want[2]  # each case prints something that could be lost


@pytest.mark.kernel
@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.parametrize("json_", [[], ["-j"]], ids=["plain", "json"])
def test_command_flushes_a_redirected_stdout(kernel_backend, entry, json_, tmp_path):
    """stdout to a regular file is block-buffered: the flush before os._exit writes all
    of a dump far bigger than one buffer, and a batch file's report."""
    from bpfmaps import Map

    with Map.create("hash", 4, 8, 4096, backend=kernel_backend) as m:
        m.update_many([i.to_bytes(4, "little") for i in range(4096)], [bytes(8)] * 4096)
        batch = tmp_path / "batch.txt"
        batch.write_text(f"map update id {m.id} key 1 0 0 0 value 1 0 0 0 0 0 0 0\n")
        for argv in (
            [*json_, "map", "dump", "id", str(m.id)],
            [*json_, "batch", "file", str(batch)],
        ):
            want = run_main(argv)
            out = tmp_path / "out.txt"
            with open(out, "w") as f:
                p = subprocess.run(
                    [*ENTRIES[entry], *argv], stdout=f, stderr=subprocess.PIPE, env=ENV
                )
            assert (p.returncode, out.read_text(), p.stderr.decode()) == want
        assert len(want[1]) + len(want[2]) > 0 and m[(1).to_bytes(4, "little")] == bytes(
            [1] + [0] * 7
        )

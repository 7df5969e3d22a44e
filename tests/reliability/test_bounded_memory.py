"""Issue 11 part 3: the memory of a batch file run is bounded by a constant, not by the
file.  Two files over the two-pass threshold (runner.CHUNKED_MIN), one twice the
other, run on the real kernel: the peak RSS of the process (VmHWM) does not grow with
the file, in the checked (two-pass) mode and in the incremental --bpftool-compat mode,
plain and JSON.
(The 1M- and 10M-line numbers are measured by benchmarks/bench_batch_file.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

_HWM = """
import sys
from bpfmaps import cli
from bpfmaps.bpftool import scan
scan.BLOCK_MAX = int(sys.argv.pop(1))
rc = cli.main(sys.argv[1:])
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
sys.stderr.write(f"\\nHWM {rc} {hwm}\\n")
"""

KEYS = 4096


def _write(path, mid: int, lines: int) -> None:
    row = [f"map update id {mid} key hex {i & 255:02x} {i >> 8 & 15:02x} 00 00 00 00 00 00 "
           f"value hex {' '.join(['5a'] * 32)}\n" for i in range(KEYS)]  # fmt: skip
    chunk = "".join(row)
    with open(path, "w") as f:
        for _ in range(lines // KEYS):
            f.write(chunk)


def _peak_mib(path, *opts: str) -> tuple[int, float]:
    """(exit status, peak RSS in MiB) of ``bpfmaps OPTS batch file PATH``; the scanner's
    blocks are bounded at 2**16 ops, so that both files hold several of them."""
    r = subprocess.run(
        [sys.executable, "-c", _HWM, str(1 << 16), *opts, "batch", "file", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
    )  # fmt: skip
    tail = r.stderr.rsplit("HWM ", 1)
    assert len(tail) == 2, r.stderr[-2000:]
    rc, hwm = tail[1].split()
    return int(rc), int(hwm) / 1024


@pytest.mark.parametrize("opts", [(), ("--bpftool-compat",), ("-j",)])
def test_peak_rss_does_not_grow_with_the_file(kernel_backend, tmp_path, opts):
    from bpfmaps.bpftool import runner

    fd = kernel_backend.map_create(1, 8, 32, KEYS, 0, b"bounded")
    assert fd >= 0
    try:
        mid = kernel_backend.map_info(fd)[1].id
        small, big = tmp_path / "small", tmp_path / "big"
        per_line = 140  # bytes of one line above
        n = (runner.CHUNKED_MIN // per_line // KEYS + 2) * KEYS
        _write(small, mid, n)
        _write(big, mid, 2 * n)
        assert small.stat().st_size >= runner.CHUNKED_MIN
        rc1, p1 = _peak_mib(small, *opts)
        rc2, p2 = _peak_mib(big, *opts)
        assert (rc1, rc2) == (0, 0)
        size = small.stat().st_size / 2**20
        # twice the file (another ~70 MiB) costs at most a few MiB more
        assert p2 - p1 < 16, (p1, p2, size)
        assert p2 < 256, (p1, p2)
    finally:
        kernel_backend.close(fd)

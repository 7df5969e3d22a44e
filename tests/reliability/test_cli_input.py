"""Bounded input, closed stdin, closed stdout (issue 9, items 5 and 6): the CLI stops
with a clear error or report, never a traceback, never unbounded memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BPFMAPS = [sys.executable, "-m", "bpfmaps"]


def run(args, **kw):
    return subprocess.run(BPFMAPS + args, capture_output=True, text=True, timeout=120, **kw)


_HWM = """
import sys
from bpfmaps import cli
rc = cli.main(sys.argv[1:])
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
sys.stdout.write(f"{rc} {hwm}\\n")
"""


def _peak_kib(size: str) -> tuple[int, int, str]:
    # VmHWM of the interpreter after exec (ru_maxrss would include the forked parent)
    r = subprocess.run([sys.executable, "-c", _HWM, "--max-size", size, "batch", "file", "/dev/zero"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    rc, hwm = r.stdout.split()
    return int(rc), int(hwm), r.stderr


def test_dev_zero_is_capped_with_bounded_memory():
    rc, small, _ = _peak_kib("1M")
    assert rc == 255
    rc, big, err = _peak_kib("64M")
    assert rc == 255
    assert err == (
        "Error: /dev/zero: input is larger than --max-size (67108864 bytes); nothing was "
        "applied (raise the limit with --max-size BYTES)\n"
    )
    assert (big - small) * 1024 < 64 * 2**20 + 16 * 2**20  # the cap and one block more


def test_pipe_over_default_style_limit():
    p = subprocess.run(
        f"head -c 3000000 /dev/zero | {sys.executable} -m bpfmaps --max-size 2M batch file -",
        shell=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 255
    assert "Error: stdin: input is larger than --max-size (2097152 bytes)" in p.stderr


def test_regular_file_over_explicit_limit(tmp_path):
    f = tmp_path / "big"
    f.write_bytes(b"# comment\n" * 300_000)
    r = run(["--max-size", "1M", "batch", "file", str(f)])
    assert r.returncode == 255
    assert "input is larger than --max-size (1048576 bytes); nothing was applied" in r.stderr
    assert run(["batch", "file", str(f)]).returncode == 0  # no limit by default for files


def test_small_regular_file_against_a_smaller_and_an_exact_limit(tmp_path):
    # a file under a block is read in one call of its size + 1: the limit still holds
    f = tmp_path / "small"
    f.write_bytes(b"# comment\n" * 500)  # 5000 bytes, read (not mapped)
    r = run(["--max-size", "4999", "batch", "file", str(f)])
    assert r.returncode == 255
    assert "input is larger than --max-size (4999 bytes); nothing was applied" in r.stderr
    assert run(["--max-size", "5000", "batch", "file", str(f)]).returncode == 0


@pytest.mark.parametrize("kind", ["regular", "pipe", "bytesio", "growing"])
def test_read_capped_reads_every_byte(tmp_path, kind):
    import io

    from bpfmaps.bpftool._safety import InputTooLarge, read_capped

    data = os.urandom(70_000)
    if kind == "bytesio":
        assert read_capped(io.BytesIO(data), 1 << 20) == data
        return
    if kind == "pipe":
        r, w = os.pipe()
        with os.fdopen(w, "wb") as wf, os.fdopen(r, "rb") as rf:
            wf.write(data[:60_000])  # (within the pipe's buffer)
            wf.close()
            assert read_capped(rf, 1 << 20) == data[:60_000]
        return
    p = tmp_path / "f"
    p.write_bytes(data)
    with open(p, "rb") as rf:
        if kind == "growing":  # bytes appended after the size was taken are read too

            class Grows:
                grew = False

                def fileno(self):
                    return rf.fileno()

                def read(self, n):
                    if not self.grew:
                        self.grew = True
                        with open(p, "ab") as af:
                            af.write(b"tail")
                    return rf.read(n)

            assert read_capped(Grows(), 1 << 20) == data + b"tail"
            rf.seek(0)
            with pytest.raises(InputTooLarge):
                read_capped(rf, len(data) + 3)
        else:
            assert read_capped(rf, 1 << 20) == data
            rf.seek(0)
            assert read_capped(rf, len(data)) == data
            rf.seek(0)
            with pytest.raises(InputTooLarge):
                read_capped(rf, len(data) - 1)


def test_bad_max_size_value():
    r = run(["--max-size", "lots", "batch", "file", "-"])
    assert r.returncode == 255 and "--max-size needs a size" in r.stderr


def test_closed_stdin():
    r = run(["batch", "file", "-"], preexec_fn=lambda: os.close(0))
    assert (r.returncode, r.stderr) == (255, "Error: cannot read stdin\n")


@pytest.mark.kernel
def test_closed_stdout_stops_with_report(kernel_backend, tmp_path):
    kb = kernel_backend
    fd = kb.map_create(1, 4, 8, 4, 0, b"bp")
    try:
        mid = kb.map_info(fd)[1].id
        assert kb.map_update_elem(fd, bytes(4), bytes(8), 0) == 0
        f = tmp_path / "f"
        n = 200_000
        f.write_text(f"map lookup id {mid} key hex 00 00 00 00\n" * n)
        p = subprocess.run(
            f"{sys.executable} -m bpfmaps batch file {f} | head -1; exit ${{PIPESTATUS[0]}}",
            shell=True, capture_output=True, text=True, timeout=120, executable="/bin/bash",
        )  # fmt: skip
        assert p.returncode == 141, p.stderr
        assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
        lines = p.stderr.splitlines()
        assert lines[0].startswith(f"Error: {f}:") and lines[0].endswith(
            ": standard output closed (broken pipe)"
        ), p.stderr
        line = int(lines[0][len(f"Error: {f}:") :].split(":")[0])
        assert lines[2] == (
            f"  {line - 1} command(s) before it were applied; it and the commands after it were not"
        )
        assert 1 < line < n
    finally:
        kb.close(fd)


@pytest.mark.kernel
def test_closed_stdout_after_last_command(kernel_backend, tmp_path):
    f = tmp_path / "f"
    f.write_text("\n")
    # stdout is a pipe whose reader is gone before the final "processed" line
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run(BPFMAPS + ["batch", "file", str(f)], stdout=w, stderr=subprocess.PIPE,
                           text=True, timeout=60)  # fmt: skip
    finally:
        os.close(w)
    assert p.returncode == 141
    assert p.stderr == (
        "Error: standard output closed (broken pipe); all 0 commands were applied, some of "
        "their output was lost\n"
    )

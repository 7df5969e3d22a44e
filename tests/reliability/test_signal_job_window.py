"""A stop signal delivered INSIDE the window of a C thread job, not just "some time
during the run": the two-thread scan (``Scanner._scan_pair``) starts a C job that
scans the second half of the file while this thread scans the first, and joins it in
``bpfm_scan_finish``.  A Python handler that raised in between (before 2da0ac7: right
after ``bpfm_scan_start`` returned, or at the ``finally`` before the join) left the
job scanning the file's mapping, which the runner then unmaps: a true report, then
SIGSEGV.  :class:`bpfmaps.bpftool._safety.HoldStopSignals` holds the signals for the
job's lifetime.

The window is forced in a child process running the real CLI on the real kernel: the
scanner's ``lib`` is wrapped (the C functions are the real ones) so that SIGINT or
SIGTERM is sent to the main thread (``pthread_kill``, which runs the Python handlers
before it returns) right after the job started, or right before it is joined.  The
child counts jobs started and jobs joined; the test asserts the run reports "nothing
was applied" truthfully (the map stays empty), exits 130/143, never dies of a signal,
and that every job started was joined."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

N = 200_000

CHILD = r"""
import signal, sys, threading
from bpfmaps import cli
from bpfmaps.bpftool import scan

where, sig, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ffi, lib = scan.extension()
jobs = {"started": 0, "joined": 0}
scan._free_cpus = lambda: 2  # the two-thread scan however busy the machine is right now


class Lib:
    # the real compiled functions, and a stop signal inside the job's window
    def __getattr__(self, name):
        return getattr(lib, name)

    def bpfm_scan_start(self, t):
        job = lib.bpfm_scan_start(t)
        if job != ffi.NULL:
            jobs["started"] += 1
            if where == "after-start":
                signal.pthread_kill(threading.get_ident(), sig)
        return job

    def bpfm_scan_finish(self, job, s, merge):
        if where == "before-join":
            signal.pthread_kill(threading.get_ident(), sig)
        rc = lib.bpfm_scan_finish(job, s, merge)
        jobs["joined"] += 1
        return rc


scan._EXT = (ffi, Lib())
rc = cli.main(["batch", "file", path])
sys.stderr.write("jobs: started %(started)d joined %(joined)d\n" % jobs)
sys.stderr.flush()
sys.exit(rc)
"""


def _hx(i: int, n: int) -> str:
    return " ".join(f"{c:02x}" for c in i.to_bytes(n, "little"))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    from bpfmaps.kernel import KernelBackend

    kb = KernelBackend()
    fd = kb.map_create(1, 4, 8, N + 16, 0, b"holdwin")
    assert fd >= 0
    mid = kb.map_info(fd)[1].id
    path = tmp_path_factory.mktemp("holdwin") / "f"
    with open(path, "w") as f:
        for i in range(N):
            f.write(f"map update id {mid} key hex {_hx(i, 4)} value hex {_hx(i, 8)}\n")
    yield kb, fd, path
    kb.close(fd)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the two-thread scan needs 2 CPUs")
@pytest.mark.parametrize(
    ("where", "sig"),
    [
        ("after-start", signal.SIGTERM),
        ("after-start", signal.SIGINT),
        ("before-join", signal.SIGINT),
        ("before-join", signal.SIGTERM),
    ],
)
def test_stop_signal_inside_the_scan_job_window(big_file, where, sig):
    from bpfmaps.bpftool import runner, scan

    kb, fd, path = big_file
    size = path.stat().st_size
    assert scan.PAR_MIN < size < runner.CHUNKED_MIN  # one pass, the rest scanned in two threads
    p = subprocess.run(
        [sys.executable, "-c", CHILD, where, str(int(sig)), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = p.stderr
    assert p.returncode >= 0, f"died of {signal.Signals(-p.returncode).name}: {err}"
    assert p.returncode == 128 + sig, err
    name = signal.Signals(sig).name
    assert f"interrupted by {name} while parsing" in err and "nothing was applied" in err, err
    counts = err.rstrip("\n").rsplit("\n", 1)[-1].split()
    assert counts[0] == "jobs:", err
    started, joined = int(counts[2]), int(counts[4])
    assert started >= 1, err  # the window was entered
    assert joined == started, err  # and no job was left running
    assert kb.map_get_next_key(fd, kb.NULL, kb.alloc(4)) != 0  # nothing applied, as reported

"""bpfmaps._cpus: the free-CPU count the parallel paths ask before a second thread."""

from __future__ import annotations

import os

import pytest

from bpfmaps import _cpus


def test_usable_is_the_affinity_mask():
    assert _cpus.usable() == len(os.sched_getaffinity(0))


def test_running_tasks_counts_this_one():
    # this process is running while it reads the file, so the field is never below 1;
    # and it is the file's own figure (not a default)
    n = _cpus.running_tasks()
    with open("/proc/loadavg") as f:
        total = int(f.read().split()[3].split("/")[1])
    assert 1 <= n <= total


@pytest.mark.parametrize(
    "usable, running, most, free",
    [
        (2, 1, 2, 2),  # idle: both
        (2, 2, 2, 1),  # one other task running: one core left
        (2, 5, 2, 1),  # never below one
        (4, 2, 4, 3),
        (4, 1, 2, 2),  # at most ``most``
        (1, 1, 2, 1),  # one CPU: no second thread, /proc not read
    ],
)
def test_free_leaves_busy_cpus_alone(monkeypatch, usable, running, most, free):
    reads = []
    monkeypatch.setattr(_cpus, "usable", lambda: usable)
    monkeypatch.setattr(_cpus, "running_tasks", lambda: reads.append(1) or running)
    assert _cpus.free(most) == free
    assert bool(reads) == (min(usable, most) >= 2)

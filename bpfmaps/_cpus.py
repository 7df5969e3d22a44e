"""CPUs this process may run on, and how many of them the tasks running right now
leave free: what the parallel paths (the two-thread scan, the parallel apply) ask
before they take a second thread.

A second thread pays only on a free CPU: with one of two cores busy (another process
spinning), the two-thread scan of a 200k-line file took 1.03-1.06x the serial scan's
whole-process time, where on an idle machine it takes 0.91-0.97x (benchmarks/
bench_batch_file.py shapes random and increasing, docs/performance.md).

Pure Python (os only); each answer is one small read of /proc/loadavg (~10 us) or,
for :func:`usable`, one sched_getaffinity, cached.
"""

from __future__ import annotations

import os

__all__ = ["free", "running_tasks", "usable"]

_USABLE = 0


def usable() -> int:
    """CPUs this process may run on (its affinity mask; cached for the process).  Cost:
    one sched_getaffinity the first time.  No errors (1 at worst)."""
    global _USABLE
    if _USABLE == 0:
        try:
            _USABLE = max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            _USABLE = os.cpu_count() or 1
    return _USABLE


def running_tasks() -> int:
    """Tasks running or runnable on the host right now, this one included
    (/proc/loadavg's fourth field); 1 when it cannot be read.  Cost: one small file
    read (~10 us).  No errors."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return max(1, int(f.read().split()[3].split(b"/")[0]))
    except (OSError, ValueError, IndexError):  # pragma: no cover - no procfs
        return 1


def free(most: int) -> int:
    """Threads worth running now, at most ``most``: the usable CPUs less those the
    other running tasks occupy, at least 1 (this thread).  Cost: :func:`usable` and,
    when more than one thread is possible, :func:`running_tasks`.  No errors."""
    k = min(most, usable())
    if k < 2:
        return max(k, 1)
    return max(1, min(k, usable() - (running_tasks() - 1)))

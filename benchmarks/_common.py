"""Shared helpers for the benchmarks: medians of repeated runs, building the C anchors."""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import tempfile
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(
    run: Callable[[], None],
    repeats: int,
    setup: Callable[[], None] | None = None,
    settle: float = 0.3,
) -> float:
    """Median wall time of ``run()`` over ``repeats`` runs (``setup()`` untimed before each,
    then ``settle`` seconds of pause, as in the C anchors).
    The GC is disabled while timing, as the C anchors have none."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        time.sleep(settle)  # freeing a big map runs in the kernel's background
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return statistics.median(times)


def build_anchor(name: str) -> str:
    """Compile ``benchmarks/<name>.c`` with gcc -O2 into a temporary directory."""
    out = os.path.join(tempfile.mkdtemp(prefix="bpfmaps-bench-"), name)
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(HERE, name + ".c")], check=True)
    return out


def run_anchor(exe: str, *args: object) -> dict[str, float]:
    """Run a C anchor; it prints ``name seconds`` lines."""
    out = subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        name, val = line.split()
        res[name] = float(val)
    return res

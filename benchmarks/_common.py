"""Shared helpers for the benchmarks: timing one run with the GC off, medians of repeated
or interleaved runs, building and running the C anchors."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
#: the checkout: importing this module puts it first on sys.path, so a benchmark run as
#: ``python benchmarks/bench_x.py`` measures this checkout's bpfmaps
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def arguments(doc: str | None, n: int, rounds: int) -> argparse.ArgumentParser:
    """The usual command line: ``--n`` (entries) and ``--rounds`` (interleaved rounds,
    medians reported); a benchmark adds its own options to it."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--rounds", type=int, default=rounds)
    return ap


def timed(run: Callable[[], object]) -> float:
    """Wall time of one ``run()``, after a full collection and with the GC disabled
    while it runs (the C anchors have none)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        run()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def rotated(names: Sequence[str], r: int) -> list[str]:
    """The order of round ``r`` of interleaved runs: ``names`` rotated by ``r``, so each
    variant runs first, second, ... equally often."""
    k = r % len(names)
    return [*names[k:], *names[:k]]


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """The median of each variant's times."""
    return {k: statistics.median(v) for k, v in times.items()}


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
        times.append(timed(run))
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

"""The batch-file scanner alone: ``parse_batch`` of the ``populated`` file of
bench_batch_file.py (N upserts in the user's format, one hash map of key 8, value 32),
scanned serially and in two threads, rounds interleaved, min and median; and where the
two-thread scan cut the file (the job's start, as a fraction of the file's bytes: 0.5
is a balanced cut).  No kernel needed (the map is described, not created); the arenas
are a fresh process's (each measurement runs in a child of its own: in one process,
freed buffers come back already faulted in and the serial scan would look cheaper).

    python benchmarks/bench_scan.py [N] [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_batch_file import make_file  # noqa: E402

from bpfmaps.bpftool import scan  # noqa: E402
from bpfmaps.bpftool.parse import parse_batch  # noqa: E402
from bpfmaps.types import MapInfo, MapType  # noqa: E402


def one(n: int, mode: str) -> None:
    """Child: one parse_batch of the file in ``mode``; prints ms and the job's start."""
    info = MapInfo.make(MapType.HASH, id=1, key_size=8, value_size=32, max_entries=n)
    data = make_file("populated", n, 1, 2).encode()
    ffi, lib = scan.extension()
    starts: list[int] = []

    class Spy:  # records where each job starts
        def __getattr__(self, name: str) -> object:
            if name != "bpfm_scan_start":
                return getattr(lib, name)

            def start(t: object) -> object:
                starts.append(t.pos)  # type: ignore[attr-defined]
                return lib.bpfm_scan_start(t)

            return start

    scan._EXT = (ffi, Spy())
    if mode == "serial":
        scan.PAR_MIN = 1 << 62
    t0 = time.perf_counter()
    items = list(parse_batch(data, lambda h: info))
    dt = time.perf_counter() - t0
    assert sum(b.count for b in items) == n  # type: ignore[union-attr]
    print(dt * 1e3, starts[0] / len(data) if starts else -1.0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    if not scan.available():
        sys.exit("the compiled extension is not built (python build_ffi.py)")
    times: dict[str, list[float]] = {"serial": [], "two threads": []}
    cut = -1.0
    for r in range(rounds):
        for mode in ("serial", "two threads") if r % 2 == 0 else ("two threads", "serial"):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), mode],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            times[mode].append(float(out[0]) / 1e3)
            if mode != "serial":
                cut = float(out[1])
    for mode, ts in times.items():
        print(
            f"{mode:12s} {n} lines  min {min(ts) * 1e3:7.2f} ms  "
            f"median {statistics.median(ts) * 1e3:7.2f} ms  (rounds {rounds})"
        )
    if cut >= 0:
        print(f"two-thread cut: the job starts at {cut:.3f} of the file")
    else:
        print("two-thread cut: no job started (one CPU, or a file below PAR_MIN)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(int(sys.argv[2]), sys.argv[3])
    else:
        main()

"""Reading every value of a 1M-entry BPF_F_MMAPABLE array: m.memory() vs LOOKUP_BATCH.

    python benchmarks/bench_mmap.py [--n 1000000] [--rounds 7]

Array, value 8 B (u64), max_entries = n, every slot written.  Each round (interleaved,
medians reported) times:

* ``memory numpy``: ``np.frombuffer(m.memory(), np.uint64).copy()`` (a memcpy of the
  pages, no syscall);
* ``memory tolist``: ``m.memory().cast("Q").tolist()`` (Python ints, no syscall);
* ``lookup_batch raw``: one full LOOKUP_BATCH read into packed buffers
  (``bpfmaps.sync.read_packed``);
* ``values() U64``: ``list(m.values())`` with the U64 codec (LOOKUP_BATCH chunks plus
  one Python int per value).
The view is created once before timing (the one mmap call is not counted).
Needs root (bpf(2)) and numpy.
"""

from __future__ import annotations

import array
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import arguments, medians, rotated, timed  # noqa: E402

from bpfmaps import Map, MapFlags  # noqa: E402
from bpfmaps.codecs import U32, U64  # noqa: E402
from bpfmaps.sync import read_packed  # noqa: E402


def main() -> int:
    ap = arguments(__doc__, n=1_000_000, rounds=7)
    a = ap.parse_args()
    n = a.n
    with Map.create("array", 4, 8, n, flags=MapFlags.MMAPABLE, key=U32, value=U64) as m:
        m.raw.update_many(array.array("I", range(n)), array.array("Q", range(n)))
        mv = m.memory()
        runs = {
            "memory numpy": lambda: np.frombuffer(mv, np.uint64).copy(),
            "memory tolist": lambda: mv.cast("Q").tolist(),
            "lookup_batch raw": lambda: read_packed(m),
            "values() U64": lambda: list(m.values()),
        }
        assert np.frombuffer(mv, np.uint64)[n - 1] == n - 1
        times: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(a.rounds):
            for name in rotated(list(runs), r):
                times[name].append(timed(runs[name]))
        mv.release()
    med = medians(times)
    base = med["lookup_batch raw"]
    print(f"n={n}, rounds={a.rounds} (medians)")
    for k, v in med.items():
        print(f"  {k:18s} {v * 1e3:8.2f} ms   {base / v:7.1f}x faster than LOOKUP_BATCH raw")
    return 0


if __name__ == "__main__":
    sys.exit(main())

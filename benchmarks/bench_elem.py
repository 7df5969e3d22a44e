"""Element operations: ``m[k] = v`` in a Python loop vs the bare cffi call.

    python benchmarks/bench_elem.py [--n 200000] [--repeats 7]

Hash map, key 8 B, value 32 B, ``n`` keys (bytes).  Both loops write the same keys
into a fresh map each repeat; the ratio is Map.__setitem__ over
``bpfmaps._ffi.lib.bpfm_map_update_elem(fd, k, v, 0)`` (target <= 1.25), medians
measured in the same run.  Needs root.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_time  # noqa: E402

from bpfmaps import Map  # noqa: E402
from bpfmaps._ffi import lib  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    n = args.n
    keys = [i.to_bytes(8, sys.byteorder) for i in range(n)]
    v = bytes(range(32))
    state: dict = {}

    def fresh() -> None:
        if "m" in state:
            state["m"].close()
        state["m"] = Map.create("hash", 8, 32, n)

    def setitem() -> None:
        m = state["m"]
        for k in keys:
            m[k] = v

    def bare() -> None:
        f = lib.bpfm_map_update_elem
        fd = state["m"].fileno()
        for k in keys:
            f(fd, k, v, 0)

    # interleave the two so drift affects both equally
    t_set, t_bare = [], []
    for _ in range(args.repeats):
        t_bare.append(median_time(bare, 1, setup=fresh))
        t_set.append(median_time(setitem, 1, setup=fresh))
    state["m"].close()
    t_set.sort()
    t_bare.sort()
    ms, mb = t_set[len(t_set) // 2], t_bare[len(t_bare) // 2]
    print(f"n={n} repeats={args.repeats} (median) python={sys.version.split()[0]}")
    print(f"  m[k] = v            {ms:8.3f} s  {ms / n * 1e9:7.0f} ns/op")
    print(f"  bare cffi call      {mb:8.3f} s  {mb / n * 1e9:7.0f} ns/op")
    print(f"  ratio               {ms / mb:8.2f}  (target <= 1.25)")
    return 0 if ms / mb <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())

"""items() on raw codecs: the C chunk iterator against the chain of per-chunk pairs().

    python benchmarks/bench_items.py [--n 1000000] [--rounds 9] [--types hash,array]

Per map type (key 8 B or 4 B for arrays, value 32 B, n entries), one map, three variants
run interleaved in the same process (rotated order each round), medians of wall and CPU
time (process_time: less sensitive to other processes on a shared machine):

* ``items``: ``for k, v in m.items(batch_size=8192): pass`` (bpfmaps._pack.chunk_items)
* ``chain``: what items() did before: ``pairs()`` per chunk, chained by itertools.chain
* ``read``: the same chunks read and dropped, no pair made (the kernel's part plus the
  per-chunk copy): ``items - read`` is the Python cost per element
Needs root (bpf(2)).
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import arguments, rotated  # noqa: E402

from bpfmaps import Map, MapType, bulk  # noqa: E402
from bpfmaps._pack import pairs  # noqa: E402

CHUNK = 8192


def bench_type(tname: str, n: int, rounds: int) -> None:
    """Print the three variants' medians for one map type."""
    ks = 4 if "array" in tname else 8
    m = Map.create(MapType.parse(tname), ks, 32, n)
    m.update_many(b"".join(i.to_bytes(ks, "little") for i in range(n)), bytes(32 * n))
    vbs = m._h.vbs

    def items() -> None:
        for _k, _v in m.items(batch_size=CHUNK):
            pass

    def chain() -> None:
        it = itertools.chain.from_iterable(
            pairs(kb, vb, ks, vbs, c) for kb, vb, c in bulk._dump(m, CHUNK, False)
        )
        for _k, _v in it:
            pass

    def read() -> None:
        for _c in bulk._dump(m, CHUNK, False):
            pass

    fns = {"items": items, "chain": chain, "read": read}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for name in rotated(list(fns), r):
            t0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    m.close()
    med_w = {k: statistics.median(v) for k, v in wall.items()}
    med_c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"\n{tname}: key {ks} B, value 32 B, {n} entries")
    print(f"  {'variant':<8} {'wall ms':>8} {'cpu ms':>8} {'python ns/elem (cpu)':>21}")
    for k in fns:
        extra = (med_c[k] - med_c["read"]) / n * 1e9 if k != "read" else 0.0
        print(f"  {k:<8} {med_w[k] * 1e3:8.1f} {med_c[k] * 1e3:8.1f} {extra:21.1f}")


def main() -> int:
    ap = arguments(__doc__, 1_000_000, 9)
    ap.add_argument("--types", default="hash,array")
    args = ap.parse_args()
    n = args.n
    print(f"n={n} rounds={args.rounds} (median) chunk={CHUNK} python={sys.version.split()[0]}")
    for tname in args.types.split(","):
        bench_type(tname, n, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

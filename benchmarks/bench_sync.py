"""Map.sync on a 1M-entry map with 1% of the entries changed, against one full
LOOKUP_BATCH read and against rewriting every entry.

    python benchmarks/bench_sync.py [--n 1000000] [--changed 0.01] [--rounds 7]

Hash map, key 4 B, value 8 B, max_entries = n, filled with n entries.  Each round
(interleaved, so machine noise hits every variant alike) times:

* ``read``: one full LOOKUP_BATCH read of the map into packed buffers
  (``bpfmaps.sync.read_packed``, the read sync itself does);
* ``sync packed``: ``m.sync(keys, values)`` with the desired state as two packed
  buffers (array.array), 1% of the values changed (and a fresh map state each round);
* ``sync dict``: the same desired state as a dict of bytes (raw codecs);
* ``rewrite``: ``update_many(keys, values)`` of every entry (packed), what re-applying
  a whole generated batch file costs.
Medians over ``--rounds``.  Goal: sync packed <= 1.5x read, and far below rewrite.
Needs root (bpf(2)).
"""

from __future__ import annotations

import array
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import arguments, medians, timed  # noqa: E402

from bpfmaps import Map  # noqa: E402
from bpfmaps.sync import read_packed  # noqa: E402


def main() -> int:
    ap = arguments(__doc__, n=1_000_000, rounds=7)
    ap.add_argument("--changed", type=float, default=0.01)
    a = ap.parse_args()
    n = a.n
    keys = array.array("I", range(n))
    base = array.array("Q", (i * 7 for i in range(n)))
    rng = random.Random(1)
    nchg = int(n * a.changed)
    m = Map.create("hash", 4, 8, n, name="bench_sync")
    try:
        m.update_many(keys, base)
        times: dict[str, list[float]] = {
            "read": [],
            "sync packed": [],
            "sync dict": [],
            "rewrite": [],
        }
        for r in range(a.rounds):
            # the desired state of this round: nchg values differ from the map's
            want = array.array("Q", base)
            for i in rng.sample(range(n), nchg):
                want[i] = want[i] + 1 + r
            wdict = dict(zip(map(bytes, (memoryview(keys).cast("B")[i * 4 : i * 4 + 4] for i in range(n))),
                             (want[i].to_bytes(8, sys.byteorder) for i in range(n))))  # fmt: skip
            res: dict[str, object] = {}
            runs = {
                "read": lambda: read_packed(m),
                "sync packed": lambda w=want, res=res: res.__setitem__(
                    "sync packed", m.sync(keys, w)
                ),
                "sync dict": lambda d=wdict, res=res: res.__setitem__("sync dict", m.sync(d)),
                "rewrite": lambda w=want: m.update_many(keys, w),
            }
            order = list(runs)
            rng.shuffle(order)
            for name in order:
                m.update_many(keys, base)  # reset: the map holds the base state
                times[name].append(timed(runs[name]))
            for name in ("sync packed", "sync dict"):
                r = res[name]
                assert r.changed == nchg and r.unchanged == n - nchg, r  # type: ignore[attr-defined]
            del runs
        med = medians(times)
        print(f"n={n}, changed={nchg} ({a.changed:.1%}), rounds={a.rounds} (medians)")
        for k, v in med.items():
            print(f"  {k:12s} {v * 1e3:8.1f} ms   {v / med['read']:5.2f}x read")
        ok = med["sync packed"] <= 1.5 * med["read"] and med["sync packed"] < med["rewrite"] / 2
        print(f"goal sync packed <= 1.5x read and < rewrite/2: {'met' if ok else 'NOT met'}")
        return 0
    finally:
        m.close()


if __name__ == "__main__":
    sys.exit(main())

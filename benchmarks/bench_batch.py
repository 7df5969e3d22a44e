"""Batch operations vs a C program over the raw syscalls (benchmarks/anchor_batch.c).

    python benchmarks/bench_batch.py [--n 1000000] [--repeats 5] [--types hash,array,percpu_hash]

Goals (issue 11): ``batch_ctx`` <= 1.3, ``update_many_lists`` <= 1.15 on hash maps, and
the array ratios of those two within 0.1 of the hash ones (printed when missed); the other
rows' targets are this benchmark's own (an array row further than 0.1 from its hash row is
printed as such, not as a missed goal).

Per map type (key 8 B or 4 B for arrays, value 32 B, max_entries = n), each number is the
median of ``--repeats`` runs on a fresh map, Python and C measured in the same run:

* ``with m.batch() as b: b[k] = v`` (bytes, one per entry) vs C UPDATE_BATCH
* ``m.update_many(keys, values)`` with two lists of bytes vs C UPDATE_BATCH
* ``m.update_many(kbuf, vbuf)`` with packed buffers vs C UPDATE_BATCH
* ``for k, v in m.items(): pass`` vs the C LOOKUP_BATCH loop (same chunk size)
* the per-element fallback (``bulk.forced_fallback()``, packed buffers) vs a C
  UPDATE_ELEM loop
Needs root (bpf(2)) and gcc.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import build_anchor, median_time, run_anchor  # noqa: E402

from bpfmaps import Map, MapType, bulk  # noqa: E402

#: issue 11 goals (hash maps); arrays: within ARRAY_SLACK of the hash ratio (the
#: operations of ISSUE_GOALS; the other targets are this benchmark's own)
ARRAY_SLACK = 0.1
ISSUE_GOALS = ("batch_ctx", "update_many_lists")
TARGETS = {
    "batch_ctx": 1.3,
    "update_many_lists": 1.15,
    "update_many_packed": 1.05,
    "items": 1.5,
    "fallback": 1.1,
}


def bench_type(
    tname: str, n: int, repeats: int, chunk: int, exe: str
) -> list[tuple[str, float, float, float]]:
    """Rows (operation, python s, C s, ratio): medians over ``repeats`` rounds; each round
    runs the C anchor once and every Python operation once, so load from other
    processes hits both sides alike.  The ratio is the median of per-round ratios."""
    mt = MapType.parse(tname)
    ks = 4 if "array" in tname else 8
    vs = 32
    probe = Map.create(mt, ks, vs, 1)
    vbs = probe.value_buf_size
    probe.close()
    keys = [i.to_bytes(ks, sys.byteorder) for i in range(n)]
    vals = [bytes([i & 0xFF]) * vbs for i in range(n)]
    kbuf, vbuf = b"".join(keys), b"".join(vals)
    state: dict = {}

    def fresh() -> None:
        old = state.pop("m", None)
        if old is not None:
            old.close()
        m = Map.create(mt, ks, vs, n)
        state["m"] = m.raw if m.is_percpu else m  # per-CPU: packed per-CPU value buffers

    def batch_ctx() -> None:
        with state["m"].batch() as b:
            for k, v in zip(keys, vals):
                b[k] = v

    def lists() -> None:
        state["m"].update_many(keys, vals)

    def packed() -> None:
        state["m"].update_many(kbuf, vbuf)

    def fallback() -> None:
        with bulk.forced_fallback():
            state["m"].update_many(kbuf, vbuf)

    def items() -> None:
        cnt = 0
        for _k, _v in state["m"].items(batch_size=chunk):
            cnt += 1
        assert cnt == n, cnt

    ops = [
        ("batch_ctx", batch_ctx, "update_batch"),
        ("update_many_lists", lists, "update_batch"),
        ("update_many_packed", packed, "update_batch"),
        ("items", items, "lookup_batch"),
        ("fallback", fallback, "update_elem"),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    anchors: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    for _ in range(repeats):
        c = run_anchor(exe, int(mt), n, ks, vs, 1, chunk)
        for name, fn, cname in ops:
            setup = None if name == "items" else fresh
            times[name].append(median_time(fn, 1, setup=setup))
            anchors[name].append(c[cname])
            if name != "fallback" and name != "items":
                assert len(state["m"]) == n
    state.pop("m").close()
    rows = []
    for name, _, _ in ops:
        ratios = [t / a for t, a in zip(times[name], anchors[name])]
        rows.append(
            (
                name,
                statistics.median(times[name]),
                statistics.median(anchors[name]),
                statistics.median(ratios),
            )
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=8192, help="LOOKUP_BATCH chunk (both sides)")
    ap.add_argument("--types", default="hash,array,percpu_hash")
    args = ap.parse_args()
    exe = build_anchor("anchor_batch")
    print(
        f"n={args.n} repeats={args.repeats} (median) chunk={args.chunk} python={sys.version.split()[0]}"
    )
    worst_ok = True
    hash_ratios: dict[str, float] = {}
    for tname in args.types.split(","):
        rows = bench_type(tname, args.n, args.repeats, args.chunk, exe)
        if tname == "hash":
            hash_ratios = {name: r for name, _, _, r in rows}
        print(f"\n{tname}: key {4 if 'array' in tname else 8} B, value 32 B, {args.n} entries")
        print(f"  {'operation':<20} {'python s':>9} {'C s':>9} {'ratio':>6} {'target':>6}")
        for name, t, a, r in rows:
            target = TARGETS[name]
            flag = "" if r <= target else "  (over)"
            if tname == "hash" and r > target:
                worst_ok = False
            print(f"  {name:<20} {t:9.3f} {a:9.3f} {r:6.2f} {target:6.2f}{flag}")
        if "array" in tname and hash_ratios:
            for name, _, _, r in rows:
                if name in hash_ratios and r > hash_ratios[name] + ARRAY_SLACK:
                    what = (
                        f"goal: within {ARRAY_SLACK}"
                        if name in ISSUE_GOALS
                        else f"more than {ARRAY_SLACK} over; not an issue goal"
                    )
                    print(f"  {name}: {r:.2f} vs hash {hash_ratios[name]:.2f} ({what})")
    return 0 if worst_ok else 1


if __name__ == "__main__":
    sys.exit(main())

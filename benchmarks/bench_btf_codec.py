"""Decoding 1M values through ``m.items()``: BTF codecs vs a hand-written Struct codec.

The map is a real kernel array (1M entries of a 32-byte struct with nested struct,
char array and int array members); both views read it through the same
LOOKUP_BATCH path, so the difference is the decode.  Rounds are interleaved (BTF,
Struct, BTF, ...) and medians reported, as the machine is shared and noisy.

    python benchmarks/bench_btf_codec.py [--entries N] [--rounds R]

Needs root (bpf(2)).  Prints the medians and the ratio; the goal is <= 2x.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import timed  # noqa: E402

from bpfmaps import Map  # noqa: E402
from bpfmaps import codecs as C  # noqa: E402


class Addr(ctypes.Structure):
    _fields_ = [("ip", ctypes.c_uint32), ("port", ctypes.c_uint16), ("proto", ctypes.c_uint8),
                ("up", ctypes.c_bool)]  # fmt: skip


class Backend(ctypes.Structure):
    _fields_ = [("addr", Addr), ("name", ctypes.c_char * 8), ("bytes", ctypes.c_uint64),
                ("packets", ctypes.c_uint32), ("weight", ctypes.c_uint16),
                ("flags", ctypes.c_uint16)]  # fmt: skip


#: the same layout, written by hand: one namedtuple per value (what users did before)
HAND = C.Struct(
    "=IHB?8sQIHH",
    names=("ip", "port", "proto", "up", "name", "bytes", "packets", "weight", "flags"),
)
#: a flat struct: the simplest case for both
FLAT_HAND = C.Struct("=IIQQ", names=("a", "b", "c", "d"))


class Flat(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32), ("c", ctypes.c_uint64),
                ("d", ctypes.c_uint64)]  # fmt: skip


def _drain(view: Map) -> None:
    for _ in view.items():
        pass


def bench(ct, hand, n: int, rounds: int, label: str) -> tuple[float, float]:
    assert ctypes.sizeof(ct) == hand.size
    with Map.create("array", 4, hand.size, n, "bench_btf", key=C.U32, value=ct, btf=True) as m:
        data = os.urandom(hand.size * n)
        if ct is Backend:  # _Bool bytes must be 0/1 for the hand codec's '?' too
            b = bytearray(data)
            b[7 :: hand.size] = bytes(x & 1 for x in b[7 :: hand.size])
            data = bytes(b)
        m.raw.update_many(
            [
                ((i).to_bytes(4, "little"), data[i * hand.size : (i + 1) * hand.size])
                for i in range(n)
            ]
        )
        vb = m.typed(btf=True)
        vh = m.typed(key=C.U32, value=hand)
        # same values either way
        k0, v0 = next(iter(vb.items()))
        assert tuple(_flatten(v0)) == tuple(vh[k0]), (v0, vh[k0])
        tb, th = [], []
        for _ in range(rounds):
            tb.append(timed(lambda: _drain(vb)))
            th.append(timed(lambda: _drain(vh)))
        mb, mh = statistics.median(tb), statistics.median(th)
        print(
            f"{label:<28} {n:>8} values  BTF {mb:6.3f} s  Struct {mh:6.3f} s  "
            f"ratio {mb / mh:4.2f}x  (rounds {rounds}, min {min(tb):.3f}/{min(th):.3f})"
        )
        return mb, mh


def _flatten(v):
    import dataclasses

    for f in dataclasses.fields(v):
        x = getattr(v, f.name)
        if dataclasses.is_dataclass(x):
            yield from _flatten(x)
        else:
            yield x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    bench(Flat, FLAT_HAND, a.entries, a.rounds, "flat struct (4 ints)")
    bench(Backend, HAND, a.entries, a.rounds, "nested struct + char[8]")


if __name__ == "__main__":
    main()

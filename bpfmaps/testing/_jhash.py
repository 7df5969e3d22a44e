"""Bob Jenkins' lookup3 hash as the kernel's ``jhash()`` computes it.

The kernel hashes a hash-map key with ``jhash(key, key_size, hashrnd)`` and picks
bucket ``hash & (n_buckets - 1)``.  With ``BPF_F_ZERO_SEED`` ``hashrnd`` is 0, so
a fake using the same function puts every key in the same bucket as the kernel
and reproduces ``GET_NEXT_KEY`` order and batch-lookup chunking exactly.
(lookup3 is public domain; this is a from-scratch transcription of the algorithm.)
"""

from __future__ import annotations

_M = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _M
    a ^= _rol(c, 4)
    c = (c + b) & _M
    b = (b - a) & _M
    b ^= _rol(a, 6)
    a = (a + c) & _M
    c = (c - b) & _M
    c ^= _rol(b, 8)
    b = (b + a) & _M
    a = (a - c) & _M
    a ^= _rol(c, 16)
    c = (c + b) & _M
    b = (b - a) & _M
    b ^= _rol(a, 19)
    a = (a + c) & _M
    c = (c - b) & _M
    c ^= _rol(b, 4)
    b = (b + a) & _M
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rol(b, 14)) & _M
    a ^= c
    a = (a - _rol(c, 11)) & _M
    b ^= a
    b = (b - _rol(a, 25)) & _M
    c ^= b
    c = (c - _rol(b, 16)) & _M
    a ^= c
    a = (a - _rol(c, 4)) & _M
    b ^= a
    b = (b - _rol(a, 14)) & _M
    c ^= b
    c = (c - _rol(b, 24)) & _M
    return c


def jhash(key: bytes, initval: int = 0) -> int:
    """``jhash(key, len(key), initval)`` on a little-endian machine. Cost: O(len(key))."""
    n = len(key)
    a = b = c = (JHASH_INITVAL + n + initval) & _M
    i = 0
    while n > 12:
        a = (a + int.from_bytes(key[i : i + 4], "little")) & _M
        b = (b + int.from_bytes(key[i + 4 : i + 8], "little")) & _M
        c = (c + int.from_bytes(key[i + 8 : i + 12], "little")) & _M
        a, b, c = _mix(a, b, c)
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = key[i:] + b"\0" * (12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    return _final(a, b, c)

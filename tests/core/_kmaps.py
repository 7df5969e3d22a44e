"""Helpers shared by the core kernel tests (imported as `from _kmaps import ...`: pytest puts
tests/core on sys.path, as for the sibling-module imports in tests/bpftool and tests/reliability)."""

from __future__ import annotations

from typing import Any


def contents(be: Any, fd: int, ks: int, vsz: int) -> dict[bytes, bytes]:
    """Every {key: value} of map ``fd`` through ``be`` (a Backend), walked with
    GET_NEXT_KEY then LOOKUP_ELEM; ``vsz`` is the whole value buffer (per-CPU: every
    CPU's slot).  A key that GET_NEXT_KEY names but LOOKUP_ELEM does not find, or names
    twice (the walk restarted), fails the test: these tests do not delete while they
    read, and the check also bounds the walk."""
    kbuf, vbuf = be.alloc(max(ks, 1)), be.alloc(vsz)
    key, out = be.NULL, {}
    while be.map_get_next_key(fd, key, kbuf) == 0:
        key = be.tobytes(kbuf, ks)
        assert key not in out, f"get_next_key named {key.hex()} twice"
        rc = be.map_lookup_elem(fd, key, vbuf, 0)
        assert rc == 0, f"lookup of a key get_next_key named: rc {rc}"
        out[key] = be.tobytes(vbuf, vsz)
    return out

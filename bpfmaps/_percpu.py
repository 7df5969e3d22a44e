"""Per-CPU values: aggregates of one key's per-CPU values, and zeroing (a Map mixin).

Costs: :meth:`PerCPUOps.sum` and its kin are one lookup; :meth:`PerCPUOps.zero` is one
update, or a key walk plus batched updates.  Kernel floor: 4.6 (per-CPU maps).
"""

from __future__ import annotations

import sys as _sys
from typing import Any, Union

from ._core import MISSING, MapCore
from ._typing import K, V
from .bulk import clear, update_many
from .types import FD_VALUE_TYPES, PERCPU_TYPES, MapType

_sys_byteorder = _sys.byteorder


class PerCPUOps(MapCore[K, V]):
    """BCC-style aggregates of per-CPU values and zeroing (part of :class:`~bpfmaps.maps.Map`)."""

    __slots__ = ()

    def _cpu_numbers(self, key: K, what: str) -> list[Any]:
        h = self._h
        if h.info.type not in PERCPU_TYPES:
            raise TypeError(
                f"{what}() aggregates the per-CPU values of per-CPU maps; "
                f"this is a {self._type_name()} map (read m[key] directly)"
            )
        vals: Any = self[key]
        if vals and isinstance(vals[0], (bytes, bytearray)):
            size = h.info.value_size
            if size not in (1, 2, 4, 8):
                raise TypeError(
                    f"{what}() needs numeric values: give the map a numeric value codec, "
                    f"e.g. m.typed(value='<Q') (values here are {size} raw bytes)"
                )
            vals = [int.from_bytes(v, _sys_byteorder) for v in vals]
        for v in vals:
            if not isinstance(v, (int, float)):
                raise TypeError(
                    f"{what}() needs numeric per-CPU values, got {type(v).__name__}: "
                    "use a scalar value codec (e.g. m.typed(value='<Q'))"
                )
        out: list[Any] = vals
        return out

    def sum(self, key: K) -> Union[int, float]:
        """Sum of ``key``'s per-CPU values (BCC's ``table.sum(k)``): one lookup.
        Raw values of 1, 2, 4 or 8 bytes count as native unsigned integers.  Raises
        TypeError on maps that are not per-CPU or values that are not numbers,
        KeyNotFoundError when the key is missing."""
        total: Union[int, float] = sum(self._cpu_numbers(key, "sum"))
        return total

    def max(self, key: K) -> Union[int, float]:
        """Largest of ``key``'s per-CPU values (one lookup); rules as :meth:`sum`."""
        top: Union[int, float] = max(self._cpu_numbers(key, "max"))
        return top

    def min(self, key: K) -> Union[int, float]:
        """Smallest of ``key``'s per-CPU values (one lookup); rules as :meth:`sum`."""
        low: Union[int, float] = min(self._cpu_numbers(key, "min"))
        return low

    def average(self, key: K) -> float:
        """:meth:`sum` divided by the number of possible CPUs (BCC's ``average``), as a
        float; one lookup."""
        vals = self._cpu_numbers(key, "average")
        avg: float = sum(vals) / len(vals)
        return avg

    def zero(self, key: Any = MISSING) -> None:
        """Write an all-zero value: to ``key`` (one update, which also creates it on a
        hash map), or, with no key, to every existing key (BCC's ``table.zero()``: keys
        stay, values become 0; one walk plus one batched update).  For every CPU on
        per-CPU maps.  Not for queue/stack/ringbuf (TypeError) or map-in-map/prog-array
        maps (TypeError: an empty slot is a delete).  Errors as :meth:`update`."""
        h = self._h
        t = h.info.type
        if h.info.key_size == 0:
            raise TypeError(f"{self._type_name()} maps have no keys to zero; {self._keyless_use()}")
        if t in FD_VALUE_TYPES:
            raise TypeError(
                f"{self._type_name()} values are object references; delete the slot instead"
            )
        raw = self.raw
        z = bytes(h.vbs)
        if key is not MISSING:
            k = self._kenc(key)
            rc = h.update_elem(h.fd, k, z, 0)
            if rc:
                raise self._error(rc, "update", key)
            return
        if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            clear(self)  # arrays: zero every index
            return
        keys = list(raw._iter_raw_keys())
        if keys:  # packed buffers: one UPDATE_BATCH per chunk, no object per element
            update_many(raw, b"".join(keys), z * len(keys))

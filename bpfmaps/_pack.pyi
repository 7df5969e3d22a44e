"""Type stub of the compiled ``bpfmaps._pack`` (bpfmaps/_pack.c)."""

from collections.abc import Iterable, Iterator
from typing import Any, Callable

def pack(
    seq: list[Any] | tuple[Any, ...], size: int, start: int = 0, stop: int = ...
) -> bytes | None:
    """The concatenation of ``seq[start:stop]`` when every one is ``bytes`` (exactly,
    not a subclass) of ``size`` bytes; None otherwise.  ``start`` >= 0, ``stop``
    clamped to ``len(seq)`` (default: the end)."""

def pairs(
    keys: bytes, values: bytes, key_size: int, value_size: int, count: int, /
) -> Iterator[tuple[bytes, bytes]]:
    """``(keys[i*key_size:(i+1)*key_size], values[i*value_size:...])`` for i < count,
    made one pair per step (ValueError when a buffer holds fewer than ``count``)."""

def chunk_items(
    chunks: Iterable[tuple[bytes, bytes, int]],
    key_size: int,
    value_size: int,
    values_only: bool = False,
    /,
) -> Iterator[Any]:
    """One iterator over every chunk ``(keys, values, count)`` that ``chunks`` yields:
    the ``(key, value)`` bytes pairs cut from each (the values only when
    ``values_only``), the next chunk pulled when one is spent; a chunk that is not
    (bytes, bytes, int) is a TypeError, one shorter than its count a ValueError."""

class Packer:
    """Growable packed key and value buffers: :meth:`append` copies an exact-bytes pair
    of the sizes and hands any other pair to ``spill``, in order."""

    def __init__(
        self, key_size: int, value_size: int, spill: Callable[[Any, Any], Any]
    ) -> None: ...
    def append(self, key: Any, value: Any, /) -> None: ...
    def take(self) -> tuple[bytearray, bytearray, int]: ...
    def __len__(self) -> int: ...

#: bumped with every change of this module's API (bpfmaps.codecs.PACK_ABI must match)
ABI: int
#: sha256 of the bpfmaps/_pack.c this module was built from
SOURCE_SHA256: str

class BatchBase:
    """The base of bpfmaps.batching.MapBatch: ``b[k] = v`` in C (packed buffers while
    packing, else the ``_keys``/``_vals`` lists); ``del b[k]`` calls ``self.delete(k)``."""

    @property
    def _keys(self) -> list[Any]: ...
    @_keys.setter
    def _keys(self, value: list[Any]) -> None: ...
    @property
    def _vals(self) -> list[Any]: ...
    @_vals.setter
    def _vals(self, value: list[Any]) -> None: ...
    @property
    def _packing(self) -> bool: ...
    @property
    def _pk_n(self) -> int: ...
    def _pk_open(self, key_size: int, value_size: int, block: int = 8192, /) -> None: ...
    def _pk_take(self) -> tuple[list[bytearray], list[bytearray], int]: ...
    def _pk_close(self) -> None: ...
    def _pk_append(self, key: Any, value: Any, /) -> None: ...
    def __setitem__(self, key: Any, value: Any) -> None: ...
    def __delitem__(self, key: Any) -> None: ...

class ElemBase:
    """The C base of ``bpfmaps._core.MapCore``: ``m[k] = v`` of exact raw bytes in C."""

    _h: Any
    _rk: int
    _rv: int
    def __setitem__(self, key: Any, value: Any) -> None: ...
    def __delitem__(self, key: Any) -> None: ...

"""Type stub of the compiled ``bpfmaps._pack`` (bpfmaps/_pack.c)."""

from typing import Any, Callable

def pack(
    seq: list[Any] | tuple[Any, ...], size: int, start: int = 0, stop: int = ...
) -> bytes | None:
    """The concatenation of ``seq[start:stop]`` when every one is ``bytes`` (exactly,
    not a subclass) of ``size`` bytes; None otherwise.  ``start`` >= 0, ``stop``
    clamped to ``len(seq)`` (default: the end)."""

class Packer:
    """Growable packed key and value buffers: :meth:`append` copies an exact-bytes pair
    of the sizes and hands any other pair to ``spill``, in order."""

    def __init__(
        self, key_size: int, value_size: int, spill: Callable[[Any, Any], Any]
    ) -> None: ...
    def append(self, key: Any, value: Any, /) -> None: ...
    def take(self) -> tuple[bytearray, bytearray, int]: ...
    def __len__(self) -> int: ...

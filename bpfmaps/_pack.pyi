"""Type stub of the compiled ``bpfmaps._pack`` (bpfmaps/_pack.c)."""

from typing import Any, Callable

def pack(seq: list[Any] | tuple[Any, ...], size: int) -> bytes | None:
    """The concatenation of ``seq`` when every element is ``bytes`` (exactly, not a
    subclass) of ``size`` bytes; None otherwise."""

class Packer:
    """Growable packed key and value buffers: :meth:`append` copies an exact-bytes pair
    of the sizes and hands any other pair to ``spill``, in order."""

    def __init__(
        self, key_size: int, value_size: int, spill: Callable[[Any, Any], Any]
    ) -> None: ...
    def append(self, key: Any, value: Any, /) -> None: ...
    def take(self) -> tuple[bytearray, bytearray, int]: ...
    def __len__(self) -> int: ...

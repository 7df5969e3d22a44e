"""The errno-specific and API-misuse exception classes of :mod:`bpfmaps.errors` (their
public home, and their ``__module__``), kept apart so that importing ``bpfmaps.errors``
builds only the classes every path needs: a batch file that succeeds raises none of
these.  Import them from :mod:`bpfmaps.errors`."""

from __future__ import annotations

from ._errbase import BPFError, BpfmapsError

__all__ = [
    "KeyNotFoundError",
    "KeyExistsError",
    "MapFullError",
    "NoSpaceError",
    "PermissionDeniedError",
    "InvalidArgumentError",
    "NotSupportedError",
    "MapNotFoundError",
    "PinNotFoundError",
    "PinExistsError",
    "NotBpffsError",
    "AmbiguousMapError",
    "MapClosedError",
    "CodecError",
    "IterationAbortedError",
]


class KeyNotFoundError(BPFError, KeyError):
    """ENOENT on an element operation: the key does not exist."""


class KeyExistsError(BPFError):
    """EEXIST: NOEXIST update of an existing key (every array index exists)."""


class MapFullError(BPFError):
    """E2BIG: the map is full, or an array index is out of range."""


class NoSpaceError(BPFError):
    """ENOSPC: a batch lookup chunk is smaller than one hash bucket."""


class PermissionDeniedError(BPFError, PermissionError):
    """EPERM/EACCES: missing CAP_BPF/CAP_SYS_ADMIN, frozen map or read-only handle."""


class InvalidArgumentError(BPFError, ValueError):
    """EINVAL: bad flags, delete on an array, unsupported command for this map."""


class NotSupportedError(BPFError):
    """ENOTSUPP (524) / EOPNOTSUPP: the operation is not supported for this map type."""


class MapNotFoundError(BPFError, LookupError):
    """No map with this id or name (ENOENT from GET_FD_BY_ID, or no name match)."""


class PinNotFoundError(BPFError, FileNotFoundError):
    """ENOENT from OBJ_GET: nothing is pinned at that path."""


class PinExistsError(BPFError, FileExistsError):
    """EEXIST from OBJ_PIN: the path already exists."""


class NotBpffsError(BPFError, ValueError):
    """The path is not on a bpf file system (EPERM from OBJ_PIN, EACCES from OBJ_GET)."""


class AmbiguousMapError(BpfmapsError, LookupError):
    """Several maps match a name; ``ids`` lists them."""

    def __init__(self, name: str, ids: list[int]) -> None:
        super().__init__(name, ids)
        self.name: str = name
        self.ids: list[int] = list(ids)

    def __str__(self) -> str:
        ids = ", ".join(str(i) for i in self.ids)
        return f"several maps are named {self.name!r} (ids {ids}); open one by id"


class MapClosedError(BpfmapsError, ValueError):
    """The map handle was closed."""


class CodecError(BpfmapsError, ValueError):
    """A key or value could not be encoded/decoded, or has the wrong size."""


class IterationAbortedError(BpfmapsError, RuntimeError):
    """Iteration gave up: the map changed under it for more than max_entries+1 steps."""


for _cls in (
    KeyNotFoundError,
    KeyExistsError,
    MapFullError,
    NoSpaceError,
    PermissionDeniedError,
    InvalidArgumentError,
    NotSupportedError,
    MapNotFoundError,
    PinNotFoundError,
    PinExistsError,
    NotBpffsError,
    AmbiguousMapError,
    MapClosedError,
    CodecError,
    IterationAbortedError,
):
    _cls.__module__ = "bpfmaps.errors"  # their public home (reprs, pickling, docs)
del _cls

"""bpfmaps: manage Linux BPF maps from Python.

* :class:`Map`: open by id, pin, name or fd, or create; Mapping-style API with codecs.
* Batches: :meth:`Map.batch`, :func:`batch`, :meth:`Map.update_many` ...
* :mod:`bpfmaps.testing`: a kernel-faithful fake for unit tests without root.
* ``bpfmaps batch file FILE``: run bpftool batch files, faster and safely.

Importing this package does not load the compiled extension; the first use of the
real kernel does.
"""

from __future__ import annotations

import sys as _sys

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: ~10 ms of start-up)

# Public names are loaded on first use (PEP 562): ``import bpfmaps`` and the
# ``bpfmaps batch file`` command stay cheap; ``from bpfmaps import Map`` works as usual.
_LAZY = {
    "__version__": ("_version", "__version__"),
    "codecs": ("codecs", None),
    "Backend": ("backend", "Backend"),
    "default_backend": ("backend", "default_backend"),
    "kernel_backend": ("backend", "kernel_backend"),
    "use_backend": ("backend", "use_backend"),
    "MapBatch": ("batching", "MapBatch"),
    "Transaction": ("batching", "Transaction"),
    "batch": ("batching", "batch"),
    "AllCPUs": ("codecs", "AllCPUs"),
    "Map": ("maps", "Map"),
    "map_ids": ("maps", "map_ids"),
    "Program": ("progs", "Program"),
    "ProgType": ("progs", "ProgType"),
    "TestRunResult": ("progs", "TestRunResult"),
    "SyncError": ("sync", "SyncError"),
    "PerfBuffer": ("ringbuf", "PerfBuffer"),
    "RingBuffer": ("ringbuf", "RingBuffer"),
    "SyncResult": ("sync", "SyncResult"),
    "XdpAction": ("progs", "XdpAction"),
    "MapFlags": ("types", "MapFlags"),
    "MapInfo": ("types", "MapInfo"),
    "MapType": ("types", "MapType"),
    "OpenFlags": ("types", "OpenFlags"),
    "UpdateFlags": ("types", "UpdateFlags"),
}
for _name in (
    "ENOTSUPP", "AmbiguousMapError", "BatchError", "BPFError", "BpfmapsError", "CodecError",
    "CommandFailed",
    "InvalidArgumentError", "IterationAbortedError", "KeyExistsError", "KeyNotFoundError",
    "MapClosedError", "MapFullError", "MapNotFoundError", "NoSpaceError", "NotBpffsError",
    "NotSupportedError", "ParseError", "PermissionDeniedError", "PinExistsError",
    "PinNotFoundError",
):  # fmt: skip
    _LAZY[_name] = ("errors", _name)
del _name


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'bpfmaps' has no attribute {name!r}")
    modname = f"{__name__}.{spec[0]}"
    __import__(modname)  # not importlib.import_module: importlib loads warnings
    mod = _sys.modules[modname]
    value = mod if spec[1] is None else getattr(mod, spec[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from typing import Any

    from . import codecs
    from ._version import __version__ as __version__
    from .backend import Backend, default_backend, kernel_backend, use_backend
    from .batching import MapBatch, Transaction, batch
    from .codecs import AllCPUs
    from .errors import (
        ENOTSUPP,
        AmbiguousMapError,
        BatchError,
        BPFError,
        BpfmapsError,
        CodecError,
        CommandFailed,
        InvalidArgumentError,
        IterationAbortedError,
        KeyExistsError,
        KeyNotFoundError,
        MapClosedError,
        MapFullError,
        MapNotFoundError,
        NoSpaceError,
        NotBpffsError,
        NotSupportedError,
        ParseError,
        PermissionDeniedError,
        PinExistsError,
        PinNotFoundError,
    )
    from .maps import Map, map_ids
    from .progs import Program, ProgType, TestRunResult, XdpAction
    from .ringbuf import PerfBuffer, RingBuffer
    from .sync import SyncError, SyncResult
    from .types import MapFlags, MapInfo, MapType, OpenFlags, UpdateFlags


__all__ = [
    "ENOTSUPP",
    "AllCPUs",
    "AmbiguousMapError",
    "BPFError",
    "Backend",
    "BatchError",
    "BpfmapsError",
    "CodecError",
    "CommandFailed",
    "InvalidArgumentError",
    "IterationAbortedError",
    "KeyExistsError",
    "KeyNotFoundError",
    "Map",
    "MapClosedError",
    "MapFlags",
    "MapFullError",
    "MapInfo",
    "MapNotFoundError",
    "MapType",
    "NoSpaceError",
    "NotBpffsError",
    "NotSupportedError",
    "OpenFlags",
    "ParseError",
    "PermissionDeniedError",
    "PinExistsError",
    "PinNotFoundError",
    "PerfBuffer",
    "ProgType",
    "Program",
    "RingBuffer",
    "SyncError",
    "SyncResult",
    "TestRunResult",
    "UpdateFlags",
    "XdpAction",
    "MapBatch",
    "Transaction",
    "batch",
    "codecs",
    "default_backend",
    "kernel_backend",
    "map_ids",
    "use_backend",
]

"""bpfmaps: manage Linux BPF maps from Python.

* :class:`Map`: open by id, pin, name or fd, or create; Mapping-style API with codecs.
* Batches: :meth:`Map.batch`, :func:`batch`, :meth:`Map.update_many` ...
* :mod:`bpfmaps.testing`: a kernel-faithful fake for unit tests without root.
* ``bpfmaps batch file FILE``: run bpftool batch files, faster and safely.

Importing this package does not load the compiled extension; the first use of the
real kernel does.
"""

from __future__ import annotations

from . import codecs
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
from .progs import Program, ProgType
from .types import MapFlags, MapInfo, MapType, OpenFlags, UpdateFlags

__version__ = "0.1.0"

__all__ = [
    "ENOTSUPP",
    "AllCPUs",
    "AmbiguousMapError",
    "BPFError",
    "Backend",
    "BatchError",
    "BpfmapsError",
    "CodecError",
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
    "ProgType",
    "Program",
    "UpdateFlags",
    "MapBatch",
    "Transaction",
    "batch",
    "codecs",
    "default_backend",
    "kernel_backend",
    "map_ids",
    "use_backend",
]

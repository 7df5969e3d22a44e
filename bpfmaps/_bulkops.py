"""Many elements at once, and the Map's other helpers: the Map methods that hand the
map to :mod:`bpfmaps.bulk`, :mod:`bpfmaps.batching`, :mod:`bpfmaps.memory` and
:mod:`bpfmaps.sync` (a Map mixin; each method states its cost and refers to the function
that does the work).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union, overload

from ._core import MISSING, MapCore
from ._typing import K, V
from .batching import MapBatch

# the functions that do the work of the methods of the same names
from .bulk import delete_many, lookup_many, pop_all, pop_many, update_many
from .memory import map_memory
from .types import UpdateFlags

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .bulk import BatchResult
    from .codecs import AllCPUs
    from .sync import SyncResult

_T = TypeVar("_T")


class BulkOps(MapCore[K, V]):
    """Bulk operations, batches, memory and sync (part of :class:`~bpfmaps.maps.Map`)."""

    __slots__ = ()

    def update_many(
        self,
        pairs_or_keys: Union[Mapping[K, V], Iterable[tuple[K, V]], Iterable[K], Buffer],
        values: Union[Iterable[Union[V, AllCPUs[Any]]], Buffer, None] = None,
        *,
        flags: int = UpdateFlags.ANY,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
        parallel: bool = False,
    ) -> BatchResult:
        """Write many elements (BPF_MAP_UPDATE_BATCH, in chunks; kernel 5.6, per-element C
        fallback below): pairs, a mapping, two sequences or two packed buffers.  Raises
        CodecError (nothing applied) or BatchError; see :func:`bpfmaps.bulk.update_many`."""
        return update_many(
            self, pairs_or_keys, values, flags=flags, on_error=on_error,
            chunk_size=chunk_size, parallel=parallel,
        )  # fmt: skip

    @overload
    def lookup_many(
        self, keys: Union[Iterable[K], Buffer], *, flags: int = 0, chunk_size: Optional[int] = None
    ) -> list[V]: ...
    @overload
    def lookup_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: _T,
        flags: int = 0,
        chunk_size: Optional[int] = None,
    ) -> list[Union[V, _T]]: ...

    def lookup_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: Any = MISSING,
        flags: int = 0,
        chunk_size: Optional[int] = None,
    ) -> list[Any]:
        """Look up many keys, in order (one LOOKUP_ELEM per key, looped in C): a list of
        values, ``default`` for missing keys when given, else BatchError (with the values
        found in ``err.results``); see :func:`bpfmaps.bulk.lookup_many`."""
        if default is MISSING:  # bulk has its own sentinel: pass a default only if given
            return lookup_many(self, keys, flags=flags, chunk_size=chunk_size)
        return lookup_many(self, keys, default=default, flags=flags, chunk_size=chunk_size)

    def delete_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        on_error: str = "stop",
        missing_ok: bool = False,
        chunk_size: Optional[int] = None,
    ) -> BatchResult:
        """Delete many keys in order (BPF_MAP_DELETE_BATCH, kernel 5.6; C loop below).
        Raises CodecError or BatchError; see :func:`bpfmaps.bulk.delete_many`."""
        return delete_many(
            self, keys, on_error=on_error, missing_ok=missing_ok, chunk_size=chunk_size
        )

    @overload
    def pop_many(
        self, keys: Union[Iterable[K], Buffer], *, chunk_size: Optional[int] = None
    ) -> list[V]: ...
    @overload
    def pop_many(
        self, keys: Union[Iterable[K], Buffer], *, default: _T, chunk_size: Optional[int] = None
    ) -> list[Union[V, _T]]: ...

    def pop_many(
        self,
        keys: Union[Iterable[K], Buffer],
        *,
        default: Any = MISSING,
        chunk_size: Optional[int] = None,
    ) -> list[Any]:
        """Remove and return many keys, in order (one LOOKUP_AND_DELETE per key, in C);
        BatchError keeps what was popped in ``err.results``; see
        :func:`bpfmaps.bulk.pop_many`."""
        if default is MISSING:
            return pop_many(self, keys, chunk_size=chunk_size)
        return pop_many(self, keys, default=default, chunk_size=chunk_size)

    def pop_all(self, *, batch_size: Optional[int] = None) -> list[tuple[K, V]]:
        """Drain the map: every (key, value) pair, removed (LOOKUP_AND_DELETE_BATCH on
        hash maps, kernel 5.6; else a C loop); see :func:`bpfmaps.bulk.pop_all`."""
        return pop_all(self, batch_size=batch_size)

    def memory(self) -> memoryview:
        """The values of a BPF_F_MMAPABLE array as one memoryview (element i at
        ``i * round_up(value_size, 8)``): plain memory access, no syscall, shared with
        BPF programs; read-only for frozen maps; ``numpy.frombuffer`` works.  No
        atomicity; close() refuses while views live.  One mmap on the first call.
        InvalidArgumentError for other maps.  Kernel 5.5.  See bpfmaps.memory."""
        return map_memory(self)

    def sync(
        self,
        desired: Any,
        values: Any = None,
        *,
        delete_extra: bool = True,
        on_error: str = "stop",
        dry_run: bool = False,
        batch_size: Optional[int] = None,
    ) -> SyncResult:
        """Make the map hold exactly ``desired`` (a mapping, pairs, or keys + values),
        writing only the delta; returns SyncResult(added, changed, removed, unchanged).
        One LOOKUP_BATCH read + the delta's batch writes; SyncError (a BatchError) on
        failure.  See :func:`bpfmaps.sync.sync`."""
        from .sync import sync

        return sync(
            self, desired, values, delete_extra=delete_extra, on_error=on_error,
            dry_run=dry_run, batch_size=batch_size,
        )  # fmt: skip

    def batch(
        self,
        *,
        auto_flush: Optional[int] = None,
        on_error: str = "stop",
        chunk_size: Optional[int] = None,
    ) -> MapBatch[K, V]:
        """A context manager that buffers writes and applies them on exit (UPDATE_BATCH /
        DELETE_BATCH in program order; no syscall before); BatchError on failure; see
        :class:`bpfmaps.batching.MapBatch`."""
        return MapBatch(self, auto_flush=auto_flush, on_error=on_error, chunk_size=chunk_size)

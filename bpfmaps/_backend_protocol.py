"""The :class:`Backend` protocol and the ring readers' protocols, as ``typing.Protocol``
classes (``runtime_checkable``: ``isinstance(obj, Backend)`` checks the methods).

Public as :mod:`bpfmaps.backend`'s ``Backend``, ``RingReader`` and ``PerfReader`` (see
that module for the conventions every backend follows).  A module of its own because
defining Protocol classes needs ``typing`` at run time (about 10 ms of start-up): code
that only calls a backend never imports this module; ``bpfmaps.backend`` loads it on the
first access to one of these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .types import BTFInfo, MapInfo, ProgInfo

__all__ = ["Backend", "PerfReader", "RingReader"]


Buffer = Any  # bytes-like input, or a buffer from Backend.alloc for outputs
Key = Any  # bytes of the map's key size, or Backend.NULL


@runtime_checkable
class RingReader(Protocol):
    """One mapped ring (``Backend.ringbuf_open``) or per-CPU perf ring (``perf_open``),
    read by :mod:`bpfmaps.ringbuf`.  ``read(n)`` returns (records, payloads, offsets
    into the payloads, lengths) of up to ``n`` records, (0, b"", [], []) when none."""

    @property
    def discarded(self) -> int:
        """Records the producer discarded (ring buffers; 0 for perf rings)."""
        ...

    @property
    def busy(self) -> bool:
        """The last read stopped at a reserved, not yet submitted record."""
        ...

    def read(
        self, max_records: int
    ) -> tuple[int, bytes | bytearray | memoryview, Sequence[int], Sequence[int]]: ...
    def pending(self) -> bool: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """bpf(2) as a table of methods; see the module docstring for conventions."""

    #: "kernel" or "fake"
    name: str
    #: the NULL pointer value for key/value arguments (ffi.NULL or None)
    NULL: Any

    # -- resources -------------------------------------------------------------
    def possible_cpus(self) -> int: ...
    def alloc(self, size: int) -> Buffer: ...
    def tobytes(self, buf: Buffer, size: int, offset: int = 0) -> bytes: ...
    def close(self, fd: int) -> int: ...
    def dup(self, fd: int) -> int: ...
    def is_bpffs(self, path: str) -> bool: ...

    # -- objects ---------------------------------------------------------------
    def map_create(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        map_flags: int = 0,
        name: bytes = b"",
        inner_map_fd: int = -1,
        numa_node: int = 0,
        map_extra: int = 0,
        btf_fd: int = -1,
        btf_key_type_id: int = 0,
        btf_value_type_id: int = 0,
    ) -> int: ...
    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int: ...
    def map_get_next_id(self, start_id: int) -> tuple[int, int]: ...
    def prog_get_fd_by_id(self, prog_id: int) -> int: ...
    def prog_get_next_id(self, start_id: int) -> tuple[int, int]: ...
    def obj_get(self, path: str, file_flags: int = 0) -> int: ...
    def obj_pin(self, fd: int, path: str) -> int: ...
    def map_info(self, fd: int) -> tuple[int, Optional[MapInfo]]: ...
    def prog_info(self, fd: int) -> tuple[int, Optional[ProgInfo]]: ...
    def map_freeze(self, fd: int) -> int: ...
    def prog_load(self, prog_type: int, insns: bytes, license: bytes, name: bytes = b"") -> int: ...
    # BPF_PROG_TEST_RUN: run a program once or ``repeat`` times on ``data`` (and
    # ``ctx``); output buffers of ``data_out_size``/``ctx_out_size`` bytes.  Returns
    # (rc, retval, data_out, ctx_out, duration_ns per run); rc -ENOSPC when the output
    # did not fit (data_out then holds what fit).
    def prog_test_run(
        self,
        fd: int,
        data: bytes,
        data_out_size: int,
        ctx: Optional[bytes] = None,
        ctx_out_size: int = 0,
        repeat: int = 1,
        flags: int = 0,
        cpu: int = 0,
    ) -> tuple[int, int, bytes, bytes, int]: ...

    # -- outside bpf(2): /proc/self/fdinfo and the bpffs ---------------------------
    # map_fdinfo: the ``key: value`` lines of /proc/self/fdinfo/FD as a dict of
    # strings (``frozen``, ``memlock``, ``map_id``, ...); -EINVAL when fd is no map.
    # obj_unpin: unlink(2) of a pin (the caller checks it is on a bpffs first).
    # map_pin_paths: every path on a mounted bpffs where map ``map_id`` is pinned
    # (walks every bpffs mount, one OBJ_GET per pinned object, like bpftool's -f).
    def map_fdinfo(self, fd: int) -> tuple[int, Optional[dict[str, str]]]: ...
    def obj_unpin(self, path: str) -> int: ...
    def map_pin_paths(self, map_id: int) -> list[str]: ...

    # -- ring buffers (kernel >= 5.8): map the ring of a RINGBUF map fd ``fd`` whose
    # max_entries is ``size``; the Map keeps owning the fd
    def ringbuf_open(self, fd: int, size: int) -> RingReader: ...

    # -- BTF objects (kernel >= 5.4; btf_info carries the raw blob) -------------
    # btf_load: (fd or -errno, log text); log_size 0 = no log buffer.
    def btf_get_fd_by_id(self, btf_id: int) -> int: ...
    def btf_get_next_id(self, start_id: int) -> tuple[int, int]: ...
    def btf_info(self, fd: int) -> tuple[int, Optional[BTFInfo]]: ...
    def btf_load(self, data: bytes, log_size: int = 0, log_level: int = 1) -> tuple[int, str]: ...

    # -- elements --------------------------------------------------------------
    # ``key`` is bytes of the key size or ``backend.NULL`` (keyless maps, the first
    # GET_NEXT_KEY); ``flags`` is required: the kernel backend binds these straight to
    # the C functions, which take every argument.
    def map_lookup_elem(self, fd: int, key: Key, value_out: Buffer, flags: int) -> int: ...
    def map_update_elem(self, fd: int, key: Key, value: Buffer, flags: int) -> int: ...
    def map_delete_elem(self, fd: int, key: Key) -> int: ...
    def map_get_next_key(self, fd: int, key: Key, next_key_out: Buffer) -> int: ...
    def map_lookup_and_delete_elem(
        self, fd: int, key: Key, value_out: Buffer, flags: int
    ) -> int: ...

    # -- batch commands (kernel >= 5.6; count written back even on failure) -----
    def map_update_batch(
        self, fd: int, keys: Buffer, values: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]: ...
    def map_delete_batch(
        self, fd: int, keys: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]: ...
    def map_lookup_batch(
        self,
        fd: int,
        in_batch: Buffer | None,
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]: ...
    def map_lookup_and_delete_batch(
        self,
        fd: int,
        in_batch: Buffer | None,
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]: ...


class PerfReader(RingReader, Protocol):
    """The per-CPU perf ring of ``perf_open`` (kernel backend only)."""

    @property
    def lost(self) -> int:
        """Samples the kernel dropped because this CPU's buffer was full."""
        ...

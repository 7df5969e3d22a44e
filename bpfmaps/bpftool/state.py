"""The state one run of the bpftool runner shares between its parts.

:class:`RunState` is the base of the runner's layers, each a class in its own module
stacked on the one below (``state`` < ``jsonbatch`` < ``reporting`` < ``commands`` <
``execute`` < ``runner``): JSON batch output, reports, the ``map`` command handlers,
plan execution, and the entry points that wire them.  It declares the options,
streams and counters (set by :class:`~bpfmaps.bpftool.runner.Runner`) and the few
helpers every layer uses: the :class:`~bpfmaps.errors.CommandFailed` of a command,
a map's fd, a buffer.  No I/O of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from ..errors import CommandFailed
from .grammar import Command

if TYPE_CHECKING:
    from ..backend import Backend
    from ._safety import SafeOut, SignalStop
    from .output import Output
    from .plan import OpBlock
    from .resolve import MapRef, MapResolver

__all__ = ["RunState", "Item", "JsonItem"]

#: one item of a parsed plan: a block of op records or a single command
Item = Union["OpBlock", Command]
#: one entry of the JSON batch output: ``(index, output)``, a reference to applied ops
#: ``(block, offset, count)`` (their output is null), or a whole object (an error)
JsonItem = Union[tuple[int, Any], tuple["OpBlock", int, int], dict[str, Any]]


class RunState:
    """Options, streams and counters of one runner (see the module doc)."""

    backend: Backend
    compat: bool
    json: bool
    pretty: bool
    dry_run: bool
    fast: bool
    parallel: bool
    signals: bool
    progress: Optional[bool]
    max_size: Optional[int]
    show_pinned: bool
    out: SafeOut
    err: SafeOut
    o: Output
    #: commands applied successfully
    processed: int
    #: commands of the file (for the progress line)
    _total: int
    _last_progress: float
    error: Optional[BaseException]
    failed_line: Optional[int]
    _stop: Optional[SignalStop]
    _file: str
    _data: Any  # bytes, or the file's mmap
    _mm: Any
    _released: int
    _ncpus: int
    _resolver: Optional[MapResolver]
    _btf: Any  # bpfmaps.btf.output.BTFCache, made on first use
    _json_items: list[JsonItem]
    #: command index -> words shown in JSON (kept as commands run)
    _index_words: dict[int, list[str]]

    def _fail(
        self,
        cmd_or_line: Union[Command, int],
        message: str,
        err: Optional[int],
        index: Optional[int] = None,
    ) -> CommandFailed:
        """The failure of a command (or of the op at a line).  Cost: O(1)."""
        if isinstance(cmd_or_line, Command):
            line, index = cmd_or_line.line or 0, cmd_or_line.index
        else:
            line = cmd_or_line
        return CommandFailed(message, errno=err, line=line, index=index or 0)

    def _fd(self, m: MapRef, cmd: Union[Command, int]) -> int:
        """The fd of map ``m`` (opened now for a map created earlier in the file);
        CommandFailed when it cannot be opened.  Cost: at most one OBJ_GET."""
        try:
            return m.ensure_fd()
        except OSError as e:
            raise self._fail(cmd, e.strerror or str(e), None) from None

    def _buf(self, size: int) -> Any:
        """A zeroed backend buffer of at least one byte.  Cost: one allocation."""
        return self.backend.alloc(max(size, 1))

    def _key(self, key: Optional[bytes]) -> Any:
        """``key``, or the backend's NULL for no key."""
        return self.backend.NULL if key is None else key

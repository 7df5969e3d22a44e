"""The state one run of the bpftool runner shares between its parts.

:class:`RunState` is the base of the runner's layers, each a class stacked on the one
below (``RunState`` < :class:`Reports`, here too < ``failures`` (with ``jsonbatch``) <
``commands`` < ``execute`` < ``runner``): success and progress reports, JSON batch output
and failure reports, the ``map`` command handlers, plan execution, and the entry
points that wire them.  At run time the cold layers (``jsonbatch``, ``failures``,
``commands``) join a runner's class on first use (``Runner.__getattr__``): a
successful plain batch file never loads them.  It declares the options,
streams and counters (its constructor is :class:`~bpfmaps.bpftool.runner.Runner`'s) and the few
helpers every layer uses: the :class:`~bpfmaps.errors.CommandFailed` of a command,
a map's fd, a buffer.  No I/O of its own.
"""

from __future__ import annotations

import sys
import time

from ..errors import CommandFailed
from . import cprint, scan
from ._safety import SafeOut, SignalStop
from .handle import Command

TYPE_CHECKING = False
if TYPE_CHECKING:  # (type aliases for checkers only: no typing work at start-up)
    from typing import IO, Any, Optional, Union

    from ..backend import Backend
    from .output import Output
    from .plan import OpBlock
    from .resolve import MapRef, MapResolver

    #: one item of a parsed plan: a block of op records or a single command
    Item = Union[OpBlock, Command]
    #: one entry of the JSON batch output: ``(index, output)``, a reference to applied
    #: ops ``(block, offset, count)`` (their output is null), the same with the values
    #: of the lookups among them that C ran and the maps' BTF programs ``(block, offset,
    #: count, values, fmts)``, or a whole object (an error)
    JsonItem = Union[
        tuple[int, Any],
        tuple[OpBlock, int, int],
        tuple[OpBlock, int, int, bytes, Optional[list[Any]]],
        dict[str, Any],
    ]

__all__ = ["RunState", "Reports", "PROGRESS_MIN"]


def _default_backend() -> Backend:
    """:func:`bpfmaps.backend.default_backend`, without importing that module when it
    was never imported: a fake kernel becomes the default only inside its
    ``use_backend`` (which ``bpfmaps.testing.fake_kernel`` uses too), so until
    something imports :mod:`bpfmaps.backend` the default is the process-wide kernel
    backend (start-up: one module less for ``bpfmaps batch file``).  Cost: O(1)."""
    mod = sys.modules.get("bpfmaps.backend")
    if mod is not None:
        b: Backend = mod.default_backend()
        return b
    from ..kernel import shared  # start-up: bpfmaps.backend not loaded for the default

    return shared()


class RunState:
    """Options, streams and counters of one runner (see the module doc)."""

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        compat: bool = False,
        json: bool = False,
        pretty: bool = False,
        dry_run: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        progress: bool | None = None,
        fast: bool = True,
        parallel: bool = True,
        signals: bool = False,
        max_size: Optional[int] = None,
    ) -> None:
        """The runner's options (``backend`` None: the default backend; ``pretty``
        implies ``json``; ``progress`` None: on a terminal for big files; ``fast``: the
        C scanner and loops; ``parallel``: parallel apply where provably identical;
        ``signals``: SIGINT/SIGTERM stop between commands; ``max_size``: input cap).
        Cost: one possible-CPUs query."""
        self.backend: Backend = backend if backend is not None else _default_backend()
        self.compat: bool = compat
        self.json: bool = json or pretty
        self.pretty: bool = pretty
        self.dry_run: bool = dry_run
        #: a closed stdout (EPIPE) stops the run with a report instead of a traceback
        self.out: SafeOut = SafeOut(stdout if stdout is not None else sys.stdout)
        self.err: SafeOut = SafeOut(stderr if stderr is not None else sys.stderr)
        self.progress: Optional[bool] = progress
        self.fast: bool = fast
        #: let the batch engine apply runs in threads where provably identical
        self.parallel: bool = parallel
        #: commands applied successfully
        self.processed: int = 0
        #: SIGINT/SIGTERM stop the run between commands (and the C loops) with a report
        self.signals: bool = signals
        #: cap on input read from pipes/devices/stdin (None: DEFAULT_MAX_SIZE; also
        #: applied to regular files when given)
        self.max_size: Optional[int] = max_size
        self._stop: Optional[SignalStop] = None
        #: the error that ended the last run (None: it succeeded)
        self.error: Optional[BaseException] = None
        #: the line of the command that failed (None: none did)
        self.failed_line: Optional[int] = None
        self._json_items: list[JsonItem] = []
        #: JSON batch output: commands in _json_items, "[" written, the lexer of
        #: the words not kept and how far it read (bpftool/jsonbatch.py)
        self._json_pending = 0
        self._json_started = False
        self._json_lexer: Any = None
        self._json_lexed = 0
        self._mm: Any = None
        self._released = 0
        #: command index -> words shown in JSON (kept as commands run)
        self._index_words: dict[int, list[str]] = {}
        self._file = "-"
        self._data: Any = b""  # bytes, or the file's mmap
        self._ncpus: int = self.backend.possible_cpus()
        #: commands of the file (for the progress line)
        self._total = 0
        self._last_progress = 0.0
        self._resolver: Optional[MapResolver] = None
        self._btf: Any = None  # bpfmaps.btf.output.BTFCache, made on first use
        #: compiled BTF output programs (cprint.FormatRun or None: formatted in Python),
        #: by map and layout
        self._fmt_progs: dict[tuple[Any, ...], Any] = {}
        #: list each map's pin paths in ``map show`` (bpftool's ``-f``)
        self.show_pinned: bool = False
        self._o: Optional[Output] = None

    @property
    def o(self) -> Output:
        """Where commands report what they print (:mod:`bpfmaps.bpftool.output`), made
        on first use: a batch file of updates and deletes prints nothing through it (the
        C loop prints plain lookups; start-up: no ``output`` import).  Cost: O(1)."""
        o = self._o
        if o is None:
            from .output import make_output  # start-up: only what prints in Python

            o = self._o = make_output(self.json, self.pretty, self.out, self.err, self._ncpus)
        return o

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


#: show a progress line on a terminal for files with at least this many commands
PROGRESS_MIN = 200_000


class Reports(RunState):
    """The runner's reports of a run that goes well: the final ``processed N
    commands`` (or the closed-stdout report after the last command) and the progress
    line on a terminal (drawn after each engine or loop call; it never changes what
    runs).  The failure reports (failed commands, parse errors, internal errors,
    stops) are :mod:`.failures`', a layer above this one that a successful plain batch
    file never loads (it joins the runner's class on first use,
    ``Runner.__getattr__``).  Here rather than in a module of its own: one module
    less at start-up (:mod:`.reporting` re-exports it)."""

    def _success(self) -> int:
        self._clear_progress()
        if not self.json:
            self.out.write(f"processed {self.processed} commands\n")
            self.out.flush()
            return self._broken_at_end()
        return 0

    def _broken_at_end(self) -> int:
        """Status after the last command: 141 (128 + SIGPIPE, what a shell shows for
        bpftool killed by SIGPIPE) with a report on stderr when stdout was closed."""
        if not self.out.broken:
            return 0
        self.err.write(
            f"Error: standard output closed (broken pipe); all {self.processed} commands "
            "were applied, some of their output was lost\n"
        )
        return 141

    # -- BTF output -----------------------------------------------------------------
    # (here, below the executor and the command handlers, which both print entries
    # of maps with BTF: a batch file of lookups on such maps loads bpfmaps.btf, and
    # not the command handlers)
    def _btf_of(self, info: Any) -> Any:
        """The map's value BTF (cached per BTF object), or None for maps without it."""
        if not (info.btf_value_type_id or info.btf_vmlinux_value_type_id):
            return None
        if self._btf is None:
            from ..btf.output import BTFCache

            self._btf = BTFCache(self.backend)
        return self._btf.get(info)

    def _entry_run(self, m: Any, btf: Any) -> Any:
        """The compiled program of one entry's BTF object of ``m`` (cprint.FormatRun at
        depth 0; plain: pretty), or None (the Python dumper prints it: no extension, a
        type the program declines, a keyless map)."""
        info = m.info
        if not (self.fast and scan.available()) or info.key_size == 0:
            return None
        key = ("entry", info.id, info.btf_id, self.json, m.value_buf_size, self._ncpus)
        if key not in self._fmt_progs:
            from ..btf.fmtprog import compile_entry  # start-up: BTF maps only

            program = compile_entry(btf, info, m.value_buf_size, self._ncpus, plain=not self.json)
            run = None
            if program is not None:
                run = cprint.FormatRun(program, 0, not self.json or self.pretty)
            self._fmt_progs[key] = run
        return self._fmt_progs[key]

    # -- progress -----------------------------------------------------------------
    def _show_progress(self) -> bool:
        if self.progress is not None:
            return self.progress
        try:
            return self._total >= PROGRESS_MIN and self.err.isatty()
        except (AttributeError, ValueError):
            return False

    def _tick(self) -> None:
        if not self._total or not self._show_progress():
            return
        now = time.monotonic()
        if now - self._last_progress < 0.1:
            return
        self._last_progress = now
        self.err.write(f"\rbpfmaps: {self.processed}/{self._total} commands applied")
        self.err.flush()

    def _clear_progress(self) -> None:
        if self._last_progress:
            self.err.write("\r\033[K")
            self._last_progress = 0.0

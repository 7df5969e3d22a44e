"""Run bpftool batch files (and single bpftool ``map`` commands) against a Backend.

Default (safe) mode:

1. the WHOLE file is read, split and parsed first, resolving each map handle once
   (each map is opened once); a syntax error anywhere applies nothing;
2. commands then run in file order; consecutive updates to the same map with the
   same flag go through the batch engine of :mod:`bpfmaps.engine` as one packed
   buffer (plain upserts: ``BPF_MAP_UPDATE_BATCH``, in parallel threads where
   that provably gives the serial result; transparent per-element fallback for map
   types/kernels without it), everything else per element;
3. execution stops at the first failing command, like bpftool, and the report
   names its file:line, the command text, the kernel error and how many commands
   were applied before it.

``compat=True`` parses and executes incrementally like bpftool (commands before a
bad line are applied) and writes bpftool's bytes for its silently-changed inputs;
it never reproduces bpftool's stale-errno false failure: success is decided by
each command's own result.

Output follows bpftool: ``processed N commands`` on stdout, ``Error: ...`` on
stderr, exit status 255 or ``(256 - errno) & 0xff`` for kernel errors; ``json=True``
writes bpftool's ``[{"command": [...], "output": ...}, ...]`` array.

Works with any :class:`~bpfmaps.backend.Backend` (the real kernel or the fake).

This module wires the runner's layers (each in its own module, see
:mod:`.state`): map handles (:mod:`.resolve`), JSON batch output (:mod:`.jsonbatch`),
reports and progress (:class:`.state.Reports`), the ``map`` commands (:mod:`.commands`) and
plan execution (:mod:`.execute`); here are the entry points, the checked, two-pass
and incremental modes, and reading the file (mmap, size cap).
"""

from __future__ import annotations

import errno as _errno
import gc
import os
import stat
import sys

from ..errors import CommandFailed, ParseError
from ._safety import (
    DEFAULT_MAX_SIZE,
    InputTooLarge,
    Interrupted,
    SignalStop,
    read_capped,
)
from .execute import BlockExecutor
from .parse import parse_batch
from .plan import OpBlock
from .resolve import MapRef, MapResolver, Undeclared

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from typing import IO, Any, Optional

    from ..backend import Backend
    from .parse import FileData
    from .state import Item

__all__ = ["MapRef", "MapResolver", "Runner", "CommandFailed", "run_batch_file"]


class Runner(BlockExecutor):
    """Executes parsed commands; holds output streams, options and counters.

    ``Runner(backend=None, *, compat=False, json=False, pretty=False, dry_run=False,
    stdout=None, stderr=None, progress=None, fast=True, parallel=True, signals=False,
    max_size=None)`` (see :class:`~bpfmaps.bpftool.state.RunState`).  ``processed``
    counts commands applied successfully.  Use :meth:`run_file`, :meth:`run_data` or
    :meth:`run_words`; each returns the exit status and closes every fd it opened."""

    if not TYPE_CHECKING:  # (type checkers see the whole stack: BlockExecutor's bases)

        def __getattr__(self, name: str) -> Any:
            return _cold_layers(self, name)

    # -- entry points -------------------------------------------------------------
    def run_file(self, path: str) -> int:
        """Run the batch file at ``path`` (``-`` = stdin).  Returns the exit status.

        Regular files of at least READ_MAX bytes are mapped (bounded by their size at
        open); smaller ones, pipes, devices and stdin are read up to ``max_size`` bytes
        (default 1 GiB), beyond which nothing is applied and the error names the limit."""
        mm = None
        data: FileData
        limit = self.max_size or DEFAULT_MAX_SIZE
        try:
            if path == "-":
                stdin = getattr(sys.stdin, "buffer", None)
                if stdin is None:
                    return self._fail_plain("cannot read stdin")
                try:
                    data = read_capped(stdin, limit)
                except OSError as e:
                    return self._fail_plain(f"cannot read stdin: {os.strerror(e.errno or 0)}")
            else:
                with open(path, "rb") as f:
                    mm = self._mm = _map_file(f)
                    if mm is not None and self.max_size and len(mm) > self.max_size:
                        raise InputTooLarge(self.max_size)
                    data = mm if mm is not None else read_capped(f, limit)
        except InputTooLarge as e:
            if mm is not None:
                _close_map(mm)
            return self._fail_plain(
                f"{'stdin' if path == '-' else path}: input is larger than --max-size "
                f"({e.limit} bytes); nothing was applied (raise the limit with --max-size BYTES)"
            )
        except OSError as e:
            if e.errno == _errno.EISDIR:
                return self._fail_plain("reading batch file failed: Is a directory")
            return self._fail_plain(
                f"Can't open file ({path}): {os.strerror(e.errno or 0)}", bare=True
            )
        try:
            return self.run_data(data, path)
        finally:
            self._data = b""
            self._mm = None
            del data
            if mm is not None:
                _close_map(mm)

    def run_data(self, data: FileData, file: str = "-") -> int:
        """Run a batch file's contents.  Returns the exit status.  With
        ``signals=True`` (the CLI), SIGINT/SIGTERM stop it between commands with the
        usual report and status 130/143 (see :class:`._safety.SignalStop`)."""
        if self.json:
            _join(self)  # -j uses the JSON batch layer from the first command on
        if self.signals and self._stop is None:
            self._stop = SignalStop(self.backend)
            try:
                with self._stop:
                    return self.run_data(data, file)
            finally:
                self._stop = None
        self._file, self._data = file, data
        resolver = self._resolver = MapResolver(self.backend)
        try:
            if self.compat and not self.dry_run:
                status = self._run_incremental(data, file, resolver)
            else:
                status = self._run_checked(data, file, resolver)
        finally:
            resolver.close()
        if self.json:
            self._emit_json_batch()
            self.out.flush()
            if status == 0:
                status = self._broken_at_end()
        return status

    def run_words(self, words: list[str]) -> int:
        """Run one command given as argv words (str).  Returns the exit status."""
        _join(self)  # an argv command runs through the command handlers
        lw = [os.fsencode(w).decode("latin-1") for w in words]
        resolver = self._resolver = MapResolver(self.backend)
        self._file = "<argv>"
        try:
            from .grammar import parse_command  # the reference grammar: argv commands

            try:
                cmd = parse_command(
                    lw,
                    resolver,
                    file=None,
                    line=None,
                    possible_cpus=self._ncpus,
                    compat=self.compat,
                )
            except ParseError as e:
                status = self._report_parse_error(e, argv=True)
                self.o.finish()
                return status
            if self.dry_run:
                return 0
            try:
                self._exec(cmd)
            except CommandFailed as e:
                status = self._report_failure(e, argv=True)
                self.o.finish()
                return status
            except Exception as e:
                status = self._report_internal(e, cmd, 0, argv=True)
                self.o.finish()
                return status
            self.o.finish()
            return 0
        finally:
            resolver.close()

    # -- modes --------------------------------------------------------------------
    def _run_checked(self, data: FileData, file: str, resolver: MapResolver) -> int:
        """The checked mode, with the cyclic GC off while the file is parsed and run:
        parsing allocates many small objects (commands, buffers) and creates no
        reference cycles, and each collection would walk all of them again.  (Written
        out here and in _run_incremental, not as a context-manager class: one class
        less to build at start-up.)"""
        was = gc.isenabled()
        gc.disable()
        try:
            return self._run_checked_gc(data, file, resolver)
        finally:
            if was:
                gc.enable()

    def _run_checked_gc(self, data: FileData, file: str, resolver: MapResolver) -> int:
        if len(data) >= CHUNKED_MIN:
            return self._run_two_pass(data, file, resolver)
        stop = self._stop
        try:
            if stop is not None:
                stop.parsing = True  # a stop signal now raises Interrupted
            items = list(
                parse_batch(
                    data,
                    resolver,
                    file=file,
                    possible_cpus=self._ncpus,
                    compat=self.compat,
                    fast=self.fast,
                    runs=not self.json,  # (JSON output reads every op's record)
                )
            )
        except ParseError as e:
            return self._report_parse_error(e)
        except Interrupted as e:
            return self._report_interrupted_parse(e.signum)
        except Exception as e:  # a bug while parsing: nothing was applied yet
            return self._report_internal(e, None, 0)
        finally:
            if stop is not None:
                stop.parsing = False
        total = sum(it.count if type(it) is OpBlock else 1 for it in items)
        self._total = total
        if self.dry_run:
            return self._dry_run_done(resolver, total)
        for it in items:
            status = self._apply_item(it)
            if status is not None:
                return status
        return self._success()

    def _apply_item(self, it: Item) -> Optional[int]:
        """Apply one parsed item (every mode; a stop signal or a broken output stops
        before it): None, or the exit status of the run that stopped at it, its
        report written."""
        before = self.processed
        stop = self._stop
        try:
            if (stop is not None and stop.signum) or self.out.broken:
                raise self._halt(it)
            self._exec_item(it)
        except CommandFailed as e:
            return self._report_failure(e)
        except Exception as e:
            return self._report_internal(e, it, before)
        return None

    def _dry_run_done(self, resolver: MapResolver, total: int) -> int:
        """``--dry-run`` after the whole file was parsed and checked: the summary line
        (on stderr in JSON mode), status 0, nothing applied."""
        maps = {id(r) for r in resolver.refs}
        print(
            f"dry run: {total} commands parsed and checked against {len(maps)} map(s); nothing applied",
            file=self.out if not self.json else self.err,
        )
        return 0

    def _run_two_pass(self, data: FileData, file: str, resolver: MapResolver) -> int:
        """Big files in bounded memory, the whole-file check kept: pass 1 parses and
        checks everything, keeping nothing but the resolved maps; pass 2 parses again
        and applies block by block (at most CHUNKED_BLOCK ops at a time).  File pages
        behind the cursor are dropped from the mapping as it goes."""
        kw: dict[str, Any] = dict(
            file=file,
            possible_cpus=self._ncpus,
            compat=self.compat,
            fast=self.fast,
            block_max=CHUNKED_BLOCK,
            runs=not self.json,  # (JSON output reads every op's record)
        )
        total = 0
        stop = self._stop
        try:
            if stop is not None:
                stop.parsing = True  # pass 1 applies nothing: a stop signal raises
            for it in parse_batch(data, resolver, **kw):
                total += it.count if type(it) is OpBlock else 1
                self._release(it)
        except ParseError as e:
            return self._report_parse_error(e)
        except Interrupted as e:
            return self._report_interrupted_parse(e.signum)
        except Exception as e:  # a bug while parsing: nothing was applied yet
            return self._report_internal(e, None, 0)
        finally:
            if stop is not None:
                stop.parsing = False
        self._total = total
        if self.dry_run:
            return self._dry_run_done(resolver, total)
        self._released = 0  # pass 2 reads the pages again
        try:
            for it in parse_batch(data, Undeclared(resolver), **kw):
                status = self._apply_item(it)
                if status is not None:
                    return status
                self._release(it)
        except ParseError as e:  # pragma: no cover - pass 1 checked the same file
            return self._report_parse_error(e)
        except Exception as e:
            return self._report_internal(e, None, self.processed)
        return self._success()

    def _release(self, it: Item) -> None:
        """Drop the file's pages before the last op of ``it`` from our mapping."""
        mm = self._mm
        if mm is None or not isinstance(it, OpBlock) or not it.count:
            return
        pos = it.op(it.count - 1)[6] & ~0xFFFFF  # whole MiBs
        if pos > self._released:
            import mmap  # (loaded by _map_file already)

            try:
                mm.madvise(mmap.MADV_DONTNEED, 0, pos)
                self._released = pos
            except (OSError, ValueError, AttributeError):  # pragma: no cover
                self._mm = None

    def _run_incremental(self, data: FileData, file: str, resolver: MapResolver) -> int:
        was = gc.isenabled()  # cyclic GC off while the file runs (see _run_checked)
        gc.disable()
        try:
            return self._run_incremental_gc(data, file, resolver)
        finally:
            if was:
                gc.enable()

    def _run_incremental_gc(self, data: FileData, file: str, resolver: MapResolver) -> int:
        self._total = 0
        gen = parse_batch(
            data,
            resolver,
            file=file,
            possible_cpus=self._ncpus,
            compat=True,
            fast=self.fast,
            runs=not self.json,  # (JSON output reads every op's record)
        )
        while True:
            try:
                it = next(gen)
            except StopIteration:
                break
            except ParseError as e:
                return self._report_parse_error(e)
            except Exception as e:
                return self._report_internal(e, None, self.processed)
            status = self._apply_item(it)
            if status is not None:
                return status
            self._release(it)
        return self._success()


#: class -> the same class with the cold layers (see _cold_layers)
_WHOLE: dict[type, type] = {}


def _cold_layers(runner: Runner, name: str) -> Any:
    """An attribute of the runner's cold layers: the ``map`` command handlers
    (:mod:`.commands`: commands the C loops hand back, argv commands), the failure
    reports (:mod:`.failures`) and the JSON batch output (:mod:`.jsonbatch`).  A
    successful plain batch file never uses them, so at run time the runner's class
    stands without them (start-up: three modules and their classes,
    tests/bpftool/test_small_file_imports.py); the first lookup that misses
    (``Runner.__getattr__``) moves the instance to the same class with the layers
    joined, in the order the type checkers see (Runner, BlockExecutor, Commands,
    Failures, Reports, JsonBatch, RunState), and reads the attribute there.  A miss on
    the whole class is an AttributeError as usual.  Cost: three imports and one class,
    once per process and runner class; nothing after."""
    if name[:2] == "__" or not _join(runner):  # dunders (copy, pickle): no layers
        raise AttributeError(f"{type(runner).__name__!r} object has no attribute {name!r}")
    return getattr(runner, name)


def _join(runner: Runner) -> bool:
    """Move ``runner`` to its class with the cold layers joined (see _cold_layers);
    False when it has them already.  Also called before a JSON run or an argv
    command, which use them from their first command: the layers load before the
    first command runs, as they did when every layer loaded at import.  Cost: the
    imports and the class once per process and runner class."""
    from .commands import Commands
    from .jsonbatch import JsonBatch

    cls = type(runner)
    if issubclass(cls, Commands):
        return False
    whole = _WHOLE.get(cls)
    if whole is None:
        ns = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        whole = _WHOLE.setdefault(cls, type(cls.__name__, (cls, Commands, JsonBatch), ns))
    runner.__class__ = whole
    return True


#: files of at least this many bytes run in two passes with bounded memory (see
#: Runner._run_two_pass); smaller ones are parsed once and kept whole
CHUNKED_MIN = 64 << 20
#: ops per block in that mode (about 9 MiB of records and arenas, 20 MiB of file)
CHUNKED_BLOCK = 1 << 17


#: regular files smaller than this are read (one copy, cheaper than a mapping for a
#: small file, and no ``mmap`` import: start-up); bigger ones are mapped
READ_MAX = 1 << 20


def _map_file(f: IO[bytes]) -> Optional[mmap.mmap]:
    """A read-only mmap of a regular file of at least READ_MAX bytes (pages populated
    up front: no copy into our heap), or None to fall back to read()."""
    try:
        st = os.fstat(f.fileno())
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size < READ_MAX:
        return None
    import mmap  # start-up: small files are read

    flags = mmap.MAP_PRIVATE
    if st.st_size < CHUNKED_MIN:  # big files are read page by page, and dropped behind
        flags |= getattr(mmap, "MAP_POPULATE", 0)
    try:
        return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None


def _close_map(mm: mmap.mmap) -> None:
    try:
        mm.close()
    except BufferError:  # a cffi view is still alive somewhere: collect it first
        gc.collect()
        try:
            mm.close()
        except BufferError:  # pragma: no cover - closed when the last view dies
            pass


def run_batch_file(
    path: str,
    *,
    backend: Backend | None = None,
    compat: bool = False,
    json: bool = False,
    dry_run: bool = False,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run a bpftool batch file like ``bpftool batch file PATH``; returns the exit status.

    Safe mode checks the whole file before applying anything; see the module doc.
    Errors are reported on ``stderr``; nothing is raised for bad input or failed
    commands.  Cost: O(file size) parsing (C fast path for plain update lines) plus
    each run of consecutive updates to a map through :func:`bpfmaps.engine.update_packed`
    (BPF_MAP_UPDATE_BATCH, in parallel threads where provably identical), one
    syscall per other command."""
    return Runner(
        backend, compat=compat, json=json, dry_run=dry_run, stdout=stdout, stderr=stderr
    ).run_file(path)

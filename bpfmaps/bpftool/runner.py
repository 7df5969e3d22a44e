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
"""

from __future__ import annotations

import errno as _errno
import os
import sys
import time
from typing import IO, Any, Optional

from ..backend import Backend, default_backend
from ..engine import FdTarget
from ..errors import ParseError, strerror
from ..types import PERCPU_TYPES, MapInfo, round_up8
from ._safety import Interrupted, SafeOut
from .bytes import _show
from .execute import BlockExecutor, CommandFailed
from .grammar import (
    Command,
    Create,
    Delete,
    Dump,
    Freeze,
    GetNext,
    Handle,
    Help,
    Lookup,
    Pin,
    Show,
    Update,
    Version,
    parse_command,
)
from .lexer import Lexer
from .output import JsonOutput, Output, make_output, render_json
from .parse import parse_batch
from .plan import OpBlock

__all__ = ["MapRef", "MapResolver", "Runner", "CommandFailed", "run_batch_file"]

#: show a progress line on a terminal for files with at least this many commands
PROGRESS_MIN = 200_000

MAP_HELP = """Usage: bpfmaps map { show | list }   [MAP]
       bpfmaps map create     FILE type TYPE key KEY_SIZE value VALUE_SIZE \\
                              entries MAX_ENTRIES name NAME [flags FLAGS] \\
                              [inner_map MAP]
       bpfmaps map dump       MAP
       bpfmaps map update     MAP [key DATA] [value VALUE] [UPDATE_FLAGS]
       bpfmaps map lookup     MAP [key DATA]
       bpfmaps map getnext    MAP [key DATA]
       bpfmaps map delete     MAP  key DATA
       bpfmaps map pin        MAP  FILE
       bpfmaps map peek       MAP
       bpfmaps map push       MAP value VALUE
       bpfmaps map pop        MAP
       bpfmaps map enqueue    MAP value VALUE
       bpfmaps map dequeue    MAP
       bpfmaps map freeze     MAP
       bpfmaps map help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       DATA := { [hex] BYTES }
       VALUE := { DATA | MAP | PROG }
       UPDATE_FLAGS := { any | exist | noexist }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | --bpftool-compat | --dry-run }
"""


class MapRef:
    """One map used by a batch: its handle, info and the fd the runner opened.

    ``type``/``key_size``/``value_size`` are what the grammar needs; ``fd`` is -1
    for a map that a ``map create`` earlier in the file will create."""

    __slots__ = ("backend", "handle", "info", "fd", "path", "value_buf_size", "_target")

    def __init__(
        self, backend: Backend, handle: Any, info: MapInfo, fd: int, path: str | None = None
    ):
        self.backend = backend
        self.handle = handle
        self.info = info
        self.fd = fd
        self.path = path
        self._target = None
        ncpus = backend.possible_cpus() if info.type in PERCPU_TYPES else 1
        self.value_buf_size = (
            round_up8(info.value_size) * ncpus
            if ncpus > 1 or info.type in PERCPU_TYPES
            else info.value_size
        )

    type = property(lambda self: self.info.type)
    key_size = property(lambda self: self.info.key_size)
    value_size = property(lambda self: self.info.value_size)

    def describe(self) -> str:
        if self.info.id:
            return self.info.describe()
        return str(self.handle)

    def ensure_fd(self) -> int:
        if self.fd < 0 and self.path is not None:
            fd = self.backend.obj_get(self.path, 0)
            if fd < 0:
                raise OSError(-fd, f"bpf obj get ({self.path}): {strerror(-fd)}")
            self.fd = fd
        return self.fd

    def target(self):
        """The batch engine's view of this map (:class:`bpfmaps.engine.FdTarget`)."""
        t = self._target
        if t is None or t.fd != self.fd or t.info is not self.info:
            t = self._target = FdTarget(self.backend, self.fd, self.info, self.value_buf_size)
        return t

    def __repr__(self) -> str:
        return f"MapRef({self.handle}, fd={self.fd})"


def _priv_hint(err: int) -> Optional[str]:
    if err == _errno.EPERM:
        return "bpf(2) needs CAP_BPF (or CAP_SYS_ADMIN) here: run as root or grant the capability"
    return None


def _c_dirname(path: str) -> str:
    """glibc ``dirname(3)``."""
    p = path.rstrip("/")
    if not p:
        return "/" if path else "."
    i = p.rfind("/")
    if i < 0:
        return "."
    d = p[:i].rstrip("/")
    return d or "/"


def obj_get_message(backend: Backend, word: str, err: int) -> str:
    """bpftool's ``open_obj_pinned`` message for a failed OBJ_GET of ``word``.  On
    EACCES bpftool prints the directory (its ``dirname()`` rewrote the buffer), and
    says when that directory is not on a bpffs."""
    shown = _show(word)
    if err == _errno.EACCES:
        d = _c_dirname(shown)
        text = (
            strerror(err)
            if backend.is_bpffs(_fs(_c_dirname(word)))
            else "directory not in bpf file system (bpffs)"
        )
        return f"bpf obj get ({d}): {text}"
    return f"bpf obj get ({shown}): {strerror(err)}"


def _fs(text: str) -> str:
    """A latin-1 word (file bytes) as a filesystem path str."""
    return os.fsdecode(text.encode("latin-1"))


class MapResolver:
    """Resolves MAP handles to :class:`MapRef` objects, opening each map once.

    Errors are ParseError with bpftool's wording (``get map by id (N): ...``,
    ``bpf obj get (PATH): ...``, ``several maps match this handle``); a name that
    matches nothing is an error here (bpftool fails silently).  ``close()`` closes
    every fd it opened."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.cache: dict[Any, MapRef] = {}
        self.multi: dict[Any, list[MapRef]] = {}
        self.declared: dict[str, MapRef] = {}
        self.refs: list[MapRef] = []

    def _ref(self, handle, fd: int, path: str | None = None) -> MapRef:
        try:
            rc, info = self.backend.map_info(fd)
        except BaseException:  # never leak the fd, whatever happens
            self.backend.close(fd)
            raise
        if rc < 0 or info is None:
            self.backend.close(fd)
            if path is not None and rc == -_errno.EINVAL:
                raise ParseError("incorrect object type: prog")
            raise ParseError(f"can't get map info: {strerror(-rc)}")
        ref = MapRef(self.backend, handle, info, fd)
        self.refs.append(ref)
        return ref

    def _by_name(self, name: str) -> list[MapRef]:
        b = self.backend
        out = []
        cur = 0
        want = name.encode("latin-1")
        while True:
            rc, nxt = b.map_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                break
            cur = nxt
            fd = b.map_get_fd_by_id(nxt, 0)
            if fd < 0:
                continue
            try:
                rc, info = b.map_info(fd)
            except BaseException:
                b.close(fd)
                raise
            if rc < 0 or info is None or info.name.encode("utf-8", "surrogateescape") != want:
                b.close(fd)
                continue
            ref = MapRef(b, Handle("name", name), info, fd)
            self.refs.append(ref)
            out.append(ref)
        return out

    def resolve_all(self, handle: Handle) -> list[MapRef]:
        if handle.kind != "name":
            return [self(handle)]
        if handle in self.multi:
            return self.multi[handle]
        refs = self._by_name(handle.value)
        if not refs:
            e = ParseError(f"no map named '{_show(handle.value)}' (bpftool fails silently)")
            e.bpftool_silent = True  # type: ignore[attr-defined]
            raise e
        self.multi[handle] = refs
        return refs

    def __call__(self, handle: Handle) -> MapRef:
        ref = self.cache.get(handle)
        if ref is not None:
            return ref
        b = self.backend
        if handle.kind == "id":
            fd = b.map_get_fd_by_id(handle.value, 0)
            if fd < 0:
                e = ParseError(f"get map by id ({handle.value}): {strerror(-fd)}")
                e.bpftool_hint = _priv_hint(-fd)  # type: ignore[attr-defined]
                raise e
            ref = self._ref(handle, fd)
        elif handle.kind == "pinned":
            path = _fs(handle.value)
            if handle.value in self.declared:
                ref = self.declared[handle.value]
            else:
                fd = b.obj_get(path, 0)
                if fd < 0:
                    raise ParseError(obj_get_message(b, handle.value, -fd))
                ref = self._ref(handle, fd, path)
        else:
            refs = self.resolve_all(handle)
            if len(refs) > 1:
                raise ParseError("several maps match this handle")
            ref = refs[0]
        self.cache[handle] = ref
        return ref

    def declare(self, cmd: Command) -> None:
        """Remember maps created/pinned earlier in the file for later ``pinned`` handles."""
        if isinstance(cmd, Create):
            info = MapInfo.make(
                cmd.type,
                id=0,
                key_size=cmd.key_size,
                value_size=cmd.value_size,
                max_entries=cmd.max_entries,
                flags=cmd.flags,
                name=cmd.name[:15],
            )
            ref = MapRef(self.backend, Handle("pinned", cmd.path), info, -1, _fs(cmd.path))
            self.refs.append(ref)
            self.declared[cmd.path] = ref
        elif isinstance(cmd, Pin):
            self.declared[cmd.path] = cmd.map

    def close(self) -> None:
        for ref in self.refs:
            if ref.fd >= 0:
                self.backend.close(ref.fd)
                ref.fd = -1
        self.refs.clear()
        self.cache.clear()
        self.multi.clear()
        self.declared.clear()


class Runner(BlockExecutor):
    """Executes parsed commands; holds output streams, options and counters.

    ``processed`` counts commands applied successfully.  Use :meth:`run_file`,
    :meth:`run_data` or :meth:`run_words`; each returns the exit status and
    closes every fd it opened."""

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
        self.backend = backend if backend is not None else default_backend()
        self.compat = compat
        self.json = json or pretty
        self.pretty = pretty
        self.dry_run = dry_run
        #: a closed stdout (EPIPE) stops the run with a report instead of a traceback
        self.out = SafeOut(stdout if stdout is not None else sys.stdout)
        self.err = SafeOut(stderr if stderr is not None else sys.stderr)
        self.progress = progress
        self.fast = fast
        #: let the batch engine apply runs in threads where provably identical
        self.parallel = parallel
        self.processed = 0
        #: SIGINT/SIGTERM stop the run between commands (and the C loops) with a report
        self.signals = signals
        #: cap on input read from pipes/devices/stdin (None: DEFAULT_MAX_SIZE; also
        #: applied to regular files when given)
        self.max_size = max_size
        self._stop: Any = None
        self.error: BaseException | None = None
        self.failed_line: int | None = None
        self._json_items: list = []
        self._mm: Any = None
        self._released = 0
        #: command index -> words shown in JSON (kept as commands run)
        self._index_words: dict[int, list[str]] = {}
        self._file = "-"
        self._data = b""
        self._ncpus = self.backend.possible_cpus()
        self._total = 0
        self._last_progress = 0.0
        self._resolver: MapResolver | None = None
        self._btf: Any = None  # bpfmaps.btf.output.BTFCache, made on first use
        #: list each map's pin paths in ``map show`` (bpftool's ``-f``)
        self.show_pinned = False
        #: where commands report what they print (bpfmaps.bpftool.output)
        self.o: Output = make_output(self.json, pretty, self.out, self.err, self._ncpus)

    # -- entry points -------------------------------------------------------------
    def run_file(self, path: str) -> int:
        """Run the batch file at ``path`` (``-`` = stdin).  Returns the exit status.

        Regular files are mapped (bounded by their size at open); pipes, devices and
        stdin are read up to ``max_size`` bytes (default 1 GiB), beyond which nothing
        is applied and the error names the limit."""
        from ._safety import DEFAULT_MAX_SIZE, InputTooLarge, read_capped

        mm = None
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

    def run_data(self, data: bytes, file: str = "-") -> int:
        """Run a batch file's contents.  Returns the exit status.  With
        ``signals=True`` (the CLI), SIGINT/SIGTERM stop it between commands with the
        usual report and status 130/143 (see :class:`._safety.SignalStop`)."""
        if self.signals and self._stop is None:
            from ._safety import SignalStop

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
        lw = [os.fsencode(w).decode("latin-1") for w in words]
        resolver = self._resolver = MapResolver(self.backend)
        self._file = "<argv>"
        try:
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
    def _run_checked(self, data: bytes, file: str, resolver: MapResolver) -> int:
        with _no_gc():
            return self._run_checked_gc(data, file, resolver)

    def _run_checked_gc(self, data: bytes, file: str, resolver: MapResolver) -> int:
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
            maps = {id(r) for r in resolver.refs}
            print(
                f"dry run: {total} commands parsed and checked against {len(maps)} map(s); nothing applied",
                file=self.out if not self.json else self.err,
            )
            return 0
        out = self.out
        for it in items:
            before = self.processed
            try:
                if (stop is not None and stop.signum) or out.broken:
                    raise self._halt(it)
                self._exec_item(it)
            except CommandFailed as e:
                return self._report_failure(e)
            except Exception as e:
                return self._report_internal(e, it, before)
        return self._success()

    def _run_two_pass(self, data, file: str, resolver: MapResolver) -> int:
        """Big files in bounded memory, the whole-file check kept: pass 1 parses and
        checks everything, keeping nothing but the resolved maps; pass 2 parses again
        and applies block by block (at most CHUNKED_BLOCK ops at a time).  File pages
        behind the cursor are dropped from the mapping as it goes."""
        kw = dict(
            file=file,
            possible_cpus=self._ncpus,
            compat=self.compat,
            fast=self.fast,
            block_max=CHUNKED_BLOCK,
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
            maps = {id(r) for r in resolver.refs}
            print(
                f"dry run: {total} commands parsed and checked against {len(maps)} map(s); nothing applied",
                file=self.out if not self.json else self.err,
            )
            return 0
        self._released = 0  # pass 2 reads the pages again
        try:
            out = self.out
            for it in parse_batch(data, _Undeclared(resolver), **kw):
                before = self.processed
                try:
                    if (stop is not None and stop.signum) or out.broken:
                        raise self._halt(it)
                    self._exec_item(it)
                except CommandFailed as e:
                    return self._report_failure(e)
                except Exception as e:
                    return self._report_internal(e, it, before)
                self._release(it)
        except ParseError as e:  # pragma: no cover - pass 1 checked the same file
            return self._report_parse_error(e)
        except Exception as e:
            return self._report_internal(e, None, self.processed)
        return self._success()

    def _release(self, it) -> None:
        """Drop the file's pages before the last op of ``it`` from our mapping."""
        mm = self._mm
        if mm is None or type(it) is not OpBlock or not it.count:
            return
        pos = it.op(it.count - 1)[6] & ~0xFFFFF  # whole MiBs
        if pos > self._released:
            import mmap

            try:
                mm.madvise(mmap.MADV_DONTNEED, 0, pos)
                self._released = pos
            except (OSError, ValueError, AttributeError):  # pragma: no cover
                self._mm = None

    def _run_incremental(self, data: bytes, file: str, resolver: MapResolver) -> int:
        with _no_gc():
            return self._run_incremental_gc(data, file, resolver)

    def _run_incremental_gc(self, data: bytes, file: str, resolver: MapResolver) -> int:
        self._total = 0
        gen = parse_batch(
            data, resolver, file=file, possible_cpus=self._ncpus, compat=True, fast=self.fast
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
            before = self.processed
            try:
                if (self._stop is not None and self._stop.signum) or self.out.broken:
                    raise self._halt(it)
                self._exec_item(it)
            except CommandFailed as e:
                return self._report_failure(e)
            except Exception as e:
                return self._report_internal(e, it, before)
            self._release(it)
        return self._success()

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

    # -- stops ----------------------------------------------------------------------
    def _stop_cause(self) -> tuple[str, int] | None:
        """(message, exit status) when a signal or a closed stdout asks to stop."""
        st = self._stop
        sig = st.pending() if st is not None else 0
        if sig:
            from ._safety import signal_name

            return f"interrupted by {signal_name(sig)}", 128 + sig
        if self.out.broken:
            return "standard output closed (broken pipe)", 141
        return None

    def _halt(self, it, k: int = 0) -> CommandFailed:
        """The report for stopping before command ``k`` of item ``it``."""
        from ._safety import item_line

        msg, status = self._stop_cause() or ("stopped", 255)
        first = getattr(it, "first_index", None)
        index = (first + k) if first is not None else getattr(it, "index", 0)
        return CommandFailed(
            msg, errno=None, line=item_line(it, k), index=index, exit_status=status
        )

    def _report_interrupted_parse(self, sig: int) -> int:
        from ._safety import signal_name

        self._clear_progress()
        if self.compat and self.processed:
            what = f"{self.processed} earlier command(s) were applied"
        else:
            what = "nothing was applied"
        self._fail_plain(f"interrupted by {signal_name(sig)} while parsing {self._file}; {what}")
        return 128 + sig

    # -- reporting ----------------------------------------------------------------
    def _line_text(self, line: int) -> str:
        data = self._data
        pos = 0
        for _ in range(line - 1):
            pos = data.find(b"\n", pos) + 1
            if pos == 0:
                return ""
        end = data.find(b"\n", pos)
        text = data[pos : end if end >= 0 else len(data)]
        return text.decode("utf-8", "backslashreplace").rstrip("\r")

    def _fail_plain(self, message: str, bare: bool = False) -> int:
        from ._safety import decorate

        message = decorate(message)  # control characters escaped, long quotes cut, hint
        if self.json:
            if bare:
                self.out.write(self._dumps({"error": message}) + "\n")
            else:
                self._json_items.append({"error": message})
        else:
            self.err.write(f"Error: {message}\n")
        return 255

    def _quote_line(self, line: int, column: int = 0) -> tuple[str, int]:
        """Line ``line`` of the file as shown in a report: about 200 characters around
        ``column`` (1-based) with "..." where cut, control characters escaped.
        Returns (text, 0-based offset of ``column`` in it)."""
        from ._safety import QUOTE_MAX, escape_controls, shorten

        text, off = shorten(self._line_text(line), QUOTE_MAX, column - 1 if column else 0)
        return escape_controls(text), len(escape_controls(text[:off]))

    def _report_parse_error(self, e: ParseError, argv: bool = False) -> int:
        self._clear_progress()
        e.__traceback__ = None  # drop frames that still reference the input buffer
        self.error = e
        self.failed_line = e.line
        if argv:
            msg = e.message  # bpftool's words exactly (the token is on the command line)
            silent = hint = None
            for x in (e, e.__cause__):
                silent = silent or getattr(x, "bpftool_silent", None)
                hint = hint or getattr(x, "bpftool_hint", None)
            if getattr(e, "usage", False):
                # bpftool prints its usage text (JSON mode: null) and exits 255
                self.o.diagnostic(msg)
                if self.json:
                    self.o.done()
                else:
                    self.err.write(MAP_HELP)
            elif silent:
                self.o.diagnostic(msg)
            else:
                self.o.error(msg)
            if hint:
                self.err.write(f"Hint: {hint}\n")
            return 255
        msg = str(e)
        applied = self.processed
        if not self.compat:
            msg += "; nothing was applied (the whole file is checked before any command runs)"
        elif applied:
            msg += f"; {applied} earlier command(s) were applied"
        if not self.json and e.line:
            text, col = self._quote_line(e.line, e.column or 0)
            if text:
                msg += f"\n  {e.line} | {text}"
                if e.column:
                    msg += "\n  " + " " * len(str(e.line)) + " | " + " " * col + "^"
        return self._fail_plain(msg)

    def _report_internal(self, e: Exception, it: Any, before: int, argv: bool = False) -> int:
        """Report an exception the runner did not expect (a bug) without a traceback,
        and still truthfully: the ``before`` commands of earlier items and the ones
        this item counted were applied; the rest of this item may or may not have
        been; nothing after it was attempted.  ``it`` None: while parsing.  Status
        255.  ``BPFMAPS_DEBUG=1`` adds the traceback."""
        from ._safety import decorate, internal_error_message, item_count, item_line, item_lines

        self._clear_progress()
        self.error = e
        msg = internal_error_message(e)
        if os.environ.get("BPFMAPS_DEBUG"):
            import traceback

            self.err.write("".join(traceback.format_exception(e)))
        e.__traceback__ = None
        if argv or it is None:
            if it is None:
                if self.compat and self.processed:
                    msg += f" while parsing; {self.processed} earlier command(s) were applied"
                else:
                    msg += " while parsing; nothing was applied"
            if argv:
                self.o.error(msg)  # the command's Output writes it (JSON: {"error": ...})
                return 255
            return self._fail_plain(msg)
        k = self.processed - before
        line = item_line(it, k)
        self.failed_line = line
        if self.json:
            return self._fail_plain(f"{self._file}:{line}: {msg}")
        first, last = item_lines(it, k)
        rest = item_count(it) - k
        if rest > 1:
            unsure = f"it and the {rest - 1} command(s) after it up to line {last} may or may not have been applied"
        else:
            unsure = "it may or may not have been applied"
        self.err.write(
            decorate(f"Error: {self._file}:{line}: {msg}")
            + f"\n  command: {self._quote_line(line)[0].strip()}\n"
            f"  {self.processed} command(s) before it were applied; {unsure}; "
            "the commands after those were not\n"
        )
        return 255

    def _report_failure(self, e: CommandFailed, argv: bool = False) -> int:
        if e.errno == _errno.EINTR and e.exit_status is None:
            cause = self._stop_cause()
            if cause is not None:  # a C loop stopped for a signal: not a kernel error
                e.message, e.exit_status = cause
                e.errno = None
        self._clear_progress()
        self.error = e
        self.failed_line = e.line
        from ._safety import clean, decorate

        # control characters escaped, long quotes cut; the privilege hint unless the
        # failure carries its own
        e.message = clean(e.message) if e.hint else decorate(e.message)
        if argv:
            if e.silent:
                self.o.diagnostic(e.message)
            elif not e.shown:
                self.o.error(e.message)
            if e.hint:
                self.err.write(f"Hint: {e.hint}\n")
            return e.status
        if self.json:
            o = self.o
            if isinstance(o, JsonOutput) and o.values:  # e.g. the null of a lookup miss
                self._json_items.append((e.index, o.values[0]))
                o.values = []
            if not e.shown:  # bpftool adds nothing when the output already said it
                self._json_items.append((e.index, {"error": e.message}))
            return e.status
        text = self._quote_line(e.line)[0]
        before = self.processed - sum(r[2] for r in e.also_applied)
        if e.also_applied:
            ranges = ", ".join(
                f"line {a}" if a == b else f"lines {a}-{b}" for a, b, _ in e.also_applied
            )
            tail = (
                f"it was not; {self.processed - before} command(s) after it were applied "
                f"anyway by the parallel apply ({ranges}), the other commands after it were not"
            )
        else:
            tail = "it and the commands after it were not"
        self.err.write(
            decorate(f"Error: {self._file}:{e.line}: {e.message}") + "\n"
            f"  command: {text.strip()}\n"
            f"  {before} command(s) before it were applied; {tail}\n"
        )
        return e.status

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

    # -- JSON -----------------------------------------------------------------------
    def _dumps(self, obj) -> str:
        return render_json(obj, self.pretty)

    def _emit_json_batch(self) -> None:
        # bpftool: [{"command": [words], "output": ...}, ..., {"error": ...}]
        items = self._json_items
        if not items:
            self.out.write(self._dumps([]) + "\n")
            return
        words = self._index_words
        need = 0
        for it in items:
            if type(it) is tuple and len(it) == 2 and it[0] not in words:
                need = max(need, it[0] + 1)
        if need:  # commands whose words were not kept (argv, reports): lex up to them
            lexer = Lexer(self._data, self._file)
            for _ in range(need):
                c = lexer.next_command()
                if c is None:
                    break
                words.setdefault(c.index, [_show(w) for w in c.words])
        if self.pretty:  # the layout is the JSON writer's: one call over every item
            objs: list = []
            for it in items:
                if type(it) is not tuple:
                    objs.append(it)
                elif len(it) == 2:
                    objs.append({"command": words.get(it[0], []), "output": it[1]})
                else:
                    blk, a, cnt = it
                    objs.extend(
                        {"command": _op_words(blk, i, self._data), "output": None}
                        for i in range(a, a + cnt)
                    )
            self.out.write(self._dumps(objs) + "\n")
            return
        # compact: items joined by ","; runs of scanned ops formatted in C
        parts: list = []
        add = parts.append
        for it in items:
            if type(it) is not tuple:
                add(self._dumps(it))
            elif len(it) == 2:
                add(self._dumps({"command": words.get(it[0], []), "output": it[1]}))
            else:
                parts.extend(self._null_items(it[0], it[1], it[2]))
        out = self.out
        binary = getattr(out, "buffer", None)
        out.write("[")
        for k, p in enumerate(parts):
            if k:
                out.write(",")
            if type(p) is str:
                out.write(p)
            elif binary is not None:  # C output (ASCII): straight to the byte stream
                out.flush()
                binary.write(p)
            else:
                out.write(bytes(p).decode("ascii"))
        out.write("]\n")
        out.flush()

    def _null_items(self, blk: OpBlock, a: int, cnt: int) -> list:
        """Compact ``{"command": [...], "output": null}`` items of ops [a, a + cnt):
        scanned ops in C (:func:`.scan.json_nulls`) when built, the others through
        the JSON writer."""
        from . import scan

        out: list = []
        kept = blk.words or {}
        data = self._data
        i, end = a, a + cnt
        while i < end:
            j = i
            while j < end and j not in kept:
                j += 1
            if j > i:
                fast = scan.json_nulls(data, blk, i, j, False)
                if fast is not None:
                    out.extend(fast)
                    i = j
                    continue
            out.append(self._dumps({"command": _op_words(blk, i, data), "output": None}))
            i += 1
        return out

    def _op_words(self, blk: OpBlock, i: int) -> list[str]:
        """The words of op i as bpftool's JSON shows them."""
        return _op_words(blk, i, self._data)

    def _json_ok(self, index: int, output) -> None:
        if self.json:
            self._json_items.append((index, output))

    def _do_update(self, c: Update):
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        value = c.value
        opened = -1
        if c.value_handle is not None:
            if c.value_map is not None:
                vfd = self._fd(c.value_map, c)
            else:
                vfd = opened = self._open_prog(c)
                if c.value_handle.kind == "id" and not self.json:
                    # bpftool's p_info: stderr, plain mode only
                    self.err.write(
                        "Warning: updating program array via MAP_ID, make sure this map is kept open\n"
                        "         by some process or pinned otherwise update will be lost\n"
                    )
            value = vfd.to_bytes(4, sys.byteorder)
        try:
            rc = b.map_update_elem(
                fd, self._key(c.key), value if value is not None else b.NULL, c.flags
            )
        finally:
            if opened >= 0:
                b.close(opened)
        if rc < 0:
            raise self._fail(c, f"update failed: {strerror(-rc)}", -rc)
        self.o.done()

    def _open_prog(self, c: Update) -> int:
        b = self.backend
        h = c.value_handle
        if h.kind == "id":
            fd = b.prog_get_fd_by_id(h.value)
            if fd < 0:
                raise self._fail(c, f"get by id ({h.value}): {strerror(-fd)}", None)
            return fd
        if h.kind == "pinned":
            fd = b.obj_get(_fs(h.value), 0)
            if fd < 0:
                raise self._fail(c, obj_get_message(b, h.value, -fd), None)
            rc, _ = b.prog_info(fd)
            if rc < 0:
                b.close(fd)
                raise self._fail(c, "incorrect object type: map", None)
            return fd
        # name or tag: every program that matches (bpftool's prog_fd_by_nametag)
        found = []
        cur = 0
        while True:
            rc, nxt = b.prog_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                if rc < 0 and rc != -_errno.ENOENT:
                    for fd in found:
                        b.close(fd)
                    raise self._fail(c, strerror(-rc), None)
                break
            cur = nxt
            fd = b.prog_get_fd_by_id(nxt)
            if fd < 0:
                if fd == -_errno.ENOENT:
                    continue  # unloaded meanwhile
                for f in found:
                    b.close(f)
                raise self._fail(c, f"can't get prog by id ({nxt}): {strerror(-fd)}", None)
            rc, info = b.prog_info(fd)
            if rc == 0 and info is not None:
                if h.kind == "tag":
                    ok = getattr(info, "tag", b"") == h.value
                else:
                    ok = info.name == _show(h.value)
                if ok:
                    found.append(fd)
                    continue
            b.close(fd)
        if len(found) != 1:
            for fd in found:
                b.close(fd)
            if found:
                raise self._fail(c, "several programs match this handle", None)
            what = f"tag {h.value.hex()}" if h.kind == "tag" else f"named '{_show(h.value)}'"
            f = self._fail(c, f"no program {what}", None)
            f.silent = True  # bpftool fails without a message
            raise f
        return found[0]

    def _btf_of(self, info: MapInfo):
        if not (info.btf_value_type_id or info.btf_vmlinux_value_type_id):
            return None
        if self._btf is None:
            from ..btf.output import BTFCache

            self._btf = BTFCache(self.backend)
        return self._btf.get(info)

    def _formatted(self, m: MapRef, key, value):
        """The BTF form of an element, for maps bpftool formats with BTF: in JSON mode
        the ``"formatted"`` member (a :class:`~bpfmaps.btf.dumper.Formatted`, written
        by the JSON writer), in plain mode the whole entry text; None otherwise."""
        info = m.info
        btf = self._btf_of(info)
        if btf is None:
            return None
        if self.json:
            from ..btf.dumper import Formatted

            return Formatted(btf, info, key, value, self._ncpus)
        from ..btf.dumper import format_entry_plain

        return format_entry_plain(btf, info, key, value, self._ncpus)

    def _do_lookup(self, c: Lookup):
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        buf = self._buf(m.value_buf_size)
        rc = b.map_lookup_elem(fd, self._key(c.key), buf, 0)
        if rc < 0:
            if rc == -_errno.ENOENT:
                self.o.lookup_miss(m.info, c.key)
                f = self._fail(
                    c, "lookup failed: No such file or directory (key not found)", _errno.ENOENT
                )
                f.shown = True
                raise f
            raise self._fail(c, f"lookup failed: {strerror(-rc)}", -rc)
        value = b.tobytes(buf, m.value_buf_size)
        self.o.element(m.info, c.key, value, self._formatted(m, c.key, value))

    def _do_getnext(self, c: GetNext):
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        buf = self._buf(m.key_size)
        rc = b.map_get_next_key(fd, self._key(c.key), buf)
        if rc < 0:
            raise self._fail(c, f"can't get next key: {strerror(-rc)}", -rc)
        self.o.getnext(m.info, c.key, b.tobytes(buf, m.key_size))

    def _do_delete(self, c: Delete):
        m: MapRef = c.map
        fd = self._fd(m, c)
        rc = self.backend.map_delete_elem(fd, c.key if c.key is not None else b"")
        if rc < 0:
            raise self._fail(c, f"delete failed: {strerror(-rc)}", -rc)
        self.o.done()

    def _do_pop(self, c):
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        kbuf = self._buf(m.key_size) if m.key_size else b.NULL
        vbuf = self._buf(m.value_buf_size)
        rc = b.map_lookup_and_delete_elem(fd, kbuf, vbuf, 0)
        if rc < 0:
            if rc == -_errno.ENOENT:
                self.o.empty_map()
                f = self._fail(c, f"{c.verb} failed: empty map", _errno.ENOENT)
                f.shown = True
                raise f
            raise self._fail(c, f"pop failed: {strerror(-rc)}", -rc)
        key = b.tobytes(kbuf, m.key_size) if m.key_size else None
        value = b.tobytes(vbuf, m.value_buf_size)
        self.o.element(m.info, key, value, self._formatted(m, key, value))

    def _do_dump(self, c: Dump):
        b = self.backend
        o = self.o
        multi = len(c.maps) > 1
        if not self.json and all(m.info.btf_id for m in c.maps):
            # bpftool's plain dump of maps with BTF: one BTF writer document
            from ..btf.output import BTFCache, dump_plain

            if self._btf is None:
                self._btf = BTFCache(b)
            maps = [(m.info, self._fd(m, c), m.value_buf_size) for m in c.maps]
            text, err = dump_plain(b, maps, self._btf, self._ncpus)
            o.text(text)
            if err:  # bpftool stops with the errno as exit status and no message
                f = self._fail(c, f"can't get next key: {strerror(err)}", err)
                f.shown = True
                raise f
            return
        if multi:
            o.begin_list()
        try:
            for n, m in enumerate(c.maps):
                fd = self._fd(m, c)
                info = m.info
                kbuf = self._buf(info.key_size)
                vbuf = self._buf(m.value_buf_size)
                prev = b.NULL
                count = 0
                o.dump_begin(info, multi, n == 0)
                err = 0
                for _ in range(info.max_entries + 2):
                    rc = b.map_get_next_key(fd, prev, kbuf)
                    if rc < 0:
                        if rc != -_errno.ENOENT:
                            err = -rc
                        break
                    key = b.tobytes(kbuf, info.key_size)
                    rc = b.map_lookup_elem(fd, key, vbuf, 0)
                    if rc < 0:
                        o.dump_entry_error(info, key, -rc)
                    else:
                        value = b.tobytes(vbuf, m.value_buf_size)
                        o.dump_element(info, key, value, self._formatted(m, key, value))
                        count += 1
                    prev = key
                o.dump_end(info, multi, count)
                if n != len(c.maps) - 1:
                    o.text("\n")
                if err:
                    # bpftool stops here with the errno as exit status and no message
                    f = self._fail(c, f"can't get next key: {strerror(err)}", err)
                    f.shown = True
                    raise f
        finally:
            if multi:
                o.end_list()

    def _fdinfo(self, fd: int) -> dict:
        rc, d = self.backend.map_fdinfo(fd)
        return d if rc == 0 and d is not None else {}

    def _pins_of(self, info: MapInfo):
        return self.backend.map_pin_paths(info.id) if self.show_pinned else None

    def _do_show(self, c: Show):
        b = self.backend
        o = self.o
        if c.maps is not None:
            multi = len(c.maps) > 1
            if multi:
                o.begin_list()
            for m in c.maps:
                o.show(m.info, self._fdinfo(self._fd(m, c)), self._pins_of(m.info))
            if multi:
                o.end_list()
            return
        o.begin_list()
        cur = 0
        failure = None
        while True:
            rc, nxt = b.map_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                if rc < 0 and rc != -_errno.ENOENT:
                    tail = " -- kernel too old?" if rc == -_errno.EINVAL else ""
                    failure = (f"can't get next map: {strerror(-rc)}{tail}", -rc)
                break
            cur = nxt
            fd = b.map_get_fd_by_id(nxt, 0)
            if fd < 0:
                if fd == -_errno.ENOENT:
                    continue
                failure = (f"can't get map by id ({nxt}): {strerror(-fd)}", -fd)
                break
            try:
                rc, info = b.map_info(fd)
                if rc < 0 or info is None:
                    failure = (f"can't get map info: {strerror(-rc)}", -rc)
                    break
                o.show(info, self._fdinfo(fd), self._pins_of(info))
            finally:
                b.close(fd)
        if failure is not None:
            o.error(failure[0])  # inside the JSON root array, like bpftool
        o.end_list()
        if failure is not None:
            f = self._fail(c, failure[0], None)  # bpftool exits 255 here
            f.shown = True
            f.hint = _priv_hint(failure[1])
            raise f

    def _not_bpffs(self, c, word: str, d: str):
        from ..errors import NotBpffsError

        e = NotBpffsError(
            _errno.EPERM,
            "pin",
            map=_show(word),
            hint="path is not on a bpf file system (mount -t bpf bpf DIR)",
        )
        return self._fail(
            c,
            f"can't pin the object ({_show(word)}): {d} is not on a bpf file system "
            f"(bpftool would try to mount one there; bpfmaps does not: {e.hint})",
            None,
        )

    def _do_create(self, c: Create):
        b = self.backend
        path = _fs(c.path)
        inner_fd = -1
        if c.inner is not None:
            inner_fd = self._fd(c.inner, c)
        d = os.path.dirname(os.path.abspath(path)) or "."
        if not b.is_bpffs(d):
            raise self._not_bpffs(c, c.path, d)
        fd = b.map_create(
            c.type, c.key_size, c.value_size, c.max_entries, c.flags,
            c.name.encode("latin-1")[:15], inner_fd,
        )  # fmt: skip
        if fd < 0:
            f = self._fail(c, f"map create failed: {strerror(-fd)}", None)
            f.hint = _priv_hint(-fd)
            raise f
        rc = b.obj_pin(fd, path)
        if rc < 0:
            b.close(fd)
            raise self._fail(c, f"can't pin the object ({_show(c.path)}): {strerror(-rc)}", -rc)
        # a later `pinned FILE` handle that was declared by this create uses this fd
        rc, info = b.map_info(fd)
        self._adopt_created(c, fd, info)
        self.o.done()

    def _adopt_created(self, c: Create, fd: int, info) -> None:
        # parse_batch declared this path to the resolver: later `pinned FILE` handles
        # use that MapRef, which gets this fd (and the real info with the new id).
        ref = self._resolver.declared.get(c.path) if self._resolver is not None else None
        if ref is None or ref.fd >= 0:
            self.backend.close(fd)
            return
        ref.fd = fd
        if info is not None:
            ref.info = info

    def _do_pin(self, c: Pin):
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        path = _fs(c.path)
        d = os.path.dirname(os.path.abspath(path)) or "."
        if not b.is_bpffs(d):
            raise self._not_bpffs(c, c.path, d)
        rc = b.obj_pin(fd, path)
        if rc < 0:
            raise self._fail(c, f"can't pin the object ({_show(c.path)}): {strerror(-rc)}", -rc)
        self.o.done()

    def _do_freeze(self, c: Freeze):
        m: MapRef = c.map
        rc = self.backend.map_freeze(self._fd(m, c))
        if rc < 0:
            raise self._fail(c, f"failed to freeze map: {strerror(-rc)}", -rc)
        self.o.done()

    def _do_help(self, c: Help):
        if self.json:
            self.o.done()  # bpftool's do_help: null
        else:
            self.err.write(MAP_HELP)

    def _do_version(self, c: Version):
        import importlib.util

        from .. import __version__ as v  # type: ignore[attr-defined]

        # like bpftool -V: version, what it is built on, features
        shim = importlib.util.find_spec("bpfmaps._ffi") is not None
        if self.json:
            self.o.value(
                {"version": str(v), "bpftool_compatible": "7.1", "features": {"cffi_shim": shim}}
            )
        else:
            self.o.text(
                f"bpfmaps v{v}\nusing bpftool syntax v7.1\n"
                f"features: {'cffi_shim' if shim else 'no compiled extension (fake backend only)'}\n"
            )


#: files of at least this many bytes run in two passes with bounded memory (see
#: Runner._run_two_pass); smaller ones are parsed once and kept whole
CHUNKED_MIN = 64 << 20
#: ops per block in that mode (about 9 MiB of records and arenas, 20 MiB of file)
CHUNKED_BLOCK = 1 << 17


class _Undeclared:
    """A resolver without ``declare`` (the second pass must not declare again)."""

    def __init__(self, resolver) -> None:
        self.resolver = resolver
        self.resolve_all = resolver.resolve_all

    def __call__(self, handle):
        return self.resolver(handle)


class _no_gc:
    """Cyclic GC off while a file is parsed and run: parsing allocates many small
    objects (commands, buffers) and creates no reference cycles, and each
    collection would walk all of them again."""

    def __enter__(self):
        import gc

        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            import gc

            gc.enable()


def _op_words(blk: OpBlock, i: int, data) -> list[str]:
    """The words of op i: kept by the reference, else cut from its line in the file
    (scanned lines are printable ASCII without quotes: split and shown as is)."""
    w = blk.words.get(i) if blk.words else None
    if w is not None:
        return [_show(x) for x in w]
    pos = blk.op(i)[6]
    end = data.find(b"\n", pos)
    text = bytes(data[pos : end if end >= 0 else len(data)])
    h = text.find(b"#")
    return (text[:h] if h >= 0 else text).decode("ascii").split()


def _map_file(f) -> Any:
    """A read-only mmap of a regular, non-empty file (pages populated up front: no
    copy into our heap), or None to fall back to read()."""
    import mmap

    try:
        st = os.fstat(f.fileno())
    except OSError:
        return None
    import stat

    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    flags = mmap.MAP_PRIVATE
    if st.st_size < CHUNKED_MIN:  # big files are read page by page, and dropped behind
        flags |= getattr(mmap, "MAP_POPULATE", 0)
    try:
        return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None


def _close_map(mm) -> None:
    try:
        mm.close()
    except BufferError:  # a cffi view is still alive somewhere: collect it first
        import gc

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

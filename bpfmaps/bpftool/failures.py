"""The runner's failure reports: failed commands, parse errors, internal errors, stops.

What a batch file run tells the user when it does not end well, in bpftool's words
where bpftool has them (``Error: ...`` on stderr, or the ``{"error": ...}`` item of the
JSON array): a failed command with its file:line, its text and how many commands were
applied (also those the parallel apply applied after it); a parse error with the line
quoted and a caret; an unexpected exception, truthfully (what may or may not have been
applied); a stop by a signal or a closed stdout.  Each report returns the exit status.

A layer of the runner that a successful plain batch file never loads (start-up): the
:class:`Failures` methods join the runner's class on first use with the command
handlers of :mod:`.commands` (``Runner.__getattr__``, bpftool/runner.py); the final
``processed N commands`` and the progress line are :class:`~.state.Reports`'.
"""

from __future__ import annotations

import errno as _errno
import os

from ..errors import CommandFailed, ParseError
from ._safety import (
    QUOTE_MAX,
    clean,
    escape_controls,
    internal_error_message,
    item_count,
    item_line,
    item_lines,
    priv_hint,
    shorten,
    signal_name,
)
from .output import JsonOutput
from .state import Reports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from .jsonbatch import JsonBatch
    from .state import Item

    class _Below(Reports, JsonBatch):
        """What the failure reports stand on, as type checkers see it."""

else:
    # at run time the JSON batch layer joins the instance's class on first use
    # (Runner.__getattr__), not this class
    _Below = Reports

__all__ = ["Failures", "MAP_HELP"]

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


class Failures(_Below):
    """The failure reports of the runner (see the module doc)."""

    # set by the reports (declared in RunState.__init__)
    error: Optional[BaseException]
    failed_line: Optional[int]

    # -- stops ----------------------------------------------------------------------
    def _stop_cause(self) -> tuple[str, int] | None:
        """(message, exit status) when a signal or a closed stdout asks to stop."""
        st = self._stop
        sig = st.pending() if st is not None else 0
        if sig:
            return f"interrupted by {signal_name(sig)}", 128 + sig
        if self.out.broken:
            return "standard output closed (broken pipe)", 141
        return None

    def _halt(self, it: Item, k: int = 0) -> CommandFailed:
        """The report for stopping before command ``k`` of item ``it``."""
        msg, status = self._stop_cause() or ("stopped", 255)
        first = getattr(it, "first_index", None)
        index = (first + k) if first is not None else getattr(it, "index", 0)
        return CommandFailed(
            msg, errno=None, line=item_line(it, k), index=index, exit_status=status
        )

    def _report_interrupted_parse(self, sig: int) -> int:
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
        text = bytes(data[pos : end if end >= 0 else len(data)])
        return text.decode("utf-8", "backslashreplace").rstrip("\r")

    def _write_hint(self, message: str, hint: str | None = None) -> None:
        """The ``Hint:`` stderr line after a report, the same for single commands and
        batch files, plain and JSON (stdout stays bpftool's): ``hint``, else the
        privilege hint when ``message`` is an EPERM/EACCES without CAP_BPF/CAP_SYS_ADMIN."""
        hint = hint or priv_hint(message)
        if hint:
            self.err.write(f"Hint: {hint}\n")

    def _fail_plain(self, message: str, bare: bool = False) -> int:
        message = clean(message)  # control characters escaped, long quotes cut
        if self.json:
            if bare:
                self.out.write(self._dumps({"error": message}) + "\n")
            else:
                self._json_items.append({"error": message})
        else:
            self.err.write(f"Error: {message}\n")
        self._write_hint(message)
        return 255

    def _quote_line(self, line: int, column: int = 0) -> tuple[str, int]:
        """Line ``line`` of the file as shown in a report: about 200 characters around
        ``column`` (1-based) with "..." where cut, control characters escaped.
        Returns (text, 0-based offset of ``column`` in it)."""
        text, off = shorten(self._line_text(line), QUOTE_MAX, column - 1 if column else 0)
        return escape_controls(text), len(escape_controls(text[:off]))

    def _report_parse_error(self, e: ParseError, argv: bool = False) -> int:
        self._clear_progress()
        e.__traceback__ = None  # drop frames that still reference the input buffer
        self.error = e
        self.failed_line = e.line
        if argv:
            msg = e.message  # bpftool's words exactly (the token is on the command line)
            silent, hint = False, None
            for x in (e, e.__cause__):  # the resolver's error, re-raised with a location
                if isinstance(x, ParseError):
                    silent = silent or x.bpftool_silent
                    hint = hint or x.bpftool_hint
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
            self._write_hint(msg, hint)
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

    def _report_internal(
        self, e: Exception, it: Item | None, before: int, argv: bool = False
    ) -> int:
        """Report an exception the runner did not expect (a bug) without a traceback,
        and still truthfully: the ``before`` commands of earlier items and the ones
        this item counted were applied; the rest of this item may or may not have
        been; nothing after it was attempted.  ``it`` None: while parsing.  Status
        255.  ``BPFMAPS_DEBUG=1`` adds the traceback."""
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
            clean(f"Error: {self._file}:{line}: {msg}")
            + f"\n  command: {self._quote_line(line)[0].strip()}\n"
            f"  {self.processed} command(s) before it were applied; {unsure}; "
            "the commands after those were not\n"
        )
        self._write_hint(msg)
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
        e.message = clean(e.message)  # control characters escaped, long quotes cut
        if argv:
            if e.silent:
                self.o.diagnostic(e.message)
            elif not e.shown:
                self.o.error(e.message)
            self._write_hint(e.message, e.hint)
            return e.status
        if self.json:
            o = self.o
            if isinstance(o, JsonOutput) and o.values:  # e.g. the null of a lookup miss
                self._json_items.append((e.index, o.values[0]))
                o.values = []
            if not e.shown:  # bpftool adds nothing when the output already said it
                self._json_items.append((e.index, {"error": e.message}))
            self._write_hint(e.message, e.hint)
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
            clean(f"Error: {self._file}:{e.line}: {e.message}") + "\n"
            f"  command: {text.strip()}\n"
            f"  {before} command(s) before it were applied; {tail}\n"
        )
        self._write_hint(e.message, e.hint)
        return e.status

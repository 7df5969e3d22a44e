"""The runner's reports of a run that goes well: the final ``processed N commands``
(or the closed-stdout report after the last command) and the progress line on a
terminal (drawn after each engine or loop call; it never changes what runs).

The failure reports (failed commands, parse errors, internal errors, stops) are
:mod:`.failures`', a layer above this one that a successful plain batch file never
loads (start-up; it joins the runner's class on first use, ``Runner.__getattr__``).
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .jsonbatch import JsonBatch as _Below
else:
    # start-up: at run time Reports stands on RunState; the JSON batch layer
    # (.jsonbatch) joins the instance's class on first use (Runner.__getattr__)
    from .state import RunState as _Below

__all__ = ["Reports", "PROGRESS_MIN"]

#: show a progress line on a terminal for files with at least this many commands
PROGRESS_MIN = 200_000


class Reports(_Below):
    """The success and progress reports of the runner (see the module doc)."""

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

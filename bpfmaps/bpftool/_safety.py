"""The runner's safety net: where an item stands, and what an unexpected error did.

Kept apart from :mod:`.runner` so the reliability rules live in one small place:

* :func:`item_line`/:func:`item_lines` locate command ``k`` of a parsed item (a run,
  an op stream or one command) for reports;
* :func:`internal_error_message` words an exception the runner did not expect;
  the runner's report stays true: commands counted as applied were applied, the
  rest of the item "may or may not" have been, later items were not attempted;
* :class:`SignalStop` turns SIGINT/SIGTERM into "stop before the next command"
  (Python handler + the C loops' stop flag of :mod:`bpfmaps.kernel`);
* :class:`HoldStopSignals` holds SIGINT/SIGTERM for the lifetime of a C thread job
  (no Python handler can raise while C threads still use the caller's memory);
* :class:`SafeOut` keeps a closed stdout (EPIPE) from killing the run;
* :func:`clean` escapes control characters and shortens long quotes in messages.

No import of the compiled extension (layer rule: only kernel backend and scanner).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    import signal as _signal
    from typing import IO, Any, Optional
else:  # the C module: signal.py builds enums at import (start-up of the small-file path)
    import _signal

__all__ = [
    "DEFAULT_MAX_SIZE",
    "HoldStopSignals",
    "InputTooLarge",
    "Interrupted",
    "read_capped",
    "SafeOut",
    "SignalStop",
    "clean",
    "internal_error_message",
    "item_count",
    "item_line",
    "item_lines",
    "signal_name",
]


def item_count(it: Any) -> int:
    """Number of commands in a parsed item (1 for a single command)."""
    n = getattr(it, "count", None)
    return 1 if n is None or not hasattr(it, "first_index") else int(n)


def item_line(it: Any, k: int) -> int:
    """Physical line of command ``k`` (0-based) of item ``it``; 0 when unknown."""
    try:
        if hasattr(type(it), "ops"):  # OpBlock (not it.ops: a run block would build it)
            return int(it.op(k)[3])
        lines = getattr(it, "lines", None)
        if lines is not None:
            return int(lines[k])
        return int(getattr(it, "line", 0) or 0)
    except (IndexError, TypeError, ValueError, AttributeError):
        return 0


def item_lines(it: Any, k: int) -> tuple[int, int]:
    """(first, last) physical lines of commands ``k..`` of item ``it``."""
    n = item_count(it)
    return item_line(it, min(k, n - 1)), item_line(it, n - 1)


def internal_error_message(e: BaseException) -> str:
    """``internal error (Type: text)``: an exception bpfmaps did not expect (a bug)."""
    text = str(e)
    return f"internal error ({type(e).__name__}{': ' + text if text else ''})"


# ----------------------------------------------------------------------------- signals
#: exit status for a run stopped by a signal: 128 + signal number (130, 143)
STOP_SIGNALS = (_signal.SIGINT, _signal.SIGTERM)


def signal_name(sig: int) -> str:
    import signal  # start-up: signal.py builds its enums; only a stop report needs them

    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class Interrupted(BaseException):
    """Raised (BaseException: parsers that catch Exception must not swallow it) when a
    stop signal arrives while nothing has been applied yet (parsing)."""

    def __init__(self, sig: int) -> None:
        super().__init__(signal_name(sig))
        self.signum = sig


class SignalStop:
    """``with SignalStop(backend) as stop:`` SIGINT and SIGTERM no longer raise or
    kill; they set ``stop.signum``.  On the kernel backend the shim's C loops see
    it too and return -EINTR before their next syscall (bpfmaps.kernel.stop_*).
    While ``stop.parsing`` is true the handler raises :class:`Interrupted` instead
    (nothing is applied while parsing).  Outside the main thread it does nothing.
    Handlers in place before are restored on exit."""

    def __init__(self, backend: Any) -> None:
        self.signum = 0
        self.parsing = False
        self._old: dict[int, Any] = {}
        self._k: Any = None
        if getattr(backend, "name", "") == "kernel":
            try:
                from .. import kernel as k

                self._k = k
            except ImportError:  # pragma: no cover - no compiled extension
                self._k = None

    def _handler(self, sig: int, frame: Any) -> None:
        if not self.signum:
            self.signum = sig
        if self._k is not None:
            self._k.stop_set(self.signum)
        if self.parsing:
            raise Interrupted(self.signum)

    def pending(self) -> int:
        """The stop signal caught so far (also one the C handler saw first), or 0."""
        if not self.signum and self._k is not None:
            self.signum = self._k.stop_pending()
        return self.signum

    def __enter__(self) -> SignalStop:
        try:
            first = _signal.signal(STOP_SIGNALS[0], self._handler)
        except ValueError:  # not the main thread (of the main interpreter): no handlers
            return self
        self._old[STOP_SIGNALS[0]] = first
        if self._k is not None:
            self._k.stop_set(0)
            self._k.stop_install(STOP_SIGNALS[0])
        for sig in STOP_SIGNALS[1:]:
            self._old[sig] = _signal.signal(sig, self._handler)
            if self._k is not None:
                self._k.stop_install(sig)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            if self._k is not None:
                self._k.stop_uninstall(sig)
            _signal.signal(sig, old)
        self._old.clear()
        if self._k is not None:
            self._k.stop_set(0)


class HoldStopSignals:
    """``with HoldStopSignals():`` around a C thread job, from before it starts until
    it is joined: SIGINT and SIGTERM are blocked in this thread (and so in threads it
    creates meanwhile, which inherit the mask).  A stop signal's Python handler raises
    between two bytecodes; raised while the job runs (after its start, before its
    join) it would leave C threads using memory the caller then frees or unmaps (a
    crash after a true report).  A signal sent meanwhile stays pending and is
    delivered at the exit (its handlers run then: the C loops' flag, then Python's),
    so the report is the one it would have been.  Cheap to import (no signal.py, no
    contextlib).  Cost: two sigprocmask calls.  Errors: none.  Not for long waits: a
    job that never ends would hold the signals for good."""

    __slots__ = ("_old",)

    def __init__(self) -> None:
        self._old: Any = None

    def __enter__(self) -> HoldStopSignals:
        mask = getattr(_signal, "pthread_sigmask", None)
        if mask is not None:  # (not on every platform)
            self._old = mask(_signal.SIG_BLOCK, STOP_SIGNALS)
        return self

    def __exit__(self, *exc: Any) -> None:
        old, self._old = self._old, None
        if old is not None:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, old)


# ----------------------------------------------------------------------------- output
class SafeOut:
    """A text stream wrapper: the first write that fails with EPIPE (the reader went
    away, e.g. ``| head``) sets ``broken`` and turns stdout into /dev/null so that
    neither later writes nor the interpreter's final flush raise; the runner stops
    before its next command and reports on stderr."""

    broken: bool

    def __init__(self, stream: IO[str]) -> None:
        self._s = stream
        self.broken = False

    def _broke(self) -> None:
        self.broken = True
        try:
            fd = self._s.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: Any) -> int:
        if self.broken:
            return len(text)
        try:
            return self._s.write(text)
        except BrokenPipeError:
            self._broke()
            return len(text)

    @property
    def buffer(self) -> Any:
        """The binary stream under it, guarded the same way (None if there is none)."""
        raw = getattr(self._s, "buffer", None)
        return None if raw is None else _SafeBinary(self, raw)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._s.flush()
        except BrokenPipeError:
            self._broke()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)


class _SafeBinary(SafeOut):
    """``SafeOut.buffer``: writes bytes, shares the text wrapper's ``broken`` state."""

    def __init__(self, parent: SafeOut, raw: Any) -> None:
        super().__init__(raw)
        self._parent = parent

    @property
    def broken(self) -> bool:
        return self._parent.broken

    @broken.setter
    def broken(self, value: bool) -> None:
        if hasattr(self, "_parent"):
            self._parent.broken = value

    def _broke(self) -> None:
        self._parent._broke()

    @property
    def buffer(self) -> Any:
        return None


# ----------------------------------------------------------------------------- messages
#: quoted material (a line of the file, a token) longer than this is shortened
QUOTE_MAX = 200
#: a message line longer than this is cut (a backstop; quotes are shortened first)
LINE_MAX = 1000
_CTRL_RE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_QUOTED_RE = "'([^'\\n]{" + str(QUOTE_MAX + 1) + ",})'"
_LONG_WORD_RE = "[^ '\\n]{" + str(QUOTE_MAX + 1) + ",}"
#: the compiled patterns, made by the first message (a run that reports nothing
#: never imports or compiles them: the small-file path, tests/bpftool/test_small_file_imports.py)
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(src: str) -> re.Pattern[str]:
    p = _PATTERNS.get(src)
    if p is None:
        import re

        p = _PATTERNS[src] = re.compile(src)
    return p


def _esc(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape_controls(text: str) -> str:
    """Control characters (C0 but tab, DEL, C1, Unicode line separators and bidi
    overrides) as ``\\xNN``/``\\uNNNN``: bytes from a batch file can never drive the
    terminal that shows the message."""
    return _pattern(_CTRL_RE).sub(_esc, text)


def shorten(text: str, limit: int = QUOTE_MAX, around: Optional[int] = None) -> tuple[str, int]:
    """``text`` cut to about ``limit`` characters with "..." where cut, keeping
    position ``around`` (0-based) in view.  Returns (text, offset of ``around``)."""
    if len(text) <= limit:
        return text, around or 0
    pos = around or 0
    start = 0 if pos < limit - 20 else max(0, min(pos - limit // 2, len(text) - limit))
    out = text[start : start + limit]
    off = pos - start
    if start:
        out = "..." + out
        off += 3
    if start + limit < len(text):
        out += "..."
    return out, off


def clean(message: str) -> str:
    """A message safe to print: each line with control characters escaped, quotes
    ('...') and words over QUOTE_MAX characters shortened, lines cut at LINE_MAX."""
    lines = []
    for line in message.split("\n"):
        line = _pattern(_QUOTED_RE).sub(lambda m: "'" + shorten(m.group(1))[0] + "'", line)
        line = _pattern(_LONG_WORD_RE).sub(lambda m: shorten(m.group(0))[0], line)
        line = escape_controls(line)
        if len(line) > LINE_MAX:
            line = line[: LINE_MAX - 3] + "..."
        lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- input
#: default cap on a batch file read from a pipe, a device or stdin (``--max-size``)
DEFAULT_MAX_SIZE = 1 << 30


class InputTooLarge(Exception):
    """The input has more than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def read_capped(f: Any, limit: int, block: int = 1 << 20) -> bytes:
    """Read a binary stream to its end, at most ``limit`` bytes (InputTooLarge
    beyond: memory stays below ``limit`` + one block whatever the input).  A regular
    file smaller than a block is read in one call of its size plus one byte (not a
    block-sized buffer: ~30 us of a small file's start-up)."""
    try:
        st = os.fstat(f.fileno())
    except (AttributeError, OSError, ValueError):  # no fd (a BytesIO): blocks
        pass
    else:
        if st.st_mode & 0o170000 == 0o100000 and st.st_size < block:  # S_ISREG
            block = st.st_size + 1
    parts = []
    total = 0
    while True:
        chunk = f.read(min(block, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            raise InputTooLarge(limit)
    return b"".join(parts)


def parse_size(text: str) -> int:
    """``--max-size`` values: bytes, or with a k/M/G suffix (powers of 1024)."""
    t = text.strip()
    mult = 1
    if t and t[-1] in "kKmMgG":
        mult = 1 << (10 * ("kmg".index(t[-1].lower()) + 1))
        t = t[:-1]
    n = int(t) * mult
    if n <= 0:
        raise ValueError(text)
    return n


# ----------------------------------------------------------------------------- privileges
_PERM_WORDS = ("Operation not permitted", "Permission denied")
#: the one privilege hint, on its own ``Hint:`` stderr line after any report (single
#: commands and batch files, plain and JSON): the report itself keeps bpftool's words
PRIV_HINT = "bpf(2) needs CAP_BPF (or CAP_SYS_ADMIN) here: run as root or grant the capability"


def has_bpf_caps() -> bool:
    """True when this process has CAP_SYS_ADMIN or CAP_BPF (CapEff bits 21 / 39)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    cap = int(line.split()[1], 16)
                    return bool(cap >> 21 & 1 or cap >> 39 & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


def priv_hint(message: str) -> str | None:
    """:data:`PRIV_HINT` when the first line of ``message`` is an EPERM/EACCES failure
    and this process lacks the capabilities bpf(2) needs, else None.  Cost: one read
    of /proc/self/status when the words match.  Errors: none."""
    first = message.partition("\n")[0]
    if any(w in first for w in _PERM_WORDS) and not has_bpf_caps():
        return PRIV_HINT
    return None

"""Exception hierarchy for bpfmaps.

Every failed bpf(2) call becomes a :class:`BPFError` subclass chosen by the errno
*and* the operation.  Each error keeps ``errno``, ``strerror``, the operation
(``op``), a description of the map (``map``) and a ``hint``.  Classes also inherit
the builtin exception they behave like, so ``except KeyError`` works for a
missing key and ``except PermissionError`` for a frozen map.

This module imports nothing compiled: the fake backend, codecs and parser use it
on machines without the C extension.
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ENOTSUPP",
    "BPFError",
    "BatchError",
    "BpfmapsError",
    "CodecError",
    "CommandFailed",
    "IterationAbortedError",
    "KeyExistsError",
    "KeyNotFoundError",
    "InvalidArgumentError",
    "MapClosedError",
    "MapFullError",
    "MapNotFoundError",
    "AmbiguousMapError",
    "NoSpaceError",
    "NotBpffsError",
    "NotSupportedError",
    "ParseError",
    "PermissionDeniedError",
    "PinNotFoundError",
    "PinExistsError",
    "error_from_errno",
    "strerror",
]

#: The kernel-internal "operation not supported" errno (include/linux/errno.h).
#: ``os.strerror(524)`` is "Unknown error 524", so we name it ourselves.
ENOTSUPP = 524


def strerror(err: int) -> str:
    """Human-readable text for ``err``, including the kernel-only ENOTSUPP (524)."""
    if err == ENOTSUPP:
        return "Operation not supported (ENOTSUPP)"
    return os.strerror(err)


class BpfmapsError(Exception):
    """Root of every exception raised by bpfmaps."""


class BPFError(BpfmapsError, OSError):
    """A bpf(2) call failed.

    Attributes: ``errno``, ``strerror``, ``op`` (e.g. ``"update"``), ``map`` (a short
    description such as ``"id 12 'lb_backends'"`` or None), ``key`` (the raw key
    when the operation had one) and ``hint`` (what usually causes this).
    """

    def __init__(
        self,
        err: int,
        op: str,
        map: str | None = None,
        hint: str | None = None,
        key: Any = None,
        detail: str | None = None,
    ) -> None:
        OSError.__init__(self, err, strerror(err))
        self.op: str = op
        self.map: str | None = map
        self.hint: str | None = hint
        self.key: Any = key
        self.detail: str | None = detail

    def __str__(self) -> str:
        parts = [f"{self.op}"]
        if self.map:
            parts.append(f" on map {self.map}")
        if self.key is not None:
            parts.append(f" (key {_short(self.key)})")
        if self.detail:
            parts.append(f" {self.detail}")
        parts.append(f" failed: [{_errname(self.errno)}] {self.strerror}")
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling sane despite the custom __init__
        return (
            _rebuild,
            (type(self), self.errno, self.op, self.map, self.hint, self.key, self.detail),
        )


def _rebuild(
    cls: type[BPFError],
    err: int,
    op: str,
    map: str | None,
    hint: str | None,
    key: Any,
    detail: str | None,
) -> BPFError:
    return cls(err, op, map=map, hint=hint, key=key, detail=detail)


class KeyNotFoundError(BPFError, KeyError):
    """ENOENT on an element operation: the key does not exist."""


class KeyExistsError(BPFError):
    """EEXIST: NOEXIST update of an existing key (every array index exists)."""


class MapFullError(BPFError):
    """E2BIG: the map is full, or an array index is out of range."""


class NoSpaceError(BPFError):
    """ENOSPC: a batch lookup chunk is smaller than one hash bucket."""


class PermissionDeniedError(BPFError, PermissionError):
    """EPERM/EACCES: missing CAP_BPF/CAP_SYS_ADMIN, frozen map or read-only handle."""


class InvalidArgumentError(BPFError, ValueError):
    """EINVAL: bad flags, delete on an array, unsupported command for this map."""


class NotSupportedError(BPFError):
    """ENOTSUPP (524) / EOPNOTSUPP: the operation is not supported for this map type."""


class MapNotFoundError(BPFError, LookupError):
    """No map with this id or name (ENOENT from GET_FD_BY_ID, or no name match)."""


class PinNotFoundError(BPFError, FileNotFoundError):
    """ENOENT from OBJ_GET: nothing is pinned at that path."""


class PinExistsError(BPFError, FileExistsError):
    """EEXIST from OBJ_PIN: the path already exists."""


class NotBpffsError(BPFError, ValueError):
    """The path is not on a bpf file system (EPERM from OBJ_PIN, EACCES from OBJ_GET)."""


class AmbiguousMapError(BpfmapsError, LookupError):
    """Several maps match a name; ``ids`` lists them."""

    def __init__(self, name: str, ids: list[int]) -> None:
        super().__init__(name, ids)
        self.name: str = name
        self.ids: list[int] = list(ids)

    def __str__(self) -> str:
        ids = ", ".join(str(i) for i in self.ids)
        return f"several maps are named {self.name!r} (ids {ids}); open one by id"


class MapClosedError(BpfmapsError, ValueError):
    """The map handle was closed."""


class CodecError(BpfmapsError, ValueError):
    """A key or value could not be encoded/decoded, or has the wrong size."""


class IterationAbortedError(BpfmapsError, RuntimeError):
    """Iteration gave up: the map changed under it for more than max_entries+1 steps."""


class ParseError(BpfmapsError, ValueError):
    """Bad bpftool-syntax input.

    Attributes: ``file``, ``line`` (1-based physical line), ``column`` (1-based or None),
    ``token`` (the offending word or None) and ``message`` (bpftool's wording where it
    has one); ``word_index``: the 0-based index of the offending word in the words
    given to a byte parser (None when not known); ``usage``: True when bpftool would
    print its usage text for this error (missing arguments); ``bpftool_silent``: True
    where bpftool fails without a message (the CLI prints it as a diagnostic only);
    ``bpftool_hint``: a line of advice the CLI prints after the error (e.g. the
    capabilities bpf(2) needs), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        token: str | None = None,
        word_index: int | None = None,
        usage: bool = False,
        bpftool_silent: bool = False,
        bpftool_hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.token = token
        self.word_index = word_index
        self.usage = usage
        self.bpftool_silent = bpftool_silent
        self.bpftool_hint = bpftool_hint

    @property
    def location(self) -> str:
        loc = self.file or "<input>"
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def __str__(self) -> str:
        s = f"{self.location}: {self.message}"
        if self.token is not None and repr(self.token)[1:-1] not in self.message:
            s += f" (token {self.token!r})"
        return s


class BatchError(BpfmapsError):
    """A batch stopped (or finished with failures) part-way.

    Attributes:
      ``applied``: number of operations applied, in program order, before the failure
      (with ``on_error="continue"``: the number that succeeded);
      ``index``: index of the first failing operation; ``key``: its key;
      ``errors``: list of ``(index, key, exception)`` for every failed operation;
      ``not_attempted``: the operations after the failure that were not tried
      (a list of ``(op, map, key)`` tuples);
      ``rolled_back``: True when ``on_error="rollback"`` restored the map;
      ``total``: the number of operations the batch had (None when not counted);
      ``also_applied``: operations after ``index`` that a parallel apply had written
      anyway, as half-open ``(start, stop)`` index ranges ([] for serial applies);
      ``rollback_errors``: ``(index, key, exception)`` for each restore that failed
      during a rollback ([] when the rollback was complete);
      ``results``: what the operation had produced before it stopped (lookups: the
      values found, None where failed; pops: the pairs already removed), else None.
    The errno-specific cause (e.g. :class:`MapFullError`) is ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        applied: int,
        index: int | None,
        key: Any = None,
        errors: list[tuple[int, Any, BaseException]] | None = None,
        not_attempted: list[tuple[Any, ...]] | None = None,
        rolled_back: bool = False,
        total: int | None = None,
        also_applied: list[tuple[int, int]] | None = None,
        rollback_errors: list[tuple[Any, Any, BaseException]] | None = None,
        results: Any = None,
    ) -> None:
        super().__init__(message)
        self.applied: int = applied
        self.index: int | None = index
        self.key: Any = key
        self.errors: list[tuple[int, Any, BaseException]] = list(errors or [])
        self.not_attempted: list[tuple[Any, ...]] = list(not_attempted or [])
        self.rolled_back: bool = rolled_back
        self.total: int | None = total
        self.also_applied: list[tuple[int, int]] = list(also_applied or [])
        self.rollback_errors: list[tuple[Any, Any, BaseException]] = list(rollback_errors or [])
        self.results: Any = results

    @property
    def cause(self) -> BaseException | None:
        return self.__cause__


class CommandFailed(BpfmapsError):
    """A bpftool command (batch-file line or argv command) failed while executing.  ``status`` is the process exit status,
    ``message`` bpftool's wording, ``errno`` the kernel errno (or None), ``index``
    the 0-based command number and ``line`` its physical line.  ``also_applied``:
    commands after it that a parallel apply had already written, as
    ``(first line, last line, count)`` ranges (empty unless a parallel apply failed)."""

    def __init__(
        self,
        message: str,
        *,
        errno: int | None,
        line: int,
        index: int,
        also_applied: list[tuple[int, int, int]] | None = None,
        shown: bool = False,
        silent: bool = False,
        hint: str | None = None,
        exit_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message: str = message
        self.errno: int | None = errno
        self.line: int = line
        self.index: int = index
        self.also_applied: list[tuple[int, int, int]] = also_applied or []
        #: the command's own output already said it (``Not found``, ``Error: empty
        #: map``, ``null``): a single command prints nothing more, like bpftool
        self.shown: bool = shown
        #: bpftool fails silently here: the message is a stderr-only diagnostic
        self.silent: bool = silent
        #: an extra stderr line (``Hint: ...``) on top of bpftool's message
        self.hint: str | None = hint
        #: overrides the errno-derived status (128 + signal for an interrupted run)
        self.exit_status: int | None = exit_status

    @property
    def status(self) -> int:
        if self.exit_status is not None:
            return self.exit_status
        return (256 - self.errno) & 0xFF if self.errno else 255


# ---------------------------------------------------------------------------
# errno -> class, by operation

ELEMENT_OPS = frozenset(
    {"lookup", "update", "delete", "next_key", "lookup_and_delete", "push", "pop", "peek"}
)

_HINTS: dict[int, str] = {
    _errno.ENOENT: "key does not exist",
    _errno.EEXIST: "the element already exists (NOEXIST update)",
    _errno.E2BIG: "map full (max_entries={max_entries}) or array index out of range",
    _errno.ENOSPC: "batch lookup chunk smaller than a hash bucket",
    _errno.EPERM: "needs CAP_BPF/CAP_SYS_ADMIN, or the map is frozen or the handle read-only",
    _errno.EACCES: "needs CAP_BPF/CAP_SYS_ADMIN; or the handle is read-only/write-only",
    _errno.EINVAL: "bad flags for this map type, delete on an array, or unsupported command",
    ENOTSUPP: "operation not supported for this map type or kernel",
    _errno.EOPNOTSUPP: "operation not supported for this map type or kernel",
    _errno.EBADF: "the file descriptor is not a BPF map",
    _errno.ENOMEM: "kernel could not allocate memory (memlock limit or map size)",
    _errno.EINTR: "interrupted; the operation can be retried",
    _errno.EBUSY: "map busy (e.g. LOCK on a map without spin lock, or concurrent access)",
}

_OPEN_OPS = frozenset({"open_by_id", "open_by_name"})
_PIN_OPS = frozenset({"obj_get", "open_pin"})


def error_from_errno(
    err: int,
    op: str,
    *,
    map: str | None = None,
    key: Any = None,
    max_entries: int | None = None,
    detail: str | None = None,
    hint: str | None = None,
) -> BPFError:
    """Build the right :class:`BPFError` subclass for ``err`` raised by ``op``.

    ``err`` is a positive errno.  ``op`` names the operation ("update", "lookup",
    "open_by_id", "obj_get", "pin", "freeze", "create", "update_batch", ...).
    """
    if err < 0:
        err = -err
    if hint is None:
        hint = _HINTS.get(err)
        if hint and "{max_entries}" in hint:
            hint = hint.format(max_entries=max_entries if max_entries is not None else "?")
    cls: type[BPFError]
    if op in _OPEN_OPS and err == _errno.ENOENT:
        cls, hint = MapNotFoundError, "no map with this id"
    elif op in _PIN_OPS and err == _errno.ENOENT:
        cls, hint = PinNotFoundError, "nothing is pinned at this path"
    elif (op in _PIN_OPS and err != _errno.ENOENT or op == "pin") and detail == "not-bpffs":
        # pinning off a bpffs fails with EPERM, or ENOENT when the directory does not
        # exist either (e.g. /sys/fs/bpf with no bpffs mounted): the cause is the same
        cls, hint, detail = (
            NotBpffsError,
            "path is not on a bpf file system (mount -t bpf bpf DIR)",
            None,
        )
    elif op == "pin" and err == _errno.EEXIST:
        cls, hint = PinExistsError, "the pin path already exists"
    elif op == "pin" and err == _errno.ENOENT:
        cls, hint = BPFError, "the directory of the pin path does not exist"
    elif err == _errno.ENOENT:
        cls = (
            KeyNotFoundError
            if op.split("_batch")[0] in ELEMENT_OPS or op.endswith("batch")
            else BPFError
        )
    elif err == _errno.EEXIST:
        cls = KeyExistsError
    elif err == _errno.E2BIG:
        cls = MapFullError
    elif err == _errno.ENOSPC:
        cls = NoSpaceError
    elif err in (_errno.EPERM, _errno.EACCES):
        cls = PermissionDeniedError
    elif err == _errno.EINVAL:
        cls = InvalidArgumentError
    elif err in (ENOTSUPP, _errno.EOPNOTSUPP):
        cls = NotSupportedError
    else:
        cls = BPFError
    return cls(err, op, map=map, hint=hint, key=key, detail=detail)


def _errname(err: int | None) -> str:
    if err is None:
        return "?"
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, str(err))


def _short(key: Any) -> str:
    if isinstance(key, (bytes, bytearray, memoryview)):
        b = bytes(key)
        text = b[:32].hex(" ")
        return text + (" ..." if len(b) > 32 else "")
    r = repr(key)
    return r if len(r) <= 80 else r[:77] + "..."

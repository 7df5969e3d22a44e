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

from ._errbase import ENOTSUPP as ENOTSUPP
from ._errbase import BPFError as BPFError
from ._errbase import BpfmapsError as BpfmapsError
from ._errbase import _rebuild as _rebuild  # pickles of BPFError name it here
from ._errbase import strerror as strerror

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._errkinds import (
        AmbiguousMapError,
        CodecError,
        InvalidArgumentError,
        IterationAbortedError,
        KeyExistsError,
        KeyNotFoundError,
        MapClosedError,
        MapFullError,
        MapNotFoundError,
        NoSpaceError,
        NotBpffsError,
        NotSupportedError,
        PermissionDeniedError,
        PinExistsError,
        PinNotFoundError,
    )

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
    from ._errkinds import (  # start-up: the errno-specific classes only for a failure
        InvalidArgumentError,
        KeyExistsError,
        KeyNotFoundError,
        MapFullError,
        MapNotFoundError,
        NoSpaceError,
        NotBpffsError,
        NotSupportedError,
        PermissionDeniedError,
        PinExistsError,
        PinNotFoundError,
    )

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


#: the classes defined in :mod:`bpfmaps._errkinds` (this module is their public home
#: and their ``__module__``)
_KINDS = frozenset(
    {
        "AmbiguousMapError",
        "CodecError",
        "InvalidArgumentError",
        "IterationAbortedError",
        "KeyExistsError",
        "KeyNotFoundError",
        "MapClosedError",
        "MapFullError",
        "MapNotFoundError",
        "NoSpaceError",
        "NotBpffsError",
        "NotSupportedError",
        "PermissionDeniedError",
        "PinExistsError",
        "PinNotFoundError",
    }
)


def __getattr__(name: str) -> Any:
    """The errno-specific and API-misuse exception classes, built on first use (PEP 562):
    an exception class costs about 0.1 M instructions to create, and a batch file that
    succeeds raises none of them."""
    if name in _KINDS:
        import bpfmaps._errkinds as _errkinds  # not `from . import`: no edge to the package root

        value = getattr(_errkinds, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _KINDS)

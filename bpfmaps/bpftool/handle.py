"""Map handles, the base class of the parsed commands, and the command tables: what
the scanner path needs of the parsed commands (:mod:`.parsed` holds the command
records themselves and re-exports these).

The C scanner's driver (:mod:`.scan`), the resolver and the runner's state import
only this module: the twelve command records of :mod:`.parsed` load where a line is
declined to the reference grammar or a command runs through the handlers (start-up:
tests/bpftool/test_small_file_imports.py).  Pure Python, no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    _HandleBase = tuple[str, Any]
else:
    _HandleBase = tuple

__all__ = ["Handle", "Command", "TOP_COMMANDS", "MAP_COMMANDS"]

#: bpftool's top-level objects, in its ``cmd_select`` order (prefixes pick the first)
TOP_COMMANDS = (
    "help",
    "batch",
    "prog",
    "map",
    "link",
    "cgroup",
    "perf",
    "net",
    "feature",
    "btf",
    "gen",
    "struct_ops",
    "iter",
    "version",
)
#: the ``map`` commands, in bpftool's order (prefixes pick the first)
MAP_COMMANDS = (
    "show",
    "list",
    "help",
    "dump",
    "update",
    "lookup",
    "getnext",
    "delete",
    "pin",
    "event_pipe",
    "create",
    "peek",
    "push",
    "enqueue",
    "pop",
    "dequeue",
    "freeze",
)


class Handle(_HandleBase):
    """A MAP or PROG handle: kind is ``id``, ``pinned``, ``name`` (or ``tag`` for progs);
    value is an int for ``id``, else the text (latin-1 str of the file's bytes).

    A ``(kind, value)`` tuple with named fields (what ``typing.NamedTuple`` gives,
    written out: the scanner path does not import typing)."""

    __slots__ = ()
    _fields = ("kind", "value")

    def __new__(cls, kind: str, value: Any) -> Handle:
        return tuple.__new__(cls, (kind, value))

    def __getnewargs__(self) -> tuple[str, Any]:
        return (self[0], self[1])

    @property
    def kind(self) -> str:
        """``id``, ``pinned``, ``name`` or ``tag``."""
        return self[0]

    @property
    def value(self) -> Any:
        """The id (int), or the path, name or tag text (str)."""
        return self[1]

    def __repr__(self) -> str:
        return f"Handle(kind={self[0]!r}, value={self[1]!r})"

    def __str__(self) -> str:
        from .bytes import _show  # start-up: only messages show a handle

        return f"{self[0]} {_show(self[1]) if isinstance(self[1], str) else self[1]}"


class Command:
    """Base of parsed commands: ``line`` (physical, 1-based), ``index`` (0-based command
    number in the file), ``words`` (as lexed)."""

    __slots__ = ("line", "index", "words")
    verb = ""
    line: Optional[int]
    index: int
    #: the command's words (None for ops the scanner took: cut from the file when shown)
    words: Optional[list[str]]

    def _fields(self) -> tuple[Any, ...]:
        return tuple(
            getattr(self, s) for c in type(self).__mro__ for s in getattr(c, "__slots__", ())
        )

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._fields() == other._fields()

    def __hash__(self) -> int:  # pragma: no cover - commands are not dict keys
        return id(self)

    def __repr__(self) -> str:
        names = [s for c in type(self).__mro__ for s in getattr(c, "__slots__", ()) if s != "words"]
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

"""Parsed bpftool commands: map handles and the command records, and the command
tables.

The records both parsers make: the reference grammar (:mod:`.grammar`, which re-exports
them) and the C scanner's driver (:mod:`.scan`), whose small-file path imports only
this module of the two (start-up: no grammar, lexer or ``re``; see
tests/bpftool/test_small_file_imports.py).  Pure Python, no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    _HandleBase = tuple[str, Any]
else:
    _HandleBase = tuple

__all__ = [
    "Handle",
    "Command",
    "Update",
    "Lookup",
    "GetNext",
    "Delete",
    "Pop",
    "Dump",
    "Show",
    "Create",
    "Pin",
    "Freeze",
    "Help",
    "Version",
    "TOP_COMMANDS",
    "MAP_COMMANDS",
]

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


class Update(Command):
    """``map update|push|enqueue MAP [key DATA] [value VALUE] [FLAG]``.

    ``key``/``value`` are the exact buffers handed to the kernel (``value`` is the
    per-CPU packed buffer for per-CPU maps; None for a size-0 part).  For
    map-in-map and prog-array maps ``value`` is None and ``value_handle`` names the
    inner map / program (its fd is the value)."""

    __slots__ = ("verb", "map", "handle", "key", "value", "flags", "value_handle", "value_map")
    #: the resolver's map record (the runner's MapRef; anything with type/key_size/value_size)
    map: Any
    handle: Handle
    key: Optional[bytes]
    value: Optional[bytes]
    flags: int
    value_handle: Optional[Handle]
    value_map: Any
    verb: str

    def __init__(
        self,
        verb: str,
        map: Any,
        handle: Handle,
        key: Optional[bytes],
        value: Optional[bytes],
        flags: int,
        value_handle: Optional[Handle] = None,
        value_map: Any = None,
    ) -> None:
        self.verb, self.map, self.handle = verb, map, handle
        self.key, self.value, self.flags = key, value, flags
        self.value_handle, self.value_map = value_handle, value_map


class Lookup(Command):
    """``map lookup|peek MAP [key DATA]``."""

    __slots__ = ("verb", "map", "handle", "key")
    map: Any
    handle: Handle
    key: Optional[bytes]
    verb: str

    def __init__(self, verb: str, map: Any, handle: Handle, key: Optional[bytes]) -> None:
        self.verb, self.map, self.handle, self.key = verb, map, handle, key


class GetNext(Command):
    """``map getnext MAP [key DATA]`` (key None: first key)."""

    __slots__ = ("map", "handle", "key")
    verb = "getnext"
    map: Any
    handle: Handle
    key: Optional[bytes]

    def __init__(self, map: Any, handle: Handle, key: Optional[bytes]) -> None:
        self.map, self.handle, self.key = map, handle, key


class Delete(Command):
    """``map delete MAP key DATA``."""

    __slots__ = ("map", "handle", "key")
    verb = "delete"
    map: Any
    handle: Handle
    key: Optional[bytes]

    def __init__(self, map: Any, handle: Handle, key: Optional[bytes]) -> None:
        self.map, self.handle, self.key = map, handle, key


class Pop(Command):
    """``map pop|dequeue MAP``."""

    __slots__ = ("verb", "map", "handle")
    map: Any
    handle: Handle
    verb: str

    def __init__(self, verb: str, map: Any, handle: Handle) -> None:
        self.verb, self.map, self.handle = verb, map, handle


class Dump(Command):
    """``map dump MAP`` (``maps``: every map a name matches)."""

    __slots__ = ("maps", "handle")
    verb = "dump"
    maps: list[Any]
    handle: Handle

    def __init__(self, maps: list[Any], handle: Handle) -> None:
        self.maps, self.handle = maps, handle


class Show(Command):
    """``map show|list [MAP]`` (``maps`` None: every map on the system)."""

    __slots__ = ("maps", "handle")
    verb = "show"
    maps: Optional[list[Any]]
    handle: Optional[Handle]

    def __init__(self, maps: Optional[list[Any]], handle: Optional[Handle]) -> None:
        self.maps, self.handle = maps, handle


class Create(Command):
    """``map create FILE type TYPE key N value N entries N name NAME [flags N] [inner_map MAP]``."""

    __slots__ = (
        "path",
        "type",
        "key_size",
        "value_size",
        "max_entries",
        "name",
        "flags",
        "inner",
        "inner_handle",
    )
    verb = "create"
    path: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    name: str
    flags: int
    #: the inner map's record (``inner_map MAP``) or None
    inner: Any
    inner_handle: Optional[Handle]

    def __init__(
        self,
        path: str,
        type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        name: str,
        flags: int,
        inner: Any,
        inner_handle: Optional[Handle],
    ) -> None:
        self.path, self.type, self.key_size, self.value_size = path, type, key_size, value_size
        self.max_entries, self.name, self.flags = max_entries, name, flags
        self.inner, self.inner_handle = inner, inner_handle


class Pin(Command):
    """``map pin MAP FILE``."""

    __slots__ = ("map", "handle", "path")
    verb = "pin"
    map: Any
    handle: Handle
    path: str

    def __init__(self, map: Any, handle: Handle, path: str) -> None:
        self.map, self.handle, self.path = map, handle, path


class Freeze(Command):
    """``map freeze MAP``."""

    __slots__ = ("map", "handle")
    verb = "freeze"
    map: Any
    handle: Handle

    def __init__(self, map: Any, handle: Handle) -> None:
        self.map, self.handle = map, handle


class Help(Command):
    """``help`` / ``map help``: prints help, returns 0."""

    __slots__ = ("topic",)
    verb = "help"
    topic: Optional[str]

    def __init__(self, topic: Optional[str]) -> None:
        self.topic = topic


class Version(Command):
    """``version``."""

    __slots__ = ()
    verb = "version"

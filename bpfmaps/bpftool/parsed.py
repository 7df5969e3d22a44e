"""Parsed bpftool commands: the command records, and (re-exported from :mod:`.handle`)
map handles, their base class and the command tables.

The records both parsers make: the reference grammar (:mod:`.grammar`, which re-exports
them) and the command handlers; the C scanner's driver (:mod:`.scan`) makes op
records instead and needs only :mod:`.handle` (start-up: no grammar, lexer, ``re`` or
these classes on its path; see tests/bpftool/test_small_file_imports.py).  Pure
Python, no I/O.
"""

from __future__ import annotations

from .handle import MAP_COMMANDS, TOP_COMMANDS, Command, Handle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

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

"""bpftool command grammar: word lists -> command objects.

Pure Python.  Mirrors bpftool 7.1 (main.c ``cmd_select``/``is_prefix``, map.c
``do_*``/``parse_elem``, common.c ``map_parse_fds``/``parse_u32_arg``): every keyword
is prefix-matched (the empty word matches everything) with the first table entry
winning; ``key``/``value``/flags come in any order; byte counts follow the map's
key_size/value_size; per-CPU values are replicated to every possible CPU.

Byte counts depend on the map, so parsing calls a *resolver*: ``resolver(handle)``
returns an object with ``type``, ``key_size`` and ``value_size`` (a MapInfo, or the
runner's opened-map record) and raises ParseError (or another BpfmapsError)
when the map cannot be found.  An optional ``resolver.resolve_all(handle)``
returns every map a ``name`` handle matches (for ``show``/``dump``).

Only the ``map`` command group (and ``help``/``version``) is supported; other groups
raise ParseError ("not supported").
"""

from __future__ import annotations

from ..errors import BpfmapsError, ParseError
from ..types import FD_VALUE_TYPES, MAP_IN_MAP_TYPES, PERCPU_TYPES, MapType, round_up8
from .bytes import _show, is_prefix, parse_bytes, strtoul
from .parsed import (
    MAP_COMMANDS,
    TOP_COMMANDS,
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
    Pop,
    Show,
    Update,
    Version,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Callable, Optional

    from .lexer import LexedCommand

    Resolver = Callable[[Handle], Any]

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
    "parse_command",
    "TOP_COMMANDS",
    "MAP_COMMANDS",
    "MAP_TYPE_NAMES",
]

#: libbpf's map type names (``map create ... type NAME``: exact match, no prefixes)
MAP_TYPE_NAMES = {t.name.lower(): int(t) for t in MapType}


def _parse_tag(word: str) -> Optional[bytes]:
    """bpftool's ``sscanf(word, BPF_TAG_FMT, ...)``: eight ``%02hhx`` fields, each one
    or two characters of [sign] hex digits after optional white space (trailing text
    ignored).  None when fewer than eight fields parse."""
    out = bytearray()
    i, n = 0, len(word)
    for _ in range(8):
        while i < n and word[i] in " \t\n\v\f\r":
            i += 1
        j = i
        neg = False
        if j < n and word[j] in "+-":
            neg = word[j] == "-"
            j += 1
        digits = ""
        width = 1 if j > i else 2  # the sign counts toward the field width
        while j < n and len(digits) < width and word[j] in "0123456789abcdefABCDEF":
            digits += word[j]
            j += 1
        if not digits:
            return None
        v = int(digits, 16)
        out.append((-v if neg else v) & 0xFF)
        i = j
    return bytes(out)


_FLAG_WORDS = (("any", 0), ("noexist", 1), ("exist", 2))


class _Parser:
    def __init__(
        self,
        words: Sequence[str],
        cmd: Optional[LexedCommand],
        resolver: Resolver,
        file: Optional[str],
        line: Optional[int],
        possible_cpus: int,
        compat: bool,
    ) -> None:
        self.w = list(words)
        self.n = len(self.w)
        self.cmd = cmd
        self.resolver = resolver
        self.file = file
        self.line = line
        self.ncpus = possible_cpus
        self.compat = compat

    # -- errors ------------------------------------------------------------------
    def err(self, message: str, wi: int | None = None, *, usage: bool = False) -> ParseError:
        line, col = self.line, None
        if self.cmd is not None and hasattr(self.cmd, "position"):
            try:
                line, col = self.cmd.position(wi)
            except Exception:  # pragma: no cover - positions are best effort
                line, col = self.line, None
        token = _show(self.w[wi]) if wi is not None and wi < self.n else None
        return ParseError(message, file=self.file, line=line, column=col, token=token, usage=usage)

    def usage(self, what: str, wi: int | None = None) -> ParseError:
        return self.err(
            f"{what}: missing arguments (bpftool prints its usage text and exits)", wi, usage=True
        )

    def word(self, i: int) -> str | None:
        return self.w[i] if i < self.n else None

    # -- handles -----------------------------------------------------------------
    def parse_u32(self, i: int, what: str, message: str) -> int:
        s = self.w[i]
        v, end, erange = strtoul(s, 0)
        if end != len(s):
            raise self.err(message, i)
        if not self.compat:
            neg = s.lstrip(" \t\n\v\f\r").startswith("-") and v != 0
            if s == "" or erange or neg or v > 0xFFFFFFFF:
                raise self.err(
                    f"{what} out of range 0..4294967295: {_show(s)!r} (bpftool would use "
                    f"{v & 0xFFFFFFFF})",
                    i,
                )
        return v & 0xFFFFFFFF

    def map_handle(self, i: int, need_words: bool = True) -> tuple[Handle, int]:
        """Parse ``id N | pinned FILE | name NAME`` at word i -> (handle, next index)."""
        w = self.w[i]
        if i + 1 >= self.n:
            raise self.usage(f"'{_show(w)}' needs an argument", i)
        if is_prefix(w, "id"):
            v = self.parse_u32(i + 1, "map id", f"can't parse {_show(self.w[i + 1])} as ID")
            return Handle("id", v), i + 2
        if is_prefix(w, "name"):
            name = self.w[i + 1]
            if len(name) > 15:
                raise self.err("can't parse name", i + 1)
            return Handle("name", name), i + 2
        if is_prefix(w, "pinned"):
            return Handle("pinned", self.w[i + 1]), i + 2
        raise self.err(f"expected 'id', 'name' or 'pinned', got: '{_show(w)}'?", i)

    def prog_handle(self, i: int) -> tuple[Handle, int]:
        w = self.w[i]
        if is_prefix(w, "id"):
            v = self.parse_u32(i + 1, "program id", f"can't parse {_show(self.w[i + 1])} as ID")
            return Handle("id", v), i + 2
        if is_prefix(w, "tag"):
            if i + 1 >= self.n:
                raise self.usage(f"'{_show(w)}' needs an argument", i)
            tag = _parse_tag(self.w[i + 1])
            if tag is None:
                raise self.err("can't parse tag", i + 1)
            return Handle("tag", tag), i + 2
        if is_prefix(w, "name"):
            return Handle("name", self.w[i + 1]), i + 2
        if is_prefix(w, "pinned"):
            return Handle("pinned", self.w[i + 1]), i + 2
        raise self.err(f"expected 'id', 'tag', 'name' or 'pinned', got: '{_show(w)}'?", i)

    def resolve(self, handle: Handle, wi: int, all_matches: bool = False) -> Any:
        try:
            if all_matches:
                ra = getattr(self.resolver, "resolve_all", None)
                return list(ra(handle)) if ra is not None else [self.resolver(handle)]
            return self.resolver(handle)
        except ParseError as e:
            raise self.err(e.message, wi) from e
        except BpfmapsError as e:
            raise self.err(str(e), wi) from e

    # -- parse_elem --------------------------------------------------------------
    def elem(
        self, i: int, info: Any, *, want_key: bool, want_value: bool, allow_flags: bool
    ) -> tuple[Optional[bytes], Optional[bytes], int, Optional[Handle], Any]:
        key_size, value_size = info.key_size, info.value_size if want_value else 0
        need_key = want_key
        need_value = want_value and value_size > 0
        key = value = None
        flags = 0
        value_handle = value_map = None
        mtype = info.type
        while True:
            if i >= self.n:
                if not need_key and not need_value:
                    break
                raise self.err(f"did not find {'key' if need_key else 'value'}", i)
            w = self.w[i]
            if is_prefix(w, "key"):
                if not need_key:
                    raise self.err("duplicate key" if key_size else "unnecessary key", i)
                key, used = self.bytes(i + 1, key_size, "key")
                i += 1 + used
                need_key = False
            elif is_prefix(w, "value"):
                if not need_value:
                    raise self.err("duplicate value" if value_size else "unnecessary value", i)
                i += 1
                if mtype in FD_VALUE_TYPES:
                    what = "map in map" if mtype in MAP_IN_MAP_TYPES else "map of progs"
                    if value_size != 4:
                        raise self.err(f"value smaller than 4B for {what}?", i - 1)
                    if i + 1 >= self.n:
                        raise self.err(f"not enough value arguments for {what}", i - 1)
                    if mtype in MAP_IN_MAP_TYPES:
                        value_handle, ni = self.map_handle(i)
                        value_map = self.resolve(value_handle, i + 1)
                    else:
                        value_handle, ni = self.prog_handle(i)
                    i = ni
                else:
                    v, used = self.bytes(i, value_size, "value")
                    i += used
                    if mtype in PERCPU_TYPES:
                        step = round_up8(value_size)
                        slot = v + bytes(step - value_size)
                        v = slot * self.ncpus
                    value = v
                need_value = False
            elif any(is_prefix(w, f) for f, _ in _FLAG_WORDS):
                if not allow_flags:
                    raise self.err(f"flags specified multiple times: {_show(w)}", i)
                flags = next(v for f, v in _FLAG_WORDS if is_prefix(w, f))
                allow_flags = False
                i += 1
            else:
                raise self.err(f"expected key or value, got: {_show(w)}", i)
        return key, value, flags, value_handle, value_map

    def bytes(self, i: int, size: int, name: str) -> tuple[bytes, int]:
        try:
            data, used = parse_bytes(self.w[i:], size, name, compat=self.compat)
        except ParseError as e:
            raise self.err(e.message, i + (e.word_index or 0)) from None
        return data, used

    # -- commands ----------------------------------------------------------------
    def parse(self) -> Command:
        if self.n == 0:
            return self.finish(Help(None))
        top = self.select(0, TOP_COMMANDS)
        if top is None:
            raise self.err(f"unknown command '{_show(self.w[0])}'", 0)
        if top == "help":
            return self.finish(Help(None))
        if top == "version":
            return self.finish(Version())
        if top != "map":
            raise self.err(
                f"'{top}' commands are not supported by bpfmaps (only 'map' commands)", 0
            )
        if self.n == 1:
            return self.finish(Show(None, None))
        sub = self.select(1, MAP_COMMANDS)
        if sub is None:
            raise self.err(f"unknown map command '{_show(self.w[1])}'", 1, usage=True)
        return self.finish(getattr(self, "do_" + sub)(sub, 2))

    def finish(self, c: Command) -> Command:
        c.line = self.line
        c.index = getattr(self.cmd, "index", 0)
        c.words = self.w
        return c

    def select(self, i: int, table: Sequence[str]) -> str | None:
        w = self.w[i]
        for name in table:
            if is_prefix(w, name):
                return name
        return None

    def rest(self, i: int) -> int:
        return self.n - i

    def do_update(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.usage(f"map {verb}")
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        key, value, flags, vh, vm = self.elem(
            i2, info, want_key=info.key_size > 0, want_value=True, allow_flags=True
        )
        return Update(verb, info, handle, key, value, flags, vh, vm)

    do_push = do_enqueue = do_update

    def do_lookup(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.usage(f"map {verb}")
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        key, _, _, _, _ = self.elem(
            i2, info, want_key=info.key_size > 0, want_value=False, allow_flags=False
        )
        return Lookup(verb, info, handle, key)

    do_peek = do_lookup

    def do_getnext(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.usage("map getnext")
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        key = None
        if i2 < self.n:
            key, _, _, _, _ = self.elem(
                i2, info, want_key=True, want_value=False, allow_flags=False
            )
        return GetNext(info, handle, key)

    def do_delete(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.usage("map delete")
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        key, _, _, _, _ = self.elem(i2, info, want_key=True, want_value=False, allow_flags=False)
        return Delete(info, handle, key)

    def do_pop(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.usage(f"map {verb}")
        handle, _ = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        return Pop(verb, info, handle)

    do_dequeue = do_pop

    def do_dump(self, verb: str, i: int) -> Command:
        if self.rest(i) != 2:
            raise self.usage("map dump")
        handle, _ = self.map_handle(i)
        return Dump(self.resolve(handle, i + 1, all_matches=True), handle)

    def do_show(self, verb: str, i: int) -> Command:
        if self.rest(i) == 2:
            handle, _ = self.map_handle(i)
            return Show(self.resolve(handle, i + 1, all_matches=True), handle)
        if self.rest(i):
            raise self.err(f"what is '{_show(self.w[i])}'?", i)
        return Show(None, None)

    do_list = do_show

    def do_help(self, verb: str, i: int) -> Command:
        return Help("map")

    def do_event_pipe(self, verb: str, i: int) -> Command:
        raise self.err("'map event_pipe' is not supported by bpfmaps", 1)

    def do_pin(self, verb: str, i: int) -> Command:
        if self.rest(i) < 3:
            raise self.err(f"'pin' needs at least 3 arguments, {self.rest(i)} found", i - 1)
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        if i2 >= self.n:
            raise self.usage("map pin")
        return Pin(info, handle, self.w[i2])

    def do_freeze(self, verb: str, i: int) -> Command:
        if self.rest(i) < 2:
            raise self.err(f"'freeze' needs at least 2 arguments, {self.rest(i)} found", i - 1)
        handle, i2 = self.map_handle(i)
        info = self.resolve(handle, i + 1)
        if i2 < self.n:
            raise self.err(f"what is '{_show(self.w[i2])}'?", i2)
        return Freeze(info, handle)

    def do_create(self, verb: str, i: int) -> Command:
        if self.rest(i) < 7:
            raise self.err(f"'create' needs at least 7 arguments, {self.rest(i)} found", i - 1)
        path = self.w[i]
        i += 1
        mtype: Optional[int] = None
        vals = {"key size": 0, "value size": 0, "max entries": 0, "flags": 0}
        name = None
        inner = inner_handle = None
        while i < self.n:
            if self.rest(i) < 2:
                raise self.err(f"'{_show(self.w[i - 1])}' needs at least 2 arguments, 1 found", i)
            w = self.w[i]
            if is_prefix(w, "type"):
                if mtype:
                    raise self.err("map type already specified", i)
                t = self.w[i + 1]
                if t not in MAP_TYPE_NAMES:
                    raise self.err(f"unrecognized map type: {_show(t)}", i + 1)
                mtype = MAP_TYPE_NAMES[t]
                i += 2
            elif is_prefix(w, "name"):
                name = self.w[i + 1]
                i += 2
            elif any(is_prefix(w, k) for k in ("key", "value", "entries", "flags")):
                what = next(
                    what
                    for k, what in (
                        ("key", "key size"),
                        ("value", "value size"),
                        ("entries", "max entries"),
                        ("flags", "flags"),
                    )
                    if is_prefix(w, k)
                )
                if vals[what]:
                    raise self.err(f"{what} already specified", i)
                vals[what] = self.parse_u32(
                    i + 1, what, f"can't parse {_show(self.w[i + 1])} as {what}"
                )
                i += 2
            elif is_prefix(w, "dev"):
                raise self.err("offloaded maps ('dev') are not supported by bpfmaps", i)
            elif is_prefix(w, "inner_map"):
                if self.rest(i + 1) < 2:
                    raise self.usage("map create inner_map", i)
                inner_handle, ni = self.map_handle(i + 1)
                inner = self.resolve(inner_handle, i + 2)
                i = ni
            else:
                raise self.err(f"unknown arg {_show(w)}", i)
        if name is None:
            raise self.err("map name not specified")
        return Create(
            path,
            mtype or 0,
            vals["key size"],
            vals["value size"],
            vals["max entries"],
            name,
            vals["flags"],
            inner,
            inner_handle,
        )


def parse_command(
    words: Sequence[str] | LexedCommand,
    resolver: Resolver,
    *,
    file: str | None = None,
    line: int | None = None,
    possible_cpus: int = 1,
    compat: bool = False,
) -> Command:
    """Parse one command.

    ``words`` is a list of words (latin-1 str; use ``os.fsencode(w).decode("latin-1")``
    for argv) or a :class:`~bpfmaps.bpftool.lexer.LexedCommand` (gives word columns in
    errors).  ``resolver(handle)`` supplies map sizes/types (see module doc);
    ``possible_cpus`` sizes per-CPU values.  ``compat=True`` accepts what bpftool
    silently changes (see :mod:`bpfmaps.bpftool.bytes`).

    Returns a :class:`Command` subclass.  Raises ParseError with bpftool's wording,
    the file, line, column and token; usage errors (too few words) have
    ``usage=True``.  Cost: O(words) plus resolver calls.
    """
    cmd: Optional[LexedCommand] = None
    lexed: Any = words
    if hasattr(lexed, "words"):
        cmd = lexed
        if line is None:
            line = cmd.line
        seq: Sequence[str] = cmd.words
    else:
        seq = lexed
    return _Parser(seq, cmd, resolver, file, line, possible_cpus, compat).parse()

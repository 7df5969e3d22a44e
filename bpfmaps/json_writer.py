"""bpftool's streaming JSON writer (``json_writer.c``, bpftool 7.1): the one JSON writer.

Both bpftool's ``-j``/``-p`` output (:mod:`bpfmaps.bpftool.output`) and the BTF
output (:mod:`bpfmaps.btf.dumper`, :mod:`bpfmaps.btf.rawdump`, ``btf dump``) write
through :class:`JsonWriter`, so their separators, pretty layout and string escaping are the same bytes:

* a value (or an opening bracket) first writes the pending comma; several top-level
  values are written comma-separated (bpftool does the same);
* pretty mode (``-p``): a newline and 4-space indentation only before a member name
  and before the closing bracket of a non-empty container, so arrays of scalars stay
  on one line (``[1,2,3]``, ``[{`` ... ``},{`` ... ``}]``); ``"name": value``;
* strings escape only ``\\t \\n \\r \\f \\b "`` and write a backslash as ``\\n``
  (a bug of that json_writer, ``jsonw_puts``; the binary is the oracle); ``'`` and
  other control characters go out unescaped.

Pure Python, imports nothing of bpfmaps.  Cost: O(bytes written); no syscall.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # JsonWritable documents an interface; typing is not loaded at run time

__all__ = ["JsonWritable", "JsonWriter", "Raw", "StringArray", "quote", "render_json"]

_ESCAPES = str.maketrans(
    {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\n", '"': '\\"'}
)


def quote(s: str) -> str:
    """``s`` as bpftool 7.1's ``jsonw_puts`` writes it, quotes included (see the
    module docstring for the escaping).  O(len(s)); never raises."""
    return '"' + s.translate(_ESCAPES) + '"'


#: member names as :func:`quote` spells them (a dump writes the same few names for every
#: entry), at most _NAMES_MAX of them
_NAMES: dict[str, str] = {}
_NAMES_MAX = 4096


class Raw(str):
    """JSON text written as is by :meth:`JsonWriter.value` (a number bpftool prints
    with printf, a pre-rendered member)."""

    __slots__ = ()


#: words as :func:`quote` spells them (:class:`StringArray`), at most _NAMES_MAX of them
_WORDS: dict[str, str] = {}


class StringArray:
    """A list of strings written as one token between its brackets: the same text as
    the list itself (the items of an array of scalars stay on one line in pretty
    mode too), without a writer call a string (a batch item's command words).  Each
    distinct word is quoted once (at most _NAMES_MAX kept)."""

    __slots__ = ("words",)

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def write_json(self, w: JsonWriter) -> None:
        """Write the array into ``w``.  O(len of the words)."""
        w.begin("[")
        if self.words:
            cache = _WORDS
            out = []
            for s in self.words:
                q = cache.get(s)
                if q is None:
                    q = quote(s)
                    if len(cache) < _NAMES_MAX:
                        cache[s] = q
                out.append(q)
            w.token(",".join(out))
        w.end("]")


class JsonWritable(Protocol):
    """An object that writes itself (BTF ``formatted`` members):
    ``write_json(w)`` calls ``w``'s primitives."""

    def write_json(self, w: JsonWriter) -> None:
        """Write this value into ``w`` at its current position."""


class JsonWriter:
    """A streaming JSON writer with bpftool's separators and pretty layout.

    Methods mirror the C API: ``begin('{'|'[')``, ``end('}'|']')``, ``name(s)``
    (jsonw_name), ``token(json_text)`` (jsonw_printf), ``string(s)`` (jsonw_string);
    :meth:`value` writes a whole Python value.  State is the nesting ``depth`` and the
    pending separator ``sep``, as in bpftool; ``parts`` is the text so far (callers
    may append pre-formatted text to it), :meth:`getvalue` joins it."""

    __slots__ = ("pretty", "depth", "sep", "parts")

    def __init__(self, pretty: bool = False, depth: int = 0) -> None:
        """An empty writer; ``pretty`` is bpftool's ``-p``; ``depth``: the number of
        containers the text is inside (1: one element of an array, such as a batch
        file's item, laid out as in the array, without its brackets or separators).
        O(1)."""
        self.pretty: bool = pretty
        self.depth: int = depth
        self.sep: str = ""
        self.parts: list[str] = []

    def _eol(self) -> None:
        if self.pretty:
            self.parts.append("\n" + "    " * self.depth)

    def begin(self, c: str) -> None:
        """Open an object (``"{"``) or an array (``"["``).  O(1)."""
        if self.sep:
            self.parts.append(self.sep)
        self.parts.append(c)
        self.depth += 1
        self.sep = ""

    def end(self, c: str) -> None:
        """Close the innermost container with ``c`` (``"}"`` or ``"]"``).  O(1)."""
        self.depth -= 1
        if self.sep:
            self._eol()
        self.parts.append(c)
        self.sep = ","

    def name(self, name: str) -> None:
        """A member name (``jsonw_name``); a new indented line in pretty mode.  O(len)."""
        if self.sep:
            self.parts.append(self.sep)
        self._eol()
        self.sep = ""
        q = _NAMES.get(name)
        if q is None:
            q = quote(name)
            if len(_NAMES) < _NAMES_MAX:
                _NAMES[name] = q
        self.parts.append(q + (": " if self.pretty else ":"))

    def token(self, text: str) -> None:
        """A scalar already in JSON syntax (bpftool's ``jsonw_printf``).  O(1)."""
        if self.sep:
            self.parts.append(self.sep)
        self.sep = ","
        self.parts.append(text)

    def string(self, s: str) -> None:
        """A string value (bpftool's ``jsonw_string``).  O(len(s))."""
        self.token(quote(s))

    def value(self, v: Any) -> None:
        """Write a Python value: dict (object, in order), list/tuple (array), str,
        :class:`Raw` (as is), int, bool, None, float (``repr``), or a
        :class:`JsonWritable`.  O(size of the value); TypeError for anything else."""
        if isinstance(v, Raw):
            self.token(v)  # (as is: no copy of a big pre-rendered chunk)
        elif isinstance(v, str):
            self.token(quote(v))
        elif v is None:
            self.token("null")
        elif v is True or v is False:
            self.token("true" if v else "false")
        elif isinstance(v, int):
            self.token(str(v))
        elif isinstance(v, dict):
            self.begin("{")
            for k, x in v.items():
                self.name(str(k))
                self.value(x)
            self.end("}")
        elif isinstance(v, (list, tuple)):
            self.begin("[")
            for x in v:
                self.value(x)
            self.end("]")
        elif isinstance(v, float):
            self.token(repr(v))
        elif hasattr(v, "write_json"):
            v.write_json(self)
        else:
            raise TypeError(f"cannot write {type(v).__name__} as JSON")

    def getvalue(self) -> str:
        """The text written so far.  O(bytes written)."""
        return "".join(self.parts)

    def write_to(self, out: Any, big: int = 1 << 16) -> None:
        """Write the text so far to the text stream ``out``: runs of small parts joined
        into one write, parts of ``big`` characters or more written as they are (no
        copy of a dump's C chunks).  The same characters as ``out.write(getvalue())``.
        O(bytes written)."""
        run: list[str] = []
        for p in self.parts:
            if len(p) >= big:
                if run:
                    out.write("".join(run))
                    run.clear()
                out.write(p)
            else:
                run.append(p)
        if run:
            out.write("".join(run))


def render_json(obj: Any, pretty: bool = False) -> str:
    """``obj`` as bpftool's json_writer writes it (no trailing newline); see
    :meth:`JsonWriter.value` for the values it takes.  O(size of the value)."""
    w = JsonWriter(pretty)
    w.value(obj)
    return w.getvalue()

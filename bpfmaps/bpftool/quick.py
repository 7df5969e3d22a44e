"""A pure-Python recognizer for the common shapes of batch-file lines.

The full path (:mod:`.lexer` + :mod:`.grammar`) costs about 7-10 us per line; this
one about 1-2 us.  It takes a physical line only when it is *ordinary*:

* no quote, backslash, NUL byte, ``\\v``/``\\f`` or other non-bpftool whitespace
  (``str.split()`` would split on them, ``make_args`` does not), at most
  :data:`MAX_LINE` characters; a ``#`` cuts the line as in bpftool;
* ``map VERB MAP ...`` with VERB one of update/push/enqueue/delete/lookup/peek/
  getnext/pop/dequeue spelled out, MAP ``id N | pinned PATH | name NAME`` spelled out;
* ``key``/``value``/``any``/``noexist``/``exist`` spelled out (in any order), byte
  words that are valid for the mode (a per-(base, compat) cache of words, the
  same one :func:`.bytes.parse_bytes` uses; unknown words are checked with
  :func:`.bytes.parse_byte`), and nothing else.

Everything else, and every line that would be an error, is left to the full path
(``None``), which produces the command or the error message.  So the recognizer
never reports errors, and for every line it takes it builds exactly the command the
full path builds (a hypothesis test compares both on generated lines).

Exactly spelled keywords mean the same thing as in the full path: bpftool matches
``is_prefix(word, name)`` in table order, and no earlier table entry starts with
any of these words (``map``: help/batch/prog come first; ``delete``: dump/update/
lookup/getnext come first; ``push``/``pop``: pin/peek come first; flags: key/value
come first).

Map handles are parsed and resolved by the full path's own code the first time a
``(kind word, argument word)`` pair is seen, then cached (the resolver caches
handles too, so a handle always resolves to the same map within a file).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ParseError
from ..types import FD_VALUE_TYPES, PERCPU_TYPES, round_up8
from .bytes import _CACHE, _CACHE_MAX, parse_byte
from .grammar import Delete, GetNext, Lookup, Pop, _Parser

__all__ = ["MAX_LINE", "Recognizer", "SPECIAL"]

#: longest physical line (newline included) the recognizer takes; longer lines
#: (E2BIG at 65535, fgets chunks) are left to the lexer
MAX_LINE = 4000

#: characters that make a line unusual: quotes, backslash (continuations), NUL, the
#: whitespace str.split() splits on but make_args does not (latin-1 view), and '#'
#: (handled: it cuts the line)
SPECIAL = re.compile(rb"[#'\"\\\x00\x0b\x0c\x1c-\x1f\x85\xa0]")

#: entries of the whole-value cache
_SEG_MAX = 1 << 14
_HEX = frozenset(("h", "he", "hex"))
_FLAGS = {"any": 0, "noexist": 1, "exist": 2}
_HANDLE_WORDS = frozenset(("id", "pinned", "name"))
# verb -> kind
_UPD, _DEL, _LKP, _GN, _POP = range(5)
_VERBS = {
    "update": _UPD,
    "push": _UPD,
    "enqueue": _UPD,
    "delete": _DEL,
    "lookup": _LKP,
    "peek": _LKP,
    "getnext": _GN,
    "pop": _POP,
    "dequeue": _POP,
}


class _MapState:
    """What the recognizer needs about one resolved handle."""

    __slots__ = ("handle", "map", "ks", "vs", "fdval", "pad", "ncpus", "tails")

    def __init__(self, handle, m, ncpus) -> None:
        self.handle = handle
        self.map = m
        self.ks = m.key_size
        self.vs = m.value_size
        self.fdval = m.type in FD_VALUE_TYPES
        # per-CPU: (padding bytes, copies) for the replicated value buffer
        self.pad = (bytes(round_up8(self.vs) - self.vs), ncpus) if m.type in PERCPU_TYPES else None
        self.ncpus = ncpus
        #: text after the key words of an update (``value ... [flag]``) -> (value, flags)
        self.tails: dict[str, tuple[bytes, int]] = {}


class Recognizer:
    """Per-file state: the resolver, the mode, the handle cache.

    :meth:`line` takes the words of one ``#``-cut line and returns a tuple
    describing it, or None when the full path must handle it:

    * ``("update", state, key, value, flags)`` (value is the kernel buffer);
    * ``("cmd", command)`` with ``line``/``index``/``words`` left for the caller.
    """

    def __init__(self, resolver: Any, *, file: str | None, possible_cpus: int, compat: bool):
        self.resolver = resolver
        self.file = file
        self.ncpus = possible_cpus
        self.compat = compat
        self.c0 = _CACHE[(0, compat)]
        self.c16 = _CACHE[(16, compat)]
        self.handles: dict[tuple[str, str], _MapState] = {}
        # whole value texts (words joined by one space) -> bytes, per base
        self.seg0: dict[str, bytes] = {}
        self.seg16: dict[str, bytes] = {}

    def state(self, w: list[str]) -> _MapState | None:
        hk = (w[2], w[3])
        st = self.handles.get(hk)
        if st is None:
            if w[2] not in _HANDLE_WORDS:
                return None
            p = _Parser(w, None, self.resolver, self.file, 0, self.ncpus, self.compat)
            try:
                handle, _ = p.map_handle(2)
                m = self.resolver(handle)
            except Exception:  # the full path reports it
                return None
            st = _MapState(handle, m, self.ncpus)
            self.handles[hk] = st
        return st

    def _bytes(self, w, j, n, size):
        """(bytes, next index) for ``[hex] B1..Bsize`` at w[j], or None."""
        cache = self.c0
        if j < n and w[j] in _HEX:
            cache = self.c16
            j += 1
        e = j + size
        if e > n:
            return None
        chunk = w[j:e]
        try:
            return bytes(map(cache.__getitem__, chunk)), e
        except KeyError:
            pass
        base = 16 if cache is self.c16 else 0
        out = bytearray()
        for x in chunk:
            v = cache.get(x)
            if v is None:
                try:
                    v = parse_byte(x, base, compat=self.compat)
                except ParseError:
                    return None
                if len(cache) < _CACHE_MAX:
                    cache[x] = v
            out.append(v)
        return bytes(out), e

    def _elem(self, w, i, n, st, want_key, want_value, allow_flags):
        """Mirror of grammar._Parser.elem for exact keywords: (key, value, flags) or None."""
        need_key = want_key
        need_value = want_value and st.vs > 0
        key = value = None
        flags = 0
        while i < n:
            x = w[i]
            if x == "key":
                if not need_key:
                    return None
                r = self._bytes(w, i + 1, n, st.ks)
                if r is None:
                    return None
                key, i = r
                need_key = False
            elif x == "value":
                if not need_value or st.fdval:
                    return None
                r = self._bytes(w, i + 1, n, st.vs)
                if r is None:
                    return None
                value, i = r
                if st.pad is not None:
                    value = (value + st.pad[0]) * st.pad[1]
                need_value = False
            elif x in _FLAGS:
                if not allow_flags:
                    return None
                flags = _FLAGS[x]
                allow_flags = False
                i += 1
            else:
                return None
        if need_key or need_value:
            return None
        return key, value, flags

    def _value(self, w, j, n, vs):
        """The common ``value [hex] V1..Vvs`` (no per-CPU, no fd values): bytes, next index.
        Whole value texts are cached (files repeat the same values); KeyError/IndexError
        when a word is unknown or missing."""
        cache = self.c0
        if w[j] in _HEX:
            cache = self.c16
            j += 1
        e = j + vs
        if e > n:
            raise IndexError
        chunk = w[j:e]
        if vs >= 8:
            seg = self.seg0 if cache is self.c0 else self.seg16
            t = " ".join(chunk)
            v = seg.get(t)
            if v is None:
                v = bytes(map(cache.__getitem__, chunk))
                if len(seg) < _SEG_MAX:
                    seg[t] = v
            return v, e
        return bytes(map(cache.__getitem__, chunk)), e

    def _update(self, w, n, st):
        """``key [hex] K.. value [hex] V.. [flag]`` in that order, known words only:
        (key, value, flags); raises KeyError/IndexError/ValueError otherwise."""
        ks = st.ks
        i = 4
        key = None
        if ks:
            if w[4] != "key":
                raise ValueError
            cache = self.c0
            j = 5
            if w[5] in _HEX:
                cache = self.c16
                j = 6
            i = j + ks
            if i > n:
                raise IndexError
            key = bytes(map(cache.__getitem__, w[j:i]))
        if w[i] != "value" or st.vs == 0 or st.fdval or st.pad is not None:
            raise ValueError
        value, i = self._value(w, i + 1, n, st.vs)
        flags = 0
        if i < n:
            flags = _FLAGS[w[i]]
            if i + 1 != n:
                raise ValueError
        return key, value, flags

    def fast_update(self, text: str):
        """The most common line, ``map update H A key K1..Kks value ... [flag]`` with
        decimal/octal/0x key words, for an already seen handle: split only up to the
        key, and take ``value ... [flag]`` from a cache of whole tails (files repeat the
        same values).  Same result as :meth:`line`, or None (then use :meth:`line`)."""
        p = text.split(None, 4)
        if len(p) != 5 or p[1] != "update" or p[0] != "map":
            return None
        st = self.handles.get((p[2], p[3]))
        if st is None or not st.ks or st.pad is not None or st.fdval or not st.vs:
            return None
        ks = st.ks
        q = p[4].split(None, ks + 1)
        if len(q) != ks + 2 or q[0] != "key":
            return None
        try:
            key = bytes(map(self.c0.__getitem__, q[1 : ks + 1]))
        except KeyError:
            return None
        tail = q[ks + 1]
        r = st.tails.get(tail)
        if r is None:
            w = tail.split()
            n = len(w)
            if w[0] != "value" or len(st.tails) >= _SEG_MAX:
                return None
            try:
                value, i = self._value(w, 1, n, st.vs)
                flags = 0
                if i < n:
                    flags = _FLAGS[w[i]]
                    if i + 1 != n:
                        return None
            except (KeyError, IndexError):
                return None
            r = st.tails[tail] = (value, flags)
        return ("update", st, key, r[0], r[1])

    def line(self, w: list[str]):
        n = len(w)
        if n < 4 or w[0] != "map":
            return None
        verb = w[1]
        kind = _VERBS.get(verb)
        if kind is None:
            return None
        st = self.handles.get((w[2], w[3]))
        if st is None:
            st = self.state(w)
            if st is None:
                return None
        if kind == _UPD:
            try:
                return ("update", st, *self._update(w, n, st))
            except (KeyError, IndexError, ValueError):
                pass
            r = self._elem(w, 4, n, st, st.ks > 0, True, True)
            if r is None or r[1] is None:
                return None
            return ("update", st, r[0], r[1], r[2])
        if kind == _DEL:
            ks = st.ks
            if n == ks + 5 and w[4] == "key":  # the common `key B1..Bks`
                try:
                    return (
                        "cmd",
                        Delete(st.map, st.handle, bytes(map(self.c0.__getitem__, w[5:]))),
                    )
                except KeyError:
                    pass
            r = self._elem(w, 4, n, st, True, False, False)
            if r is None:
                return None
            return ("cmd", Delete(st.map, st.handle, r[0]))
        if kind == _LKP:
            r = self._elem(w, 4, n, st, st.ks > 0, False, False)
            if r is None:
                return None
            return ("cmd", Lookup(verb, st.map, st.handle, r[0]))
        if kind == _GN:
            key = None
            if n > 4:
                r = self._elem(w, 4, n, st, True, False, False)
                if r is None:
                    return None
                key = r[0]
            return ("cmd", GetNext(st.map, st.handle, key))
        # pop/dequeue: bpftool ignores words after the handle; only the plain form here
        if n != 4:
            return None
        return ("cmd", Pop(verb, st.map, st.handle))

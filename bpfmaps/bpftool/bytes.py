"""bpftool's byte-list syntax: ``[hex] B1 B2 ...`` parsing and hex formatting.

Pure Python (no compiled extension).  The parser models glibc ``strtoul`` exactly
(base 0: decimal, ``0x`` hex, leading-``0`` octal; base 16 after a ``hex`` word;
leading whitespace, one sign, ERANGE saturation), as used by bpftool's
``parse_bytes()`` (map.c).

Safe by default: where bpftool silently writes something other than what the
user wrote (a byte above 255 truncated, a negative number wrapped, a number
beyond 2**64-1 saturated, an empty first word taken as ``hex``, an empty word
taken as byte 0), :func:`parse_bytes` raises :class:`~bpfmaps.errors.ParseError`.
``compat=True`` reproduces bpftool's bytes exactly instead.
"""

from __future__ import annotations

from ..errors import ParseError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ULONG_MAX",
    "strtoul",
    "parse_bytes",
    "parse_byte",
    "format_bytes",
    "format_entry",
    "is_prefix",
]

ULONG_MAX = 2**64 - 1
_C_SPACE = " \t\n\v\f\r"
_DIGITS = {c: i for i, c in enumerate("0123456789")}
_DIGITS.update({c: 10 + i for i, c in enumerate("abcdef")})
_DIGITS.update({c: 10 + i for i, c in enumerate("ABCDEF")})


def is_prefix(pfx: str, word: str) -> bool:
    """bpftool's ``is_prefix(pfx, str)``: ``pfx`` starts ``word`` (the empty word matches all)."""
    return word.startswith(pfx)


def strtoul(s: str, base: int) -> tuple[int, int, bool]:
    """glibc ``strtoul(s, &end, base)`` for base 0 or 16 in the C locale.

    Returns ``(value, end, erange)``: the unsigned long result (negatives are
    negated modulo 2**64, overflow saturates to ULONG_MAX), the index where
    parsing stopped (0 when no digits were found, like glibc's ``endptr = nptr``)
    and whether ERANGE was set.  O(len(s)).
    """
    n = len(s)
    i = 0
    while i < n and s[i] in _C_SPACE:
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if i < n and s[i] == "0":
        if base in (0, 16) and i + 1 < n and s[i + 1] in "xX":
            # "0x" needs a hex digit after it; otherwise only "0" is parsed.
            if i + 2 < n and _DIGITS.get(s[i + 2], 99) < 16:
                i += 2
                base = 16
            else:
                return 0, i + 1, False
        elif base == 0:
            base = 8
    elif base == 0:
        base = 10
    start = i
    value = 0
    while i < n:
        d = _DIGITS.get(s[i], 99)
        if d >= base:
            break
        value = value * base + d
        i += 1
    if i == start:
        return 0, 0, False
    if value > ULONG_MAX:
        return ULONG_MAX, i, True
    if neg:
        value = (-value) & ULONG_MAX
    return value, i, False


def _show(word: str) -> str:
    """A word as the user typed it (words are latin-1 decoded file bytes)."""
    return word.encode("latin-1").decode("utf-8", "backslashreplace")


def _byte_error(message: str, word: str, index: int) -> ParseError:
    err = ParseError(message, token=_show(word), word_index=index)
    return err


def parse_byte(word: str, base: int, *, compat: bool = False, index: int = 0) -> int:
    """One byte token, as bpftool stores it (the low 8 bits of strtoul).

    Raises ParseError (``error parsing byte: W``) for trailing garbage; without
    ``compat`` also for values bpftool would silently change (>255, negative,
    ERANGE, empty word).  O(len(word)).
    """
    value, end, erange = strtoul(word, base)
    if end != len(word) and not (end == 0 and word == ""):
        raise _byte_error(f"error parsing byte: {_show(word)}", word, index)
    if compat:
        return value & 0xFF
    if word == "":
        raise _byte_error("empty word used as a byte (bpftool writes 0x00); write 0", word, index)
    if erange:
        raise _byte_error(
            f"byte out of range: {_show(word)} is beyond 2**64-1 "
            "(bpftool saturates it to 0xff and then fails the batch with ERANGE)",
            word,
            index,
        )
    stripped = word.lstrip(_C_SPACE)
    if stripped.startswith("-") and value != 0:
        raise _byte_error(
            f"negative byte: {_show(word)} (bpftool would write 0x{value & 0xFF:02x})",
            word,
            index,
        )
    if value > 0xFF:
        raise _byte_error(
            f"byte out of range 0..255: {_show(word)} (bpftool would truncate it to "
            f"0x{value & 0xFF:02x})",
            word,
            index,
        )
    return value


def parse_bytes(
    words: Sequence[str], size: int, name: str = "key", *, compat: bool = False
) -> tuple[bytes, int]:
    """Parse ``[hex] B1 .. Bsize`` from the start of ``words`` like bpftool's parse_bytes.

    Returns ``(data, consumed)``: exactly ``size`` bytes and the number of words
    used (including a ``hex`` word).  Exactly ``size`` byte words are consumed:
    a keyword that comes too early is parsed as a byte (``error parsing byte:
    value``), and extra words are left to the caller.  The first word selects
    base 16 when it is a prefix of ``hex`` (``h``, ``he``, ``hex``, and, in compat
    mode only, the empty word).

    Raises ParseError with bpftool's wording (``error parsing byte: W``,
    ``NAME expected N bytes got I``); the error's ``word_index`` attribute is the
    offending word's index in ``words``.  Cost: O(total length of the words).
    """
    base = 0
    i = 0
    if words and words[0] and "hex".startswith(words[0]):
        base, i = 16, 1
    cache = _cache(base, compat)
    chunk = words[i : i + size]
    if len(chunk) == size:
        try:  # every word seen before and valid: one C-level pass
            return bytes(map(cache.__getitem__, chunk)), i + size
        except KeyError:
            pass
    base = 0
    i = 0
    if words and is_prefix(words[0], "hex"):
        if words[0] == "" and not compat:
            raise _byte_error(
                f"empty first word after '{name}' (bpftool takes it as 'hex'); "
                "write hex explicitly",
                "",
                0,
            )
        base = 16
        i = 1
    out = bytearray(size)
    got = 0
    n = len(words)
    cache = _cache(base, compat)
    while got < size and i < n:
        w = words[i]
        v = cache.get(w)
        if v is None:
            v = parse_byte(w, base, compat=compat, index=i)
            if w and len(cache) < _CACHE_MAX:  # "" is also a prefix of "hex"
                cache[w] = v
        out[got] = v
        got += 1
        i += 1
    if got != size:
        raise ParseError(f"{name} expected {size} bytes got {got}", word_index=i)
    return bytes(out), i


#: parse_byte results of valid words, per (base, compat): the value of a word never
#: depends on anything else, and files repeat the same few hundred words (each made
#: by the first parse_bytes of its kind: the scanner path never fills them)
_CACHE: dict[tuple[int, bool], dict[str, int]] = {}
_CACHE_MAX = 1 << 16


def _cache(base: int, compat: bool) -> dict[str, int]:
    """The cache of (base, compat), made on first use with the canonical words of
    every byte (``0``..``255`` and ``00``; ``00``..``ff`` in base 16)."""
    c = _CACHE.get((base, compat))
    if c is None:
        if base == 0:
            c = {str(v): v for v in range(256)}
            c["00"] = 0
        else:
            c = {f"{v:02x}": v for v in range(256)}
        _CACHE[(base, compat)] = c
    return c


def format_bytes(data: bytes | bytearray | memoryview) -> str:
    """bpftool's ``fprint_hex``: ``%02hhx`` bytes separated by one space, two spaces
    after every 8th byte and a newline after every 16th.  No trailing newline.
    O(len(data))."""
    b = bytes(data)
    rows = []
    for r in range(0, len(b), 16):
        row = b[r : r + 16]
        left = row[:8].hex(" ")
        rows.append(left + "  " + row[8:].hex(" ") if len(row) > 8 else left)
    return "\n".join(rows)


def format_entry(
    key: bytes | None,
    value: bytes | None,
    key_size: int,
    value_size: int,
    *,
    percpu: bool = False,
    ncpus: int = 1,
) -> str:
    """One entry in bpftool's plain layout (``print_entry_plain``), newline included.

    For per-CPU maps ``value`` is the packed kernel buffer (``ncpus`` slots of
    ``round_up(value_size, 8)`` bytes).  O(key_size + value_size * ncpus).
    """
    parts: list[str] = []
    if not percpu:
        brk = key_size > 16 or value_size > 16
        single = key_size + value_size <= 24 and not brk
        sep = "\n" if brk else " "
        if key_size:
            parts.append("key:" + sep + format_bytes((key or b"")[:key_size]))
            parts.append("  " if single else "\n")
        if value_size:
            parts.append("value:" + sep + format_bytes((value or b"")[:value_size]))
        parts.append("\n")
    else:
        step = (value_size + 7) & ~7
        if key_size:
            parts.append("key:\n" + format_bytes((key or b"")[:key_size]) + "\n")
        if value_size:
            sep = "\n" if value_size > 16 else " "
            v = value or b""
            for cpu in range(ncpus):
                chunk = v[cpu * step : cpu * step + value_size]
                parts.append(f"value (CPU {cpu:02d}):{sep}{format_bytes(chunk)}\n")
    return "".join(parts)

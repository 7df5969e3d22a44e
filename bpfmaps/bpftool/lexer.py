"""Batch-file reading and word splitting, exactly as bpftool's ``do_batch``/``make_args``.

Pure Python.  The file is handled as bytes; words are returned as ``str`` decoded
as latin-1 (one character per byte, so lengths and limits match bpftool's C
strings; :func:`os.fsencode`-compatible via ``word.encode("latin-1")``).

Reading (bpftool main.c ``do_batch``):

* ``fgets`` on a 65536-byte buffer: a chunk ends after ``\\n`` or after 65535 bytes;
  a NUL byte ends the line for everything that follows (``strlen``);
* the chunk is cut at its first ``#`` (even inside quotes);
* a cut chunk of exactly 65535 bytes is E2BIG ("reading batch file failed:
  Argument list too long");
* while the buffer ends with backslash-newline, the next chunk (``#``-cut too) is
  appended in place of the two characters; an empty/missing next chunk is
  "missing continuation line", an overlong result "command N is too long";
* words are separated by exactly ``" \\t\\r\\n"``; a word starting with a quote runs
  to the next same quote (no escapes) and the next word starts right after it;
  empty words are allowed; at most 4095 words.

Each command keeps the physical line it starts on and can compute the (line,
column) of each word for error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..errors import ParseError

__all__ = [
    "BATCH_LINE_LEN_MAX",
    "BATCH_ARG_NB_MAX",
    "LexedCommand",
    "Lexer",
    "LexError",
    "lex",
    "split_words",
]

BATCH_LINE_LEN_MAX = 65536
BATCH_ARG_NB_MAX = 4096
_MAX_WORDS = BATCH_ARG_NB_MAX - 1

# One word after optional separators: quoted ('...' / "..." with the closing
# quote optional so that an unterminated one is detected), or unquoted.
_WORD = re.compile(r"[ \t\r\n]*(?:'([^']*)(')?|\"([^\"]*)(\")?|([^ \t\r\n]+))")
_SEP_ONLY = re.compile(r"[ \t\r\n]*\Z")
_SPLIT = re.compile(r"[ \t\r\n]+")


class LexError(ParseError):
    """A batch-file reading/splitting error.  ``kind`` is one of ``"e2big"``,
    ``"continuation"``, ``"too_long"``, ``"too_many_args"``, ``"unterminated"``."""

    def __init__(self, message: str, kind: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind


class LexedCommand:
    """One command: its words, the physical line it starts on (1-based), and the
    joined text it was split from (for word columns)."""

    __slots__ = ("words", "line", "index", "_text", "_segments")
    words: list[str]
    line: int
    index: int

    def __init__(
        self,
        words: list[str],
        line: int,
        index: int,
        text: str,
        segments: list[tuple[int, int, int]],
    ) -> None:
        self.words = words
        self.line = line
        #: 0-based index of the command among the file's commands
        self.index = index
        self._text = text
        self._segments = segments  # [(offset in text, physical line, column of offset)]

    def __repr__(self) -> str:
        return f"LexedCommand(line={self.line}, words={self.words!r})"

    def position(self, word_index: int | None) -> tuple[int, int | None]:
        """(physical line, 1-based column) of word ``word_index`` (None -> start)."""
        if word_index is None:
            return self.line, None
        offsets = word_offsets(self._text)
        # past the last word: point just after the text
        past = word_index >= len(offsets)
        off = len(self._text.rstrip("\r\n")) if past else offsets[word_index]
        seg = self._segments[0]
        for s in self._segments:
            if s[0] <= off:
                seg = s
            else:
                break
        return seg[1], seg[2] + (off - seg[0])


def word_offsets(text: str) -> list[int]:
    """Start offsets of each word of ``text`` (the quote itself for quoted words)."""
    out = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _WORD.match(text, pos)
        if m is None or m.end() == pos and not m.group(0):
            break
        if m.group(5) is None and m.group(1) is None and m.group(3) is None:
            break
        start = m.end() - len(m.group(0).lstrip(" \t\r\n"))
        out.append(start)
        pos = m.end()
        if m.group(5) is not None:
            pos += 1  # separator consumed by make_args
    return out


def split_words(text: str) -> list[str]:
    """bpftool's ``make_args`` on one (joined, cut) line.

    Raises LexError (``kind`` "unterminated" or "too_many_args") with bpftool's
    message minus the command number.  O(len(text)).
    """
    if "'" not in text and '"' not in text:
        words = _SPLIT.split(text)
        if words and words[0] == "":
            del words[0]
        if words and words[-1] == "":
            del words[-1]
        if len(words) > _MAX_WORDS:
            raise LexError("too many arguments to command", "too_many_args")
        return words
    words = []
    pos = 0
    n = len(text)
    while pos < n:
        if _SEP_ONLY.match(text, pos):
            break
        if len(words) >= _MAX_WORDS:
            raise LexError("too many arguments to command", "too_many_args")
        m = _WORD.match(text, pos)
        assert m is not None  # every non-separator text starts a word
        if m.group(1) is not None:
            if m.group(2) is None:
                raise LexError("unterminated quoted string in command", "unterminated")
            words.append(m.group(1))
            pos = m.end()
        elif m.group(3) is not None:
            if m.group(4) is None:
                raise LexError("unterminated quoted string in command", "unterminated")
            words.append(m.group(3))
            pos = m.end()
        else:
            words.append(m.group(5))
            pos = m.end() + 1  # make_args overwrites the separator after the word
    return words


class Lexer:
    """Reads commands from a batch file's bytes, one :class:`LexedCommand` at a time.

    ``pos``/``line`` are public so a fast path can consume a run of lines and
    hand back the position.  ``count`` (commands read so far) is the number
    bpftool prints in its ``command N`` messages: every earlier command ran.
    """

    pos: int
    line: int
    line_start: int
    count: int

    def __init__(self, data: bytes, file: str = "-") -> None:
        self.data = data
        self.file = file
        self.pos = 0
        #: physical line number at ``pos`` (1-based)
        self.line = 1
        #: offset of the start of the physical line that contains ``pos``
        self.line_start = 0
        self.count = 0

    def seek(self, pos: int, line: int, count: int) -> None:
        """Continue at ``pos``, the start of physical line ``line``, as command number
        ``count`` (after a scanner consumed the lines before it)."""
        self.pos = pos
        self.line = line
        self.line_start = pos
        self.count = count

    def _fgets(self) -> tuple[str, int, int] | None:
        """Next fgets chunk as (text, line, column) or None at EOF; text is cut at NUL."""
        data = self.data
        pos = self.pos
        if pos >= len(data):
            return None
        end = data.find(b"\n", pos, pos + BATCH_LINE_LEN_MAX - 1)
        if end < 0:
            end = min(len(data), pos + BATCH_LINE_LEN_MAX - 1)
        else:
            end += 1
        raw = data[pos:end]
        line, col = self.line, pos - self.line_start + 1
        self.pos = end
        if raw.endswith(b"\n"):
            self.line += 1
            self.line_start = end
        nul = raw.find(b"\0")
        if nul >= 0:
            raw = raw[:nul]
        return raw.decode("latin-1"), line, col

    def error(self, message: str, kind: str, line: int, column: int | None = None) -> LexError:
        return LexError(message, kind, file=self.file, line=line, column=column)

    def next_command(self) -> LexedCommand | None:
        """The next non-empty command, or None at EOF.  Raises LexError."""
        while True:
            chunk = self._fgets()
            if chunk is None:
                return None
            text, line, col = chunk
            h = text.find("#")
            if h >= 0:
                text = text[:h]
            if len(text) == BATCH_LINE_LEN_MAX - 1:
                raise self.error(
                    "reading batch file failed: Argument list too long "
                    f"(line longer than {BATCH_LINE_LEN_MAX - 2} characters)",
                    "e2big",
                    line,
                )
            segments = [(0, line, col)]
            while text.endswith("\\\n"):
                cont = self._fgets()
                if cont is None or cont[0] == "":
                    raise self.error(
                        f"missing continuation line on command {self.count}",
                        "continuation",
                        line,
                    )
                ctext, cline, ccol = cont
                h = ctext.find("#")
                if h >= 0:
                    ctext = ctext[:h]
                if len(text) + len(ctext) + 1 > BATCH_LINE_LEN_MAX:
                    raise self.error(f"command {self.count} is too long", "too_long", line)
                text = text[:-2]
                segments.append((len(text), cline, ccol))
                text += ctext
            try:
                words = split_words(text)
            except LexError as e:
                cmd = LexedCommand([], line, self.count, text, segments)
                pos_line, pos_col = line, None
                if e.kind == "unterminated":
                    offs = word_offsets(text)
                    pos_line, pos_col = cmd.position(len(offs) - 1) if offs else (line, None)
                raise self.error(f"{e.message} {self.count}", e.kind, pos_line, pos_col) from None
            if not words:
                continue
            cmd = LexedCommand(words, line, self.count, text, segments)
            self.count += 1
            return cmd

    def __iter__(self) -> Iterator[LexedCommand]:
        while True:
            c = self.next_command()
            if c is None:
                return
            yield c


def lex(data: bytes, file: str = "-") -> list[LexedCommand]:
    """All commands of a batch file.  Raises LexError at the first reading error.
    Cost: O(len(data))."""
    return list(Lexer(data, file))

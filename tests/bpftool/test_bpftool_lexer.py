"""The batch-file lexer against bpftool's reading rules (docs: bpftool-syntax.md §1.2-1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfmaps.bpftool.lexer import LexError, lex, split_words


def words(data: bytes):
    return [c.words for c in lex(data)]


def test_comments_cut_everywhere():
    assert words(b"# full\nmap show # trailing\nmap dump id 1#glued\n") == [
        ["map", "show"],
        ["map", "dump", "id", "1"],
    ]
    with pytest.raises(LexError, match="unterminated"):
        lex(b"map update id 1 key '1#' value 1\n")


def test_quotes_and_empty_words():
    assert split_words("a 'b c'd \"x'\" '' \"\" e") == ["a", "b c", "d", "x'", "", "", "e"]
    assert split_words("'1'0") == ["1", "0"]
    assert split_words("1'0'") == ["1'0'"]
    assert split_words("0\vvalue") == ["0\vvalue"]
    with pytest.raises(LexError, match="unterminated"):
        split_words("'1\\''")


def test_crlf_and_separators():
    assert words(b"map\tshow\r\nmap  dump id 3\r\n") == [
        ["map", "show"],
        ["map", "dump", "id", "3"],
    ]


def test_continuations():
    assert words(b"map up\\\ndate id 1\n") == [["map", "update", "id", "1"]]
    # continuing onto an empty line is not an error; the command just ends there
    assert words(b"map update \\\n\nid 1\n") == [["map", "update"], ["id", "1"]]
    # not a continuation: backslash-space, backslash + comment, CRLF
    assert words(b"a \\ \nb\n") == [["a", "\\"], ["b"]]
    assert words(b"a \\# c\nb\n") == [["a", "\\"], ["b"]]
    assert words(b"a \\\r\nb\n") == [["a", "\\"], ["b"]]
    # a comment line inside a continuation ends the command
    assert words(b"a \\\n# c\nb\n") == [["a"], ["b"]]
    with pytest.raises(LexError, match="missing continuation line on command 0"):
        lex(b"map show \\\n")


def test_nul_ends_line():
    assert words(b"map show\0 junk\nmap dump id 1\n") == [
        ["map", "show"],
        ["map", "dump", "id", "1"],
    ]


def test_line_limit_e2big():
    ok = b"a" * 65533 + b"\n"
    assert words(ok) == [["a" * 65533]]
    with pytest.raises(LexError, match="Argument list too long") as ei:
        lex(b"map show\n" + b"a" * 65534 + b"\n")
    assert ei.value.line == 2
    # a long comment does not trip the limit; its tail is read as a new line
    data = b"# " + b"x" * 65540 + b" map show\n"
    assert words(data) == [["x" * (65540 - 65533), "map", "show"]]


def test_word_limit():
    assert len(words(b" ".join([b"1"] * 4095) + b"\n")[0]) == 4095
    with pytest.raises(LexError, match="too many arguments"):
        lex(b" ".join([b"1"] * 4096) + b"\n")


def test_positions():
    (c,) = lex(b"\n  map up\\\ndate  id 3\n")
    assert c.line == 2
    assert c.position(0) == (2, 3)
    assert c.position(2) == (3, 7)
    with pytest.raises(LexError) as ei:
        lex(b'map show\nmap  "x\n')
    assert (ei.value.line, ei.value.column) == (2, 6)


# -- generated files ---------------------------------------------------------------

_plain_word = st.text(alphabet="abcdefxyz0123456789_-./:", min_size=1, max_size=6)
_quotable = st.text(alphabet="abc 01\t-#'", max_size=5)


@st.composite
def _command(draw):
    """(words, rendered line without newline): words rendered plainly or quoted."""
    n = draw(st.integers(1, 6))
    ws, parts = [], []
    for _ in range(n):
        kind = draw(st.sampled_from(["plain", "single", "double"]))
        if kind == "plain":
            w = draw(_plain_word)
            parts.append(w)
        else:
            q = "'" if kind == "single" else '"'
            w = draw(_quotable.filter(lambda s, q=q: q not in s and "#" not in s))
            parts.append(q + w + q)
        ws.append(w)
    seps = [draw(st.sampled_from([" ", "\t", "  ", " \r"])) for _ in parts]
    line = draw(st.sampled_from(["", " ", "\t"]))
    for p, s in zip(parts, seps):
        line += p + s
    return ws, line


@given(
    st.lists(
        st.tuples(_command(), st.sampled_from(["none", "comment", "blank", "cont"])), max_size=8
    )
)
def test_generated_files(cmds):
    out = []
    expected = []
    for (ws, line), extra in cmds:
        if extra == "cont" and " " in line.rstrip():
            # split at a separator and continue the line with backslash-newline
            i = line.rstrip().index(" ")
            line = line[: i + 1] + "\\\n" + line[i + 1 :]
        out.append(line + ("# comment 'x\n" if extra == "comment" else "\n"))
        if extra == "blank":
            out.append("   # only a comment\n\n")
        expected.append(ws)
    data = "".join(out).encode("latin-1")
    assert words(data) == expected

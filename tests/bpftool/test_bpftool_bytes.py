"""parse_bytes / strtoul / format_bytes against the spec and an independent model."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfmaps.bpftool.bytes import format_bytes, format_entry, parse_byte, parse_bytes, strtoul
from bpfmaps.errors import ParseError


@given(st.binary(max_size=300))
def test_format_then_parse_roundtrip(data):
    words = ["hex", *format_bytes(data).split()]
    assert parse_bytes(words, len(data)) == (data, len(words))


@given(st.binary(min_size=1, max_size=64))
def test_decimal_words_roundtrip(data):
    words = [str(b) for b in data]
    assert parse_bytes(words, len(data))[0] == data


_MODEL_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?)(.*)\Z", re.S)


def strtoul_model(s: str, base: int):
    """Independent model: (accepted, value mod 2**64 saturated, erange)."""
    m = _MODEL_RE.match(s)
    sign, body = m.group(1), m.group(2)
    if base == 16:
        mm = re.fullmatch(r"(?:0[xX])?([0-9a-fA-F]+)", body)
        if not mm:
            return s == "", 0, False
        v = int(mm.group(1), 16)
    else:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", body):
            v = int(body[2:], 16)
        elif re.fullmatch(r"0[0-7]*", body):
            v = int(body, 8)
        elif re.fullmatch(r"[1-9][0-9]*", body):
            v = int(body)
        else:
            return s == "", 0, False
    if v > 2**64 - 1:
        return True, 2**64 - 1, True
    return True, (-v if sign == "-" else v) & (2**64 - 1), False


_tokens = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 2**70).map(lambda v: hex(v)),
    st.integers(0, 2**70).map(lambda v: "0" + oct(v)[2:]),
    st.text(alphabet="0123456789abcdefxX+- \t\v", max_size=8),
    st.sampled_from(["", "0x", "08", "018", "0b1", "1e2", "1.0", "f", "ff", "+", "-", " 7", "7 "]),
)


@given(_tokens, st.sampled_from([0, 16]))
def test_parse_byte_compat_matches_strtoul_model(token, base):
    ok, value, _ = strtoul_model(token, base)
    if ok:
        assert parse_byte(token, base, compat=True) == value & 0xFF
    else:
        with pytest.raises(ParseError, match="error parsing byte"):
            parse_byte(token, base, compat=True)


@given(_tokens, st.sampled_from([0, 16]))
def test_safe_mode_accepts_only_exact_bytes(token, base):
    ok, value, erange = strtoul_model(token, base)
    neg = token.lstrip(" \t\n\v\f\r").startswith("-") and value != 0
    exact = ok and token != "" and not erange and not neg and value <= 255
    if exact:
        assert parse_byte(token, base) == value
    else:
        with pytest.raises(ParseError):
            parse_byte(token, base)


@pytest.mark.parametrize(
    "words,expected",
    [
        (["0x1f", "0X1F", "0xFf"], b"\x1f\x1f\xff"),
        (["010", "0377", "0400"], b"\x08\xff\x00"),
        (["-1", "-256", "+5"], b"\xff\x00\x05"),
        (["256", "511", "65535"], b"\x00\xff\xff"),
        (
            ["18446744073709551615", "18446744073709551616", "-18446744073709551615"],
            b"\xff\xff\x01",
        ),
        (["hex", "1f", "0x1f", "08", "-ff"], b"\x1f\x1f\x08\x01"),
        (["", "15", "0", "0", "0"], b"\x15\x00\x00\x00"),
        (["5", "", "0", "0"], b"\x05\x00\x00\x00"),
        (["h", "ff", "10"], b"\xff\x10"),
    ],
)
def test_spec_table_compat(words, expected):
    n = len(expected)
    assert parse_bytes(words, n, compat=True)[0] == expected


@pytest.mark.parametrize(
    "tok",
    [
        "08",
        "09",
        "018",
        "0x",
        "0xg",
        "0x-1",
        "+-1",
        "1e",
        "1e2",
        "1.0",
        "0b1",
        "0o7",
        "1_0",
        "f",
        "abc",
        "7 ",
        "\xa0",
    ],
)
def test_spec_errors(tok):
    with pytest.raises(ParseError, match="error parsing byte"):
        parse_bytes([tok], 1, compat=True)


@pytest.mark.parametrize(
    "words,fragment",
    [
        (["256"], "out of range 0..255"),
        (["-1"], "negative byte"),
        (["18446744073709551616"], "beyond 2\\*\\*64-1"),
        (["", "15"], "empty first word"),
        (["5", ""], "empty word"),
    ],
)
def test_safe_mode_rejects_silent_changes(words, fragment):
    with pytest.raises(ParseError, match=fragment) as ei:
        parse_bytes(words, len(words) if words[0] else 1)
    assert ei.value.token is not None


def test_counts_and_keywords():
    with pytest.raises(ParseError, match="error parsing byte: value"):
        parse_bytes(["1", "2", "3", "value"], 4)
    with pytest.raises(ParseError, match="key expected 4 bytes got 2"):
        parse_bytes(["1", "2"], 4)
    with pytest.raises(ParseError, match="value expected 4 bytes got 0"):
        parse_bytes(["hex"], 4, "value")
    assert parse_bytes(["1", "2", "value", "x"], 2) == (b"\x01\x02", 2)
    with pytest.raises(ParseError, match="error parsing byte: hex"):
        parse_bytes(["hex", "hex"], 1)


def test_strtoul_details():
    assert strtoul("0x", 0) == (0, 1, False)
    assert strtoul("  -0x10", 16) == ((-16) & (2**64 - 1), 7, False)
    assert strtoul("+", 0) == (0, 0, False)
    assert strtoul("99999999999999999999", 0) == (2**64 - 1, 20, True)


def test_format_layout():
    assert format_bytes(bytes(range(4))) == "00 01 02 03"
    assert format_bytes(bytes(range(9))) == "00 01 02 03 04 05 06 07  08"
    assert format_bytes(bytes(range(17))) == (
        "00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10"
    )
    assert format_entry(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 4, 4) == (
        "key: 01 02 03 04  value: 05 06 07 08\n"
    )
    assert format_entry(bytes(8), bytes(range(32)), 8, 32) == (
        "key:\n00 00 00 00 00 00 00 00\nvalue:\n"
        "00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n"
        "10 11 12 13 14 15 16 17  18 19 1a 1b 1c 1d 1e 1f\n"
    )
    assert format_entry(bytes(4), bytes(range(20)), 4, 20) == (
        "key:\n00 00 00 00\nvalue:\n00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13\n"
    )
    pc = bytes([1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0])
    assert format_entry(bytes(4), pc, 4, 4, percpu=True, ncpus=2) == (
        "key:\n00 00 00 00\nvalue (CPU 00): 01 02 03 04\nvalue (CPU 01): 05 06 07 08\n"
    )

"""Map command grammar: prefixes, element order, handles, per-CPU, errors."""

from __future__ import annotations

import pytest

from bpfmaps.bpftool.grammar import (
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
    parse_command,
)
from bpfmaps.bpftool.lexer import lex
from bpfmaps.errors import ParseError
from bpfmaps.types import MapInfo, MapType

MAPS = {
    Handle("id", 1): MapInfo.make(MapType.HASH, id=1, key_size=4, value_size=4, max_entries=8),
    Handle("id", 2): MapInfo.make(
        MapType.PERCPU_HASH, id=2, key_size=4, value_size=4, max_entries=8
    ),
    Handle("id", 3): MapInfo.make(MapType.QUEUE, id=3, key_size=0, value_size=4, max_entries=8),
    Handle("id", 4): MapInfo.make(
        MapType.HASH_OF_MAPS, id=4, key_size=4, value_size=4, max_entries=8
    ),
    Handle("pinned", "/sys/fs/bpf/x"): MapInfo.make(
        MapType.ARRAY, id=5, key_size=4, value_size=8, max_entries=8
    ),
    Handle("name", "lb"): MapInfo.make(MapType.HASH, id=6, key_size=4, value_size=4, max_entries=8),
}


def resolver(h):
    try:
        return MAPS[h]
    except KeyError:
        raise ParseError(f"get map by id ({h.value}): No such file or directory") from None


def parse(text: str, **kw):
    (cmd,) = lex(text.encode())
    return parse_command(cmd, resolver, file="f.txt", **kw)


def test_update_forms_and_prefixes():
    u = parse("map update id 1 key 1 2 3 4 value hex a b c d")
    assert isinstance(u, Update)
    assert (u.key, u.value, u.flags) == (b"\x01\x02\x03\x04", b"\x0a\x0b\x0c\x0d", 0)
    v = parse("m u i 1 v 5 0 0 0 n k 1 0 0 0")
    assert (v.key, v.value, v.flags) == (b"\x01\x00\x00\x00", b"\x05\x00\x00\x00", 1)
    assert parse("map update id 1 key 1 0 0 0 value 1 0 0 0 e").flags == 2
    assert parse("map push id 3 value 1 2 3 4").key is None
    assert parse("map enqueue id 3 value 1 2 3 4").verb == "enqueue"
    assert parse(
        "map update pinned /sys/fs/bpf/x key 0 0 0 0 value 1 2 3 4 5 6 7 8"
    ).value == bytes(range(1, 9))
    assert parse("map update name lb key 0 0 0 0 value 1 2 3 4").map.id == 6


def test_table_order():
    assert isinstance(parse("map l"), Show)  # l -> list, not lookup
    assert isinstance(parse("map lo id 1 key 1 2 3 4"), Lookup)
    assert isinstance(parse("map de id 1 key 1 2 3 4"), Delete)
    assert isinstance(parse("map d id 1"), Dump)
    assert isinstance(parse("map g id 1"), GetNext)
    assert isinstance(parse("map po id 3"), Pop)
    assert isinstance(parse("map f id 1"), Freeze)
    assert isinstance(parse("map"), Show)
    assert isinstance(parse("map h"), Help)
    assert isinstance(parse("h"), Help)
    p = parse("map p id 1 /sys/fs/bpf/pin")
    assert isinstance(p, Pin) and p.path == "/sys/fs/bpf/pin"
    with pytest.raises(ParseError, match="event_pipe"):
        parse("map e id 1")


def test_percpu_replication():
    u = parse("map update id 2 key 0 0 0 0 value 1 2 3 4", possible_cpus=3)
    assert u.value == (b"\x01\x02\x03\x04" + bytes(4)) * 3


def test_map_in_map_value_is_a_handle():
    u = parse("map update id 4 key 0 0 0 0 value id 1")
    assert u.value is None and u.value_handle == Handle("id", 1) and u.value_map.id == 1
    with pytest.raises(ParseError, match="not enough value arguments for map in map"):
        parse("map update id 4 key 0 0 0 0 value id")


@pytest.mark.parametrize(
    "text,message,column",
    [
        ("map update id 1 key 1 2 3 value 1 2 3 4", "error parsing byte: value", 27),
        ("map update id 1 key 1 2 3 4 value 1 2 3 4 5", "expected key or value, got: 5", 43),
        ("map update id 1 key 1 2 3 4 key 1 2 3 4 value 1 2 3 4", "duplicate key", 29),
        ("map update id 3 key 1 value 1 2 3 4", "unnecessary key", 17),
        ("map update id 1 key 1 2 3 4", "did not find value", None),
        ("map update id 1 value 1 2 3 4", "did not find key", None),
        (
            "map update id 1 key 1 2 3 4 value 1 2 3 4 any exist",
            "flags specified multiple times: exist",
            47,
        ),
        ("map lookup id 1 key 1 2 3 4 any", "flags specified multiple times: any", 29),
        ("map lookup id 1 key 1 2 3 4 value 1", "unnecessary value", 29),
        ("map update id 1 KEY 1 2 3 4", "expected key or value, got: KEY", 17),
        ("map update id 9 key 1 2 3 4 value 1 2 3 4", "get map by id (9)", 15),
        ("map update id x key 1", "can't parse x as ID", 15),
        ("map update foo 1 key 1", "expected 'id', 'name' or 'pinned', got: 'foo'?", 12),
        ("map update name abcdefghijklmnopq key 1", "can't parse name", 17),
        ("map update id 1 key 256 0 0 0 value 0 0 0 0", "out of range", 21),
        ("prog show", "'prog' commands are not supported", 1),
        ("MAP show", "unknown command", 1),
        ("map updates id 1", "unknown map command", 5),
        (
            "map create /sys/fs/bpf/m type hash key 4",
            "'create' needs at least 7 arguments, 5 found",
            None,
        ),
        (
            "map create /sys/fs/bpf/m type hashx key 4 value 4 entries 4 name n",
            "unrecognized map type: hashx",
            31,
        ),
    ],
)
def test_errors_have_bpftool_wording_and_position(text, message, column):
    with pytest.raises(ParseError) as ei:
        parse(text)
    e = ei.value
    assert message in e.message
    assert e.file == "f.txt" and e.line == 1
    if column is not None:
        assert e.column == column
    assert str(e).startswith("f.txt:1")


def test_usage_errors():
    with pytest.raises(ParseError) as ei:
        parse("map update id")
    assert ei.value.usage
    with pytest.raises(ParseError) as ei:
        parse("map dump id 1 extra")
    assert ei.value.usage


def test_compat_accepts_what_bpftool_changes():
    u = parse("map update id 1 key 256 -1 '' 0 value '' 15 0 0 0", compat=True)
    assert u.key == b"\x00\xff\x00\x00" and u.value == b"\x15\x00\x00\x00"
    assert parse("map update id 0x1 key 1 2 3 4 value 1 2 3 4").map.id == 1


def test_create():
    c = parse(
        "map create /sys/fs/bpf/m type percpu_hash key 8 value 0x20 entries 010 name nm flags 1"
    )
    assert isinstance(c, Create)
    assert (c.type, c.key_size, c.value_size, c.max_entries, c.name, c.flags) == (
        MapType.PERCPU_HASH, 8, 32, 8, "nm", 1,
    )  # fmt: skip
    with pytest.raises(ParseError, match="map name not specified"):
        parse("map create /sys/fs/bpf/m type hash key 4 value 4 entries 4")
    with pytest.raises(ParseError, match="key size already specified"):
        parse("map create /sys/fs/bpf/m type hash key 4 key 4 value 4 entries 4 name x")

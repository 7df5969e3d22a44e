"""A map created outside bpfmaps (by `bpftool map create`) is read and written
correctly, and what bpfmaps writes is what bpftool shows."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bpfmaps import Map, MapType
from bpfmaps import codecs as C

pytestmark = pytest.mark.kernel


def _bpftool(bpftool_bin, *args: str) -> str:
    r = subprocess.run([bpftool_bin, *args], capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"bpftool {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def _hexbytes(b: bytes) -> list[str]:
    return [f"{x:02x}" for x in b]


def _from_json_bytes(words: list[str]) -> bytes:
    return bytes(int(w, 16) for w in words)


@pytest.fixture
def ext_map(bpftool_bin, bpffs):
    path = os.path.join(bpffs, "ext")
    _bpftool(
        bpftool_bin,
        "map",
        "create",
        path,
        "type",
        "hash",
        "key",
        "4",
        "value",
        "8",
        "entries",
        "16",
        "name",
        "ext",
    )
    return path


def test_bpfmaps_reads_what_bpftool_wrote(bpftool_bin, ext_map):
    key, value = bytes([1, 2, 3, 4]), bytes(range(0xA0, 0xA8))
    _bpftool(
        bpftool_bin,
        "map",
        "update",
        "pinned",
        ext_map,
        "key",
        "hex",
        *_hexbytes(key),
        "value",
        "hex",
        *_hexbytes(value),
    )
    with Map.from_pin(ext_map) as m:
        info = m.info
        assert info.type is MapType.HASH
        assert (info.key_size, info.value_size, info.max_entries) == (4, 8, 16)
        assert info.name == "ext"
        assert dict(m.items()) == {key: value}
        with m.typed(key=C.U32, value=C.U64) as t:
            assert t[int.from_bytes(key, "little")] == int.from_bytes(value, "little")


def test_bpftool_shows_what_bpfmaps_wrote(bpftool_bin, ext_map):
    model = {k: (k * 0x0101010101 + 7) & (2**64 - 1) for k in (0, 1, 255, 2**31, 2**32 - 1)}
    with Map.from_pin(ext_map, key=C.U32, value=C.U64) as m:
        for k, v in model.items():
            m[k] = v
        map_id = m.id
    # lookup, element by element
    for k, v in model.items():
        out = json.loads(
            _bpftool(
                bpftool_bin,
                "-j",
                "map",
                "lookup",
                "pinned",
                ext_map,
                "key",
                "hex",
                *_hexbytes(C.U32.encode(k)),
            )
        )
        assert _from_json_bytes(out["key"]) == C.U32.encode(k)
        assert _from_json_bytes(out["value"]) == C.U64.encode(v)
    # the whole dump
    dump = json.loads(_bpftool(bpftool_bin, "-j", "map", "dump", "id", str(map_id)))
    got = {
        C.U32.decode(_from_json_bytes(e["key"])): C.U64.decode(_from_json_bytes(e["value"]))
        for e in dump
    }
    assert got == model


def test_bpftool_sees_bpfmaps_deletes(bpftool_bin, ext_map):
    with Map.from_pin(ext_map, key=C.U32, value=C.U64) as m:
        m[1] = 10
        m[2] = 20
        del m[1]
    dump = json.loads(_bpftool(bpftool_bin, "-j", "map", "dump", "pinned", ext_map))
    assert [C.U32.decode(_from_json_bytes(e["key"])) for e in dump] == [2]


def test_bpftool_sees_bpfmaps_created_map(bpftool_bin, bpffs, mk, uname):
    name = uname("bt")
    m = mk("array", 4, 4, 3, name=name, key=C.U32, value=C.U32)
    m[1] = 0xDEADBEEF
    show = json.loads(_bpftool(bpftool_bin, "-j", "map", "show", "id", str(m.id)))
    assert show["name"] == name
    assert show["type"] == "array"
    assert (show["bytes_key"], show["bytes_value"], show["max_entries"]) == (4, 4, 3)
    dump = json.loads(_bpftool(bpftool_bin, "-j", "map", "dump", "id", str(m.id)))
    vals = {C.U32.decode(_from_json_bytes(e["key"])): _from_json_bytes(e["value"]) for e in dump}
    assert vals == {0: bytes(4), 1: C.U32.encode(0xDEADBEEF), 2: bytes(4)}

"""bpftool output and map references read the map type as the plain number
(:attr:`bpfmaps.types.MapInfo.raw_type`), so a record holding an int or a
:class:`~bpfmaps.types.MapType` member prints the same, and per-CPU/fd-valued rules
hold for both."""

from __future__ import annotations

import pytest

from bpfmaps.bpftool.output import element_json, map_type_str, show_json, show_plain
from bpfmaps.bpftool.resolve import MapRef
from bpfmaps.types import MAP_TYPE, MapInfo, MapType


@pytest.mark.parametrize(
    ("t", "name"),
    [(1, "hash"), (MAP_TYPE.PERCPU_ARRAY, "percpu_array"), (MapType.USER_RINGBUF, "user_ringbuf"),
     (0, "unspec"), (MAP_TYPE.CGRP_STORAGE, None), (33, None), (99, None), (-1, None)],
)  # fmt: skip
def test_map_type_str_takes_the_number(t, name):
    assert map_type_str(t) == name


@pytest.mark.parametrize("as_enum", [False, True])
def test_show_prints_the_same_for_int_and_member(as_enum):
    t = MapType.PROG_ARRAY if as_enum else 3
    info = MapInfo(id=7, type=t, key_size=4, value_size=4, max_entries=2, name="pa")
    fdinfo = {"memlock": "4096", "owner_prog_type": "6", "owner_jited": "1", "frozen": "0"}
    assert show_plain(info, fdinfo) == (
        "7: prog_array  name pa  flags 0x0\n"
        "\tkey 4B  value 4B  max_entries 2  memlock 4096B\n"
        "\towner_prog_type xdp  owner jited\n"
    )
    d = show_json(info, fdinfo)
    assert d["type"] == "prog_array" and d["owner_prog_type"] == "xdp"
    arena = MapInfo(id=8, type=33, key_size=0, value_size=0, max_entries=1)
    assert show_plain(arena, {}).startswith("8: type 33  flags 0x0\n")
    assert show_json(arena, {})["type"] == 33


class _Backend:
    def possible_cpus(self) -> int:
        return 3


@pytest.mark.parametrize("as_enum", [False, True])
def test_percpu_reads_of_the_number(as_enum):
    t = MapType.PERCPU_HASH if as_enum else int(MAP_TYPE.PERCPU_HASH)
    info = MapInfo(id=1, type=t, key_size=1, value_size=3, max_entries=1)
    ref = MapRef(_Backend(), None, info, -1)  # type: ignore[arg-type]
    assert ref.type == 5 and type(ref.type) is type(t)
    assert ref.value_buf_size == 24
    d = element_json(info, b"\x01", bytes(range(24)), 3)
    assert [len(v["value"]) for v in d["values"]] == [3, 3, 3]
    plain = MapInfo(id=2, type=1, key_size=1, value_size=3, max_entries=1)
    assert MapRef(_Backend(), None, plain, -1).value_buf_size == 3  # type: ignore[arg-type]

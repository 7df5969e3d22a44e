"""``output.hex_json`` (bpftool's ``print_hex_data_json``) writes one token for the
whole array: the same bytes, compact and pretty, at any depth, as the array of one
``"0x%02hhx"`` string a byte that it replaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bpfmaps.bpftool.output import hex_json
from bpfmaps.json_writer import Raw, render_json


def _per_byte(data: bytes) -> list[Raw]:
    return [Raw(f'"0x{b:02x}"') for b in data]


@given(
    st.lists(st.binary(max_size=40), min_size=1, max_size=4),
    st.integers(0, 3),
    st.booleans(),
)
def test_hex_json_writes_what_a_string_a_byte_writes(datas, depth, pretty):
    def doc(arr):
        v = {"key": [arr(d) for d in datas], "n": 1}
        for _ in range(depth):
            v = [{"values": v}, 2]
        return v

    assert render_json(doc(hex_json), pretty) == render_json(doc(_per_byte), pretty)


def test_hex_json_spells_every_byte_as_bpftool():
    assert render_json(hex_json(bytes(range(256)))) == (
        "[" + ",".join(f'"0x{b:02x}"' for b in range(256)) + "]"
    )
    assert render_json(hex_json(b"")) == "[]"
    assert (
        render_json({"k": hex_json(b"\x0a\xff")}, pretty=True)
        == '{\n    "k": ["0x0a","0xff"\n    ]\n}'
    )


@given(st.lists(st.text(max_size=40) | st.text(min_size=60, max_size=90), max_size=30),
       st.integers(1, 100))  # fmt: skip
def test_write_to_writes_what_getvalue_holds(parts, big):
    """JsonWriter.write_to (big parts written as they are, runs of small ones joined)
    writes the same characters as one write of getvalue(); big parts are not joined."""
    import io

    from bpfmaps.json_writer import JsonWriter

    w = JsonWriter()
    w.parts.extend(parts)
    writes: list[str] = []

    class Out(io.StringIO):
        def write(self, s: str) -> int:
            writes.append(s)
            return super().write(s)

    out = Out()
    w.write_to(out, big)
    assert out.getvalue() == w.getvalue()
    assert all(p in writes for p in parts if len(p) >= big)


@given(
    st.lists(st.lists(st.text(max_size=8), max_size=6), min_size=1, max_size=4),
    st.integers(0, 3),
    st.booleans(),
)
def test_string_array_writes_what_the_list_writes(lists, depth, pretty):
    """json_writer.StringArray (a batch item's command words as one token, each word
    quoted once) writes the same text as the list of strings it stands for."""
    from bpfmaps.json_writer import StringArray

    def doc(arr):
        v = {"command": [arr(x) for x in lists], "output": None}
        for _ in range(depth):
            v = [{"values": v}, 2]
        return v

    assert render_json(doc(StringArray), pretty) == render_json(doc(list), pretty)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.lists(_json_values, min_size=1, max_size=4), st.booleans())
def test_a_writer_at_depth_one_writes_an_arrays_element(items, pretty):
    """JsonWriter(depth=1) (a batch file's item, jsonbatch.JsonBatch._item) writes a
    value as it appears between an array's separators: the array's text is its
    brackets around those texts, joined by commas (pretty: the closing line's newline
    before the "]" of a non-empty array)."""
    from bpfmaps.json_writer import JsonWriter

    def element(v):
        w = JsonWriter(pretty, depth=1)
        w.value(v)
        return w.getvalue()

    end = "\n]" if pretty else "]"
    assert render_json(items, pretty) == "[" + ",".join(map(element, items)) + end

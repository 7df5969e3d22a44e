"""bpfmaps.types.OP (the op record view on builtins) is struct.Struct(OP_FORMAT): the same
bytes packed, the same tuples unpacked from every buffer kind the plan and the loops
hand it, the same refusals of fields out of range."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfmaps.types import OP, OP_FORMAT, OP_SIZE

REF = struct.Struct(OP_FORMAT)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
records = st.tuples(u32, u32, u32, u32, u32, u32, u64)


def test_format_and_size_are_the_structs():
    assert (OP.format, OP.size) == (REF.format, REF.size) == (OP_FORMAT, OP_SIZE)


@given(records)
def test_pack_is_struct_pack(rec):
    assert OP.pack(*rec) == REF.pack(*rec)


@given(st.lists(records, min_size=1, max_size=12), st.data())
def test_unpack_from_every_offset_and_buffer_kind(recs, data):
    raw = b"".join(REF.pack(*r) for r in recs)
    i = data.draw(st.integers(0, len(recs) - 1))
    for buf in (raw, bytearray(raw), memoryview(raw), memoryview(bytearray(raw)).cast("I")):
        assert OP.unpack_from(buf, i * OP_SIZE) == REF.unpack_from(raw, i * OP_SIZE) == recs[i]
    assert list(OP.iter_unpack(raw)) == list(REF.iter_unpack(raw)) == recs
    assert list(OP.iter_unpack(bytearray(raw))) == recs


def test_unpack_at_an_unaligned_offset():
    raw = b"\x01" + REF.pack(1, 2, 3, 4, 5, 6, 2**40 + 7) + b"\x02"
    assert OP.unpack_from(raw, 1) == REF.unpack_from(raw, 1) == (1, 2, 3, 4, 5, 6, 2**40 + 7)


@pytest.mark.parametrize(
    "rec",
    [
        (2**32, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0, -1, 0),
        (0, 0, 0, 0, 0, 0, 2**64),
        (0,) * 6 + (-1,),
    ],
)
def test_a_field_out_of_range_is_refused_as_struct_refuses_it(rec):
    with pytest.raises(struct.error):
        REF.pack(*rec)
    with pytest.raises(OverflowError, match="out of range"):
        OP.pack(*rec)


@pytest.mark.parametrize("n, offset", [(31, 0), (64, 40), (64, -8)])
def test_no_record_there_is_a_value_error(n, offset):
    with pytest.raises(ValueError, match="no op record"):
        OP.unpack_from(bytes(n), offset)


def test_a_partial_record_in_iter_unpack_is_a_value_error():
    with pytest.raises(ValueError, match="not a multiple of 32"):
        list(OP.iter_unpack(bytes(40)))

"""Whole-map reads on raw codecs (``items()``/``values()`` through
:func:`bpfmaps._pack.chunk_items`): the same elements in the same order as the
chunk-by-chunk split they replaced, and the same elements as looking every key up one
by one, on hash, array and their per-CPU kinds; plus chunk_items' own contract."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import bulk
from bpfmaps._pack import chunk_items, pairs

TYPES = ["hash", "array", "percpu_hash", "percpu_array"]


def _reference_items(m, batch_size):
    """What items() did before chunk_items: pairs() per chunk, chained."""
    ks, vbs = m._h.info.key_size, m._h.vbs
    return itertools.chain.from_iterable(
        pairs(kb, vb, ks, vbs, cnt) for kb, vb, cnt in bulk._dump(m, batch_size, False)
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@pytest.mark.parametrize("tname", TYPES)
def test_items_match_the_chunk_split_and_element_lookups(kmk, tname, data):
    ks = 4 if "array" in tname else data.draw(st.sampled_from([1, 4, 8, 13]), "ks")
    vs = data.draw(st.sampled_from([1, 4, 8, 32, 100]), "vs")
    n = data.draw(st.integers(1, 300), "max_entries")
    m = kmk(tname, ks, vs, n).raw
    vbs = m._h.vbs
    idx = data.draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True), "keys")
    for i in idx:
        key = (i if "array" in tname else i * 7919 % 256**ks).to_bytes(ks, "little")
        m[key] = bytes((i + j) & 0xFF for j in range(vbs))
    batch = data.draw(st.one_of(st.none(), st.integers(1, 2 * n + 3)), "batch_size")
    got = [(k, v) for k, v in m.items(batch_size=batch)]  # tuples dropped: the reused path
    kept = list(m.items(batch_size=batch))  # every tuple kept
    assert got == kept == list(_reference_items(m, batch))
    assert all(type(k) is bytes and type(v) is bytes for k, v in got)
    assert list(m.values(batch_size=batch)) == [v for _, v in got]
    # the same elements as a GET_NEXT_KEY walk with one LOOKUP per key
    one_by_one = {k: m[k] for k in m}
    assert dict(got) == one_by_one and len(got) == len(one_by_one)


def test_items_of_a_keyless_map_fail_at_the_first_step(kmk):
    m = kmk("queue", 0, 8, 4)
    it = m.raw.items()  # no error yet: the read starts with the iteration
    with pytest.raises(TypeError, match="cannot be iterated"):
        next(it)


def test_chunk_items_contract():
    chunks = [(b"abcd", b"0123456789", 2), (b"", b"", 0), (b"ef", b"xyzxy", 1)]
    assert list(chunk_items(iter(chunks), 2, 5)) == [
        (b"ab", b"01234"),
        (b"cd", b"56789"),
        (b"ef", b"xyzxy"),
    ]
    assert list(chunk_items(chunks, 0, 5, True)) == [b"01234", b"56789", b"xyzxy"]
    held = []
    it = chunk_items(chunks, 2, 5)
    held.append(next(it))  # a kept tuple is never refilled
    rest = list(it)
    assert held + rest == list(chunk_items(chunks, 2, 5))

    def failing():
        yield (b"ab", b"01234", 1)
        raise OSError("read failed")

    it = chunk_items(failing(), 2, 5)
    assert next(it) == (b"ab", b"01234")
    with pytest.raises(OSError, match="read failed"):
        next(it)
    assert list(it) == []  # ended after the source's error
    with pytest.raises(ValueError, match="fewer pairs"):
        list(chunk_items([(b"abc", b"0123456789", 2)], 2, 5))
    with pytest.raises(TypeError):
        list(chunk_items([(bytearray(b"ab"), b"01234", 1)], 2, 5))
    with pytest.raises(TypeError):
        list(chunk_items([(b"ab", b"01234")], 2, 5))

"""Batch objects after their block and nested on one map (issue 9, item 9): refused
with a clear error instead of silently losing writes or program order."""

from __future__ import annotations

import pytest

import bpfmaps
from bpfmaps import Map


@pytest.fixture
def m(backend):
    with Map.create("hash", 4, 4, 16, key="I", value="I", backend=backend) as m:
        yield m


def test_write_after_exit_refused(m):
    with m.batch() as b:
        b[1] = 10
    for write in (lambda: b.__setitem__(2, 20), lambda: b.__delitem__(1),
                  lambda: b.update(3, 30), b.flush):  # fmt: skip
        with pytest.raises(RuntimeError, match="with block has exited"):
            write()
    assert dict(m.items()) == {1: 10}


def test_write_after_failed_block_refused(m):
    with pytest.raises(ZeroDivisionError):
        with m.batch() as b:
            b[1] = 10
            raise ZeroDivisionError
    with pytest.raises(RuntimeError, match="closed"):
        b[2] = 20
    assert dict(m.items()) == {}


def test_nested_batch_on_one_map_refused(m):
    with m.batch() as outer:
        outer[1] = 10
        with pytest.raises(RuntimeError, match="nested batch"):
            with m.raw.batch():  # another view of the same map
                pass
        outer[2] = 20
    assert dict(m.items()) == {1: 10, 2: 20}
    with m.batch() as again:  # the first one released the map
        again[3] = 30
    assert m[3] == 30


def test_batches_of_different_maps_nest(m, backend):
    with Map.create("hash", 4, 4, 4, key="I", value="I", backend=backend) as other:
        with m.batch() as a, other.batch() as b:
            a[1] = 1
            b[1] = 2
        assert (m[1], other[1]) == (1, 2)


def test_transaction_and_map_batch_on_one_map_refused(m):
    with bpfmaps.batch() as tx:
        tx[m][1] = 10
        with pytest.raises(RuntimeError, match="nested batch"):
            with m.batch():
                pass
    with m.batch() as b:
        with pytest.raises(RuntimeError, match="nested batch"):
            with bpfmaps.batch() as tx2:
                tx2[m][2] = 20
        b[3] = 30
    assert dict(m.items()) == {1: 10, 3: 30}


def test_transaction_after_exit_refused(m):
    with bpfmaps.batch() as tx:
        view = tx[m]
        view[1] = 10
    with pytest.raises(RuntimeError, match="closed"):
        view[2] = 20
    with pytest.raises(RuntimeError, match="closed"):
        tx[m][2] = 20
    assert dict(m.items()) == {1: 10}


def test_batch_without_with_still_flushes(m):
    b = m.batch()
    b[1] = 10
    b.flush()
    b[2] = 20
    b.flush()
    assert dict(m.items()) == {1: 10, 2: 20}

"""popitem() is bounded on fd arrays (issue 9, item 4): it used to loop forever when
slot 0 was empty (GET_NEXT_KEY(NULL) always answers 0 on arrays), on both backends."""

from __future__ import annotations

import pytest

from bpfmaps import Map, Program


@pytest.fixture
def inner(backend):
    with Map.create("array", 4, 4, 1, backend=backend) as m:
        yield m


def _run_bounded(fn):
    # a regression would hang: run it in a thread and give up after a few seconds
    import threading

    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "popitem() did not return (unbounded loop)"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_array_of_maps_popitem(backend, inner):
    with Map.create("array_of_maps", 4, 4, 4, inner_map=inner, key="I", backend=backend) as o:
        with pytest.raises(KeyError):
            _run_bounded(o.popitem)  # empty
        o[2] = inner
        k, v = _run_bounded(o.popitem)  # slot 0 empty, slot 2 filled
        assert (k, v) == (2, inner.info.id)
        with pytest.raises(KeyError):
            _run_bounded(o.popitem)
        assert len(o) == 0


def test_prog_array_popitem(backend):
    with Map.create("prog_array", 4, 4, 8, key="I", backend=backend) as pa:
        with Program.load_trivial(backend=backend) as p:
            with pytest.raises(KeyError):
                _run_bounded(pa.popitem)
            pa[7] = p  # the last slot
            assert _run_bounded(pa.popitem) == (7, p.id)
            with pytest.raises(KeyError):
                _run_bounded(pa.popitem)


def test_hash_popitem_still_drains(backend):
    with Map.create("hash", 4, 4, 8, key="I", value="I", backend=backend) as m:
        for i in range(5):
            m[i] = i * 10
        got = dict(_run_bounded(m.popitem) for _ in range(5))
        assert got == {i: i * 10 for i in range(5)}
        with pytest.raises(KeyError):
            m.popitem()

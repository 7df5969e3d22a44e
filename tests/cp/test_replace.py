"""outer.replace(key): a new inner table filled then swapped in with one UPDATE_ELEM;
on the fake and the kernel, and under a clang-compiled BPF reader running meanwhile."""

from __future__ import annotations

import os
import threading

import pytest

from bpfmaps import Map, Program, XdpAction
from bpfmaps.codecs import U32, U64
from bpfmaps.errors import InvalidArgumentError, KeyNotFoundError

from .bpfobj import load_prog

SLOTS = 64


def table(backend, gen: int = 0):
    t = Map.create("array", 4, 8, SLOTS, backend=backend, key=U32, value=U64)
    if gen:
        t.update_many(range(SLOTS), [gen] * SLOTS)
    return t


def outer_with(backend, inner):
    outer = Map.create("array_of_maps", 4, 4, 2, inner_map=inner, backend=backend, key=U32)
    outer[0] = inner
    return outer


def test_swap_on_clean_exit(backend):
    with table(backend, 1) as t1, outer_with(backend, t1) as outer:
        old_id = outer[0]
        with outer.replace(0, key_codec=U32, value_codec=U64) as new:
            new.update_many(range(SLOTS), [2] * SLOTS)
            assert outer[0] == old_id  # not swapped yet
            new_id = new.id
        assert new.closed and outer[0] == new_id != old_id
        with Map.from_id(outer[0], backend=backend, key=U32, value=U64) as cur:
            assert set(cur.values()) == {2}
            assert (cur.type, cur.key_size, cur.value_size, cur.max_entries) == (
                t1.type, 4, 8, SLOTS,
            )  # fmt: skip


def test_exception_swaps_nothing_and_frees(backend):
    with table(backend, 1) as t1, outer_with(backend, t1) as outer:
        old_id = outer[0]
        with pytest.raises(RuntimeError), outer.replace(0) as new:
            new[b"\0\0\0\0"] = b"\7" * 8
            new_id = new.id
            raise RuntimeError("fill failed")
        assert new.closed and outer[0] == old_id
        if backend.name == "fake":
            assert new_id not in backend.map_ids()  # freed
        else:
            with pytest.raises(LookupError):  # MapNotFoundError: freed
                Map.from_id(new_id)


def test_empty_slot_needs_template(backend):
    with (
        table(backend) as tpl,
        Map.create("array_of_maps", 4, 4, 2, inner_map=tpl, backend=backend, key=U32) as outer,
    ):
        with pytest.raises(KeyNotFoundError, match="template="), outer.replace(1):
            pass
        with outer.replace(1, template=tpl) as new:
            new[5] = 55  # template's codecs
        with outer.replace(1, template={"type": "array", "key_size": 4, "value_size": 8,
                                        "max_entries": SLOTS}) as new:  # fmt: skip
            pass
        # a spec the outer map's template does not accept: refused at the swap
        bad = {"type": "array", "key_size": 4, "value_size": 16, "max_entries": SLOTS}
        before = outer[1]
        with pytest.raises(InvalidArgumentError), outer.replace(1, template=bad):
            pass
        assert outer[1] == before
    with table(backend) as t, pytest.raises(TypeError, match="array_of_maps"), t.replace(0):
        pass


@pytest.mark.kernel
def test_reader_never_sees_a_half_updated_table(bpffs):
    d = load_prog("outer_reader", bpffs)
    pkt = bytes(64)
    with (
        Program.from_pin(os.path.join(d, "prog")) as prog,
        Map.from_pin(os.path.join(d, "outer"), key=U32) as outer,
        Map.from_pin(os.path.join(d, "seen"), key=U32, value=U64) as seen,
    ):
        assert prog.test_run(pkt).retval == XdpAction.ABORTED  # no table yet
        tpl = {"type": "array", "key_size": 4, "value_size": 8, "max_entries": SLOTS}
        with outer.replace(0, template=tpl, key_codec=U32, value_codec=U64) as new:
            new.update_many(range(SLOTS), [1] * SLOTS)
        assert prog.test_run(pkt).retval == XdpAction.PASS and seen[0] == 1

        # control: writing the live table in place IS seen half-updated
        with Map.from_id(outer[0], key=U32, value=U64) as live:
            live.update_many(range(SLOTS // 2), [99] * (SLOTS // 2))
            assert prog.test_run(pkt).retval == XdpAction.DROP
            live.update_many(range(SLOTS), [1] * SLOTS)

        verdicts: dict[int, int] = {}
        gens: set[int] = set()
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                r = prog.test_run(pkt, repeat=50)
                verdicts[r.retval] = verdicts.get(r.retval, 0) + 1
                gens.add(seen[0])

        t = threading.Thread(target=reader)
        t.start()
        try:
            for gen in range(2, 202):
                with outer.replace(0) as new:
                    new = new.typed(key=U32, value=U64)
                    # slowly, element by element: a reader of this map would see it half-filled
                    for i in range(SLOTS):
                        new[i] = gen
        finally:
            stop.set()
            t.join()
        assert verdicts.get(XdpAction.DROP, 0) == 0, verdicts
        assert verdicts.get(XdpAction.PASS, 0) > 0
        assert len(gens) > 1  # the reader ran across several replacements
        assert prog.test_run(pkt).retval == XdpAction.PASS and seen[0] == 201

"""m.memory() on BPF_F_MMAPABLE arrays: shared with lookups/updates, numpy, read-only
when frozen or opened read-only, close refuses while views live (kernel and fake)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from bpfmaps import Map, MapFlags
from bpfmaps.codecs import U32, U64
from bpfmaps.errors import BPFError, InvalidArgumentError


def mk(backend, n=1000, vs=8, **kw):
    return Map.create("array", 4, vs, n, flags=MapFlags.MMAPABLE, backend=backend, **kw)


def test_views_share_the_values(backend):
    with mk(backend, key=U32, value=U64) as m:
        m[3] = 9
        mv = m.memory()
        assert len(mv) == 8000 and not mv.readonly
        a = np.frombuffer(mv, dtype=np.uint64)
        assert a[3] == 9 and a.sum() == 9
        a[4] = 11
        assert m[4] == 11  # a syscall sees the store
        m[5] = 12
        assert a[5] == 12  # and the view sees the syscall's write
        m.update_many([7, 8], [70, 80])
        assert list(a[6:9]) == [0, 70, 80]
        del a
        mv.release()


def test_stride_rounds_value_size_up_to_8(backend):
    with mk(backend, n=4, vs=12) as m:
        m[b"\1\0\0\0"] = b"A" * 12
        mv = m.memory()
        assert len(mv) == 4 * 16
        assert bytes(mv[16:28]) == b"A" * 12 and bytes(mv[28:32]) == bytes(4)
        mv[32:44] = b"B" * 12
        assert m[b"\2\0\0\0"] == b"B" * 12
        mv.release()


def test_refused_for_other_maps(backend):
    with (
        Map.create("array", 4, 8, 4, backend=backend) as plain,
        pytest.raises(InvalidArgumentError, match="MMAPABLE"),
    ):
        plain.memory()
    with Map.create("hash", 4, 8, 4, backend=backend) as h, pytest.raises(InvalidArgumentError):
        h.memory()


def test_close_refuses_while_views_live(backend):
    m = mk(backend, key=U32, value=U64)
    mv = m.memory()
    arr = np.frombuffer(mv, dtype=np.uint64)
    with pytest.raises(BufferError, match="memory\\(\\) views"):
        m.close()
    assert not m.closed
    m[1] = 5  # still usable
    assert arr[1] == 5
    del arr
    mv.release()
    m.close()
    assert m.closed


def test_frozen_map_view_is_read_only(backend):
    with mk(backend, key=U32, value=U64) as m:
        m[2] = 7
        m.freeze()
        mv = m.memory()
        assert mv.readonly and mv.cast("Q")[2] == 7
        with pytest.raises(TypeError):
            mv[0] = 1
        mv.release()


def test_read_only_handle_cannot_map(backend):
    with mk(backend) as m, Map.from_id(m.id, readonly=True, backend=backend) as ro:
        with pytest.raises(InvalidArgumentError):
            ro.memory()


@pytest.mark.kernel
def test_kernel_rules(kernel_backend):
    with mk(kernel_backend, key=U32, value=U64) as m:
        mv = m.memory()
        with pytest.raises(BPFError) as ei:
            m.freeze()  # the kernel refuses while a writable mapping exists
        assert ei.value.errno == 16  # EBUSY
        with Map.from_id(m.id, key=U32, value=U64) as other:
            ov = other.memory()  # another fd of the map: the same pages
            mv.cast("Q")[9] = 99
            assert ov.cast("Q")[9] == 99
            ov.release()
        mv.release()
    # a Map collected with a live view: the fd closes, the pages stay valid
    m = mk(kernel_backend, key=U32, value=U64)
    m[0] = 5
    view = m.memory().cast("Q")
    with pytest.warns(ResourceWarning):
        del m
        gc.collect()
    assert view[0] == 5
    view[0] = 6
    view.release()

"""Map.sync on the kernel builds the index of a large desired state (65536 keys or
more) in a thread while it reads the map; when the read raises, the call waits for
that thread first: no C thread job outlives the call that started it (the rule of
bpfmaps.bpftool._safety.HoldStopSignals for the scanner's job)."""

from __future__ import annotations

import array
import threading

import pytest

from bpfmaps import Map

pytestmark = pytest.mark.kernel

N = 200_000


def _index_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bpfmaps-sync-index"]


def test_a_failing_read_joins_the_index_build(kernel_backend):
    keys = array.array("I", range(N)).tobytes()
    values = bytes(8 * N)
    with Map.create("hash", 4, 8, N, backend=kernel_backend) as m:
        for _ in range(5):
            with pytest.raises(ValueError, match="batch_size must be positive"):
                m.sync(keys, values, batch_size=-1)  # raised by the read, after the start
            assert _index_threads() == []
        assert m.sync(keys, values).added == N  # and the map is usable, the sync exact

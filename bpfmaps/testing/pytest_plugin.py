"""pytest plugin for bpfmaps (entry point ``pytest11: bpfmaps``).

Fixtures:

* ``fake_kernel``: a fresh :class:`~bpfmaps.testing.FakeKernel`, active as the default
  backend for the whole test (``Map.create``/``from_id``/``from_pin``/``from_name`` and
  the batch-file runner use it).  Parametrize it indirectly to configure it::

      @pytest.mark.parametrize("fake_kernel", [{"possible_cpus": 4, "batch_ops": False}],
                               indirect=True)

  After the test it fails when fake fds opened during the test are still open.
* ``fake_map_factory``: ``fake_map_factory(type, key_size, value_size, max_entries,
  flags=0, key=None, value=None, name=None)`` -> a Map on the test's ``fake_kernel``;
  every Map it made is closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from . import FakeKernel, fake_map
from . import fake_kernel as _fake_kernel_cm


@pytest.fixture
def fake_kernel(request: pytest.FixtureRequest) -> Iterator[FakeKernel]:
    """A FakeKernel active as the default backend for this test (leak-checked)."""
    kwargs = getattr(request, "param", None) or {}
    fk = FakeKernel(**kwargs)
    with _fake_kernel_cm(fk):
        yield fk
    leaked = fk.open_fds()
    if leaked:
        pytest.fail(f"test left fake BPF fds open: {sorted(leaked)} (close your Maps)")


@pytest.fixture
def fake_map_factory(fake_kernel: FakeKernel) -> Iterator[Callable[..., Any]]:
    """Make Maps on the test's fake kernel; they are closed after the test."""
    made: list[Any] = []

    def make(
        type: Any,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int = 0,
        key: Any = None,
        value: Any = None,
        name: Any = None,
        **kw: Any,
    ) -> Any:
        m = fake_map(
            type,
            key_size,
            value_size,
            max_entries,
            flags,
            key,
            value,
            name,
            kernel=fake_kernel,
            **kw,
        )
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()

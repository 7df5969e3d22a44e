"""Helpers for the core kernel tests.

* ``uname``: a fresh map name (<= 15 chars) unique to this test run, so name
  lookups never collide with maps made by other tests or processes.
* ``mk``: ``mk(type, key_size, value_size, max_entries, **kw)`` creates a real map
  that is closed when the test ends (so the fd-leak check stays meaningful).
"""

from __future__ import annotations

import itertools
import os
from contextlib import ExitStack

import pytest

_counter = itertools.count()


@pytest.fixture
def uname():
    def make(prefix: str = "t") -> str:
        name = f"{prefix}{os.getpid() % 100000}_{next(_counter)}"
        assert len(name) <= 15
        return name

    return make


@pytest.fixture
def mk(kernel_backend):
    from bpfmaps import Map

    with ExitStack() as stack:

        def make(type_, key_size, value_size, max_entries, **kw):
            return stack.enter_context(
                Map.create(type_, key_size, value_size, max_entries, backend=kernel_backend, **kw)
            )

        yield make

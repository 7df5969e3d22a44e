"""Fixtures for the batch tests: map factories that close every map they made."""

from __future__ import annotations

import pytest

from bpfmaps import Map


@pytest.fixture
def mk(backend):
    """``mk(type, key_size, value_size, max_entries, **codecs)`` on the parametrized backend."""
    made: list[Map] = []

    def make(t, ks, vs, n, **kw):
        m = Map.create(t, ks, vs, n, backend=backend, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def kmk(kernel_backend):
    """Same as ``mk`` on the real kernel only."""
    made: list[Map] = []

    def make(t, ks, vs, n, **kw):
        m = Map.create(t, ks, vs, n, backend=kernel_backend, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()

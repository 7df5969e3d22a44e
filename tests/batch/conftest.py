"""Fixtures for the batch tests: map factories that close every map they made."""

from __future__ import annotations

import pytest

from bpfmaps import Map


def _factory(be):
    made: list[Map] = []

    def make(t, ks, vs, n, **kw):
        m = Map.create(t, ks, vs, n, backend=be, **kw)
        made.append(m)
        return m

    return make, made


@pytest.fixture
def mk(backend):
    """``mk(type, key_size, value_size, max_entries, **codecs)`` on the parametrized backend;
    closes every map it made."""
    make, made = _factory(backend)
    yield make
    for m in made:
        m.close()


@pytest.fixture
def kmk(kernel_backend):
    """Same as ``mk`` on the real kernel only."""
    make, made = _factory(kernel_backend)
    yield make
    for m in made:
        m.close()

"""Kernel-faithful fakes for testing BPF control planes without root.

* :class:`FakeKernel`: the :class:`~bpfmaps.backend.Backend` protocol over an
  in-memory kernel (maps, programs, ids, names, pins, fds, freeze, batch commands,
  fault injection).  Results, errnos and batch counts match the real kernel; the
  contract suite in ``tests/contract`` checks that against a real kernel.
* :func:`fake_kernel`: a context manager making a FakeKernel the default backend,
  so ``Map.from_id/from_pin/from_name/create`` and the batch-file runner use it.
* :func:`fake_map`: a real :class:`bpfmaps.Map` over a FakeKernel.
* The pytest plugin (:mod:`bpfmaps.testing.pytest_plugin`, auto-loaded through the
  ``pytest11`` entry point) provides the ``fake_kernel`` and ``fake_map_factory``
  fixtures.

Nothing here imports the compiled extension or needs privileges.
See docs/testing.md for a guide and the list of deliberate differences.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional, Union

from ..backend import use_backend
from ..types import MapType
from .fake import FakeKernel, Fault, FaultContext

if TYPE_CHECKING:  # pragma: no cover
    from ..maps import Map

__all__ = ["FakeKernel", "Fault", "FaultContext", "fake_kernel", "fake_map"]


@contextmanager
def fake_kernel(
    kernel: Optional[FakeKernel] = None, *, check_leaks: bool = False, **kwargs: Any
) -> Iterator[FakeKernel]:
    """Run the block with a FakeKernel as the default backend.

    ``fake_kernel(possible_cpus=4, batch_ops=False)`` passes keyword arguments to
    :class:`FakeKernel`; ``fake_kernel(fk)`` activates an existing one.  Inside the
    block ``Map.create``, ``Map.from_id``, ``Map.from_pin``, ``Map.from_name`` and
    ``bpfmaps batch`` files all talk to the fake.  The backend is a context variable:
    other threads and asyncio tasks started outside the block keep their own.

    ``check_leaks=True`` raises AssertionError at exit when fds opened inside the
    block are still open (Maps not closed).
    """
    fk = kernel if kernel is not None else FakeKernel(**kwargs)
    before = fk.open_fds()
    with use_backend(fk):
        yield fk
    if check_leaks:
        leaked = fk.open_fds() - before
        if leaked:
            raise AssertionError(f"fake fds left open: {sorted(leaked)}")


def fake_map(
    type: Union[MapType, int, str],
    key_size: int,
    value_size: int,
    max_entries: int,
    flags: int = 0,
    key: Any = None,
    value: Any = None,
    name: Optional[str] = None,
    *,
    inner_map: Any = None,
    kernel: Optional[FakeKernel] = None,
) -> Map[Any, Any]:
    """A real :class:`bpfmaps.Map` over a FakeKernel (a new one unless ``kernel`` is given).

    Same arguments as ``Map.create`` plus codecs (``key=``/``value=``).  The FakeKernel
    is reachable as ``fake_map(...).backend`` when the Map exposes it, and always via
    ``kernel=``.  Raises the same exceptions as ``Map.create`` on the real kernel
    (e.g. InvalidArgumentError for sizes the kernel rejects).  Cost: O(1).
    """
    from ..maps import Map

    fk = kernel if kernel is not None else FakeKernel()
    return Map.create(
        type,
        key_size,
        value_size,
        max_entries,
        name=name,
        flags=flags,
        inner_map=inner_map,
        backend=fk,
        key=key,
        value=value,
    )

"""Shared fixtures.

* ``kernel`` marker / ``kernel_backend`` fixture: real bpf(2).  Without the
  privilege or the compiled extension such tests skip, except when
  ``BPFMAPS_REQUIRE_KERNEL=1`` (set by .ci/run), where they fail.
* ``backend`` fixture: parametrized over ``fake`` and ``kernel``: the contract
  suites use it so the same assertions run against both.
* Every kernel test runs inside an fd-leak check: the set of open fds of this
  process must be the same before and after the test.
* ``bpffs``: a private bpffs mount in a temporary directory, unmounted afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

REQUIRE_KERNEL = os.environ.get("BPFMAPS_REQUIRE_KERNEL") == "1"


def _kernel_unavailable_reason() -> str | None:
    try:
        from bpfmaps.kernel import KernelBackend
    except ImportError as e:  # compiled extension missing
        return f"compiled extension not importable: {e}"
    k = KernelBackend()
    fd = k.map_create(2, 4, 4, 1, 0, b"probe")
    if fd < 0:
        return f"bpf(BPF_MAP_CREATE) failed: {os.strerror(-fd)} (need root / CAP_BPF)"
    k.close(fd)
    return None


_REASON = _kernel_unavailable_reason()


def require_kernel() -> None:
    """Skip (or, with BPFMAPS_REQUIRE_KERNEL=1, fail) when bpf(2) cannot run here."""
    if _REASON is not None:
        if REQUIRE_KERNEL:
            pytest.fail(f"kernel tests required but cannot run: {_REASON}")
        pytest.skip(_REASON)


def _open_fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def _fd_leak_check(request):
    if request.node.get_closest_marker("kernel") is None and "backend" not in request.fixturenames:
        yield
        return
    import gc

    gc.collect()
    before = _open_fds()
    yield
    gc.collect()
    after = _open_fds()
    leaked = after - before
    if leaked:
        targets = {}
        for fd in leaked:
            try:
                targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                targets[fd] = "?"
        pytest.fail(f"test leaked file descriptors: {targets}")


def pytest_runtest_setup(item):
    if item.get_closest_marker("kernel") is not None:
        require_kernel()


@pytest.fixture
def kernel_backend():
    require_kernel()
    from bpfmaps.backend import kernel_backend as kb

    return kb()


def _make_backend(kind: str):
    if kind == "kernel":
        require_kernel()
        from bpfmaps.backend import kernel_backend as kb

        return kb()
    from bpfmaps.testing import FakeKernel

    return FakeKernel()


@pytest.fixture(params=["fake", "kernel"])
def backend(request):
    """The same test against the fake kernel and the real one."""
    return _make_backend(request.param)


@pytest.fixture
def bpffs():
    """A fresh bpffs mounted on a temporary directory (kernel tests that pin)."""
    require_kernel()
    d = tempfile.mkdtemp(prefix="bpfmaps-bpffs-")
    r = subprocess.run(["mount", "-t", "bpf", "bpf", d], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        msg = f"cannot mount bpffs: {r.stderr.strip()}"
        if REQUIRE_KERNEL:
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bpftool_bin():
    """Path of the real bpftool (the oracle for differential tests)."""
    path = shutil.which("bpftool") or (
        "/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None
    )
    if path is None:
        if REQUIRE_KERNEL:
            pytest.fail("bpftool is not installed (apt-get install bpftool)")
        pytest.skip("bpftool is not installed")
    require_kernel()
    return path

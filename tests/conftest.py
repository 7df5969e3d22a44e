"""Shared fixtures.

* ``kernel`` marker / ``kernel_backend`` fixture: real bpf(2).  Without the
  privilege or the compiled extension such tests skip, except when
  ``BPFMAPS_REQUIRE_KERNEL=1`` (set by .ci/run), where they fail.
* ``backend`` fixture: parametrized over ``fake`` and ``kernel``: the contract
  suites use it so the same assertions run against both.
* ``spy`` fixture: ``spy(owner, name, note)`` wraps ``owner.name`` for the test (the
  real one runs, then ``note(args, result)``), so a test can see what a path called.
* Every kernel test runs inside an fd-leak check: the set of open fds of this
  process must be the same before and after the test.
* ``unprivileged``: the command prefix that runs a program without capabilities,
  wherever the checkout lives (as nobody, or as root with no capabilities).
* ``bpffs``: a private bpffs mount in a temporary directory, unmounted afterwards.
* ``bpf_objects`` (session): compiles BPF C programs with clang and loads them with
  ``bpftool prog load ... pinmaps`` on a private bpffs; ``bpf_objects.load(src)``
  returns {map name: pin path} (maps with real BTF; see the fixture's docstring).
"""

from __future__ import annotations

import contextlib
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


#: runs a program as the user nobody without capabilities (what bpf(2) checks)
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
#: runs a program as this user with every capability set empty (the bounding set too,
#: so an exec as uid 0 regains none)
CAPLESS = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"]


@pytest.fixture(scope="session")
def unprivileged() -> list[str]:
    """Command prefix that runs a program without capabilities: as nobody (uid 65534)
    when nobody can import bpfmaps from this checkout, else as this user with no
    capabilities at all (a clone in /root, mode 700, on stock Debian: nobody cannot
    reach it).  Either way bpf(2) lacks CAP_BPF/CAP_SYS_ADMIN; only file permissions
    (a pinned path of root's) differ.  Fails when setpriv (util-linux) is missing or
    the capabilities were not dropped."""
    import sys

    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop privileges"
    probe = "import bpfmaps._ffi; print(open('/proc/self/status').read())"
    for prefix in (NOBODY, CAPLESS):
        r = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True,
                           text=True, timeout=60, cwd="/", env=dict(os.environ, HOME="/"))  # fmt: skip
        if r.returncode == 0:
            eff = next(x for x in r.stdout.splitlines() if x.startswith("CapEff:"))
            assert int(eff.split()[1], 16) == 0, eff
            return list(prefix)
    pytest.fail(f"cannot run bpfmaps without capabilities: {r.stderr}")


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
def spy(monkeypatch):
    """``spy(owner, name, note)``: for this test, ``owner.name`` (a module function, or a
    class's method: ``args`` then start with ``self``) runs the real one, then calls
    ``note(args, result)`` and returns the result (a call that raises is not noted)."""

    def install(owner, name, note):
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            result = real(*args, **kwargs)
            note(args, result)
            return result

        monkeypatch.setattr(owner, name, wrapper)

    return install


@pytest.fixture
def bpffs():
    """A fresh bpffs mounted on a temporary directory (kernel tests that pin)."""
    require_kernel()
    with _mounted_bpffs("bpfmaps-bpffs-") as d:
        yield d


@contextlib.contextmanager
def _mounted_bpffs(prefix: str):
    """A bpffs mounted on a new temporary directory, unmounted and removed after;
    fails (BPFMAPS_REQUIRE_KERNEL=1) or skips when it cannot be mounted."""
    d = tempfile.mkdtemp(prefix=prefix)
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


class BpfObjects:
    """Session helper behind the ``bpf_objects`` fixture (see its docstring)."""

    def __init__(self, root: str, bpftool: str) -> None:
        self.root = root
        self.bpftool = bpftool
        self._n = 0
        self._cache: dict = {}
        #: (abs src, key) -> the compiled object file
        self.objects: dict = {}

    def compile(self, src: str, sfx: str, out_dir: str) -> str:
        """clang -g -O2 -target bpf ... -DSFX=sfx -c src -> out_dir/o<sfx>.o"""
        clang = shutil.which("clang")
        if clang is None:
            msg = "clang is not installed (apt-get install clang llvm libbpf-dev)"
            if REQUIRE_KERNEL:
                pytest.fail(msg)
            pytest.skip(msg)
        machine = (
            subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
            or "x86_64-linux-gnu"
        )
        obj = os.path.join(out_dir, f"o{sfx}.o")
        r = subprocess.run(
            [clang, "-g", "-O2", "-target", "bpf", f"-I/usr/include/{machine}", f"-DSFX={sfx}",
             "-c", src, "-o", obj],
            capture_output=True, text=True,
        )  # fmt: skip
        if r.returncode != 0:
            pytest.fail(f"clang failed on {src}:\n{r.stderr}")
        return obj

    def load(self, src: str, key: str = "") -> dict[str, str]:
        """Compile ``src`` and load it once per (src, key) for the session; returns
        {map name without the suffix: pin path} (``.data``/``.bss`` maps as o_data/o_bss)
        plus ``"prog"`` (the pinned program)."""
        ck = (os.path.abspath(src), key)
        if ck in self._cache:
            return self._cache[ck]
        self._n += 1
        sfx = f"_{os.getpid() & 0xFFFF:04x}"  # same per session: copies share names
        d = os.path.join(self.root, f"obj{self._n}")
        os.mkdir(d)
        obj = self.compile(src, sfx, tempfile.mkdtemp(prefix="bpfmaps-obj-"))
        self.objects[ck] = obj
        r = subprocess.run(
            [self.bpftool, "prog", "load", obj, f"{d}/prog", "pinmaps", d],
            capture_output=True, text=True,
        )  # fmt: skip
        if r.returncode != 0:
            pytest.fail(f"bpftool prog load {obj} failed:\n{r.stderr}{r.stdout}")
        pins = {}
        for name in sorted(os.listdir(d)):
            pins[name.replace(sfx, "")] = os.path.join(d, name)
        self._cache[ck] = pins
        return pins


@pytest.fixture(scope="session")
def bpf_objects():
    """Real BPF objects with real BTF, shared by the session.

    ``bpf_objects.load("tests/btf/progs/btf_maps.bpf.c")`` compiles the program with
    ``clang -g -O2 -target bpf -I/usr/include/$(gcc -dumpmachine) -DSFX=_NNNNN`` (map
    names carry ``SFX`` so concurrent sessions never clash: write them as ``N(name)``,
    see tests/btf/progs/btf_maps.bpf.c), loads it with ``bpftool prog load OBJ DIR/prog
    pinmaps DIR`` on a private bpffs mounted for the session, and returns {map name:
    pin path} (the suffix removed; ``.data``/``.bss`` maps are ``o_data``/``o_bss``).
    The program needs one program section (bpftool loads programs, not bare maps).
    A second ``key`` loads another copy (maps with the same names, for ``name``
    handles matching several maps).  Everything is unpinned and unmounted at the end.
    Fails (never skips) without clang/bpftool when BPFMAPS_REQUIRE_KERNEL=1."""
    require_kernel()
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(bpftool):
        msg = "bpftool is not installed"
        if REQUIRE_KERNEL:
            pytest.fail(msg)
        pytest.skip(msg)
    with _mounted_bpffs("bpfmaps-objs-") as d:
        yield BpfObjects(d, bpftool)

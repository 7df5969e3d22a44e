"""The fake kernel's own features, without root or the compiled extension."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import textwrap

import pytest

from bpfmaps import Map, errors
from bpfmaps.codecs import U32, U64
from bpfmaps.testing import FakeKernel, fake_kernel, fake_map


def test_imports_without_extension():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name in ("bpfmaps._ffi", "bpfmaps.kernel"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from bpfmaps.testing import FakeKernel, fake_map
        m = fake_map("hash", 4, 4, 2)
        m[b"abcd"] = b"1234"
        assert m[b"abcd"] == b"1234"
        m.close()
        assert "bpfmaps._ffi" not in sys.modules
        print("ok")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_fds_ids_and_leak_check():
    fk = FakeKernel(fd_base=500)
    fd = fk.map_create(1, 4, 4, 2, 0, b"x")
    assert fd == 500 and fk.open_fds() == {500}
    d = fk.dup(fd)
    assert d == 501
    assert fk.close(fd) == 0 and fk.close(fd) == -errno.EBADF
    rc, info = fk.map_info(d)
    assert rc == 0 and info.id == 1 and info.name == "x"
    assert fk.close(d) == 0
    assert fk.open_fds() == set() and fk.map_ids() == []  # freed with its last fd
    kept = []
    with pytest.raises(AssertionError, match="fake fds left open"):
        with fake_kernel(check_leaks=True):
            kept.append(Map.create("hash", 4, 4, 1))
    kept[0].close()


def test_fake_kernel_is_the_default_backend():
    with fake_kernel() as fk:
        m = Map.create("hash", 4, 8, 4, name="routes", key=U32, value=U64)
        m[7] = 70
        with Map.from_name("routes", key=U32, value=U64) as again:
            assert again[7] == 70
        m.pin("/sys/fs/bpf/routes")
        assert fk.pins() == {"/sys/fs/bpf/routes": m.info.id}
        m.close()
        with Map.from_pin("/sys/fs/bpf/routes", key=U32, value=U64) as p:
            assert p[7] == 70
        assert fk.unlink("/sys/fs/bpf/routes") == 0
        assert fk.map_ids() == []
        assert fk.open_fds() == set()


def test_mount_mkdir_and_pins():
    fk = FakeKernel(bpffs=())
    fd = fk.map_create(2, 4, 4, 1)
    assert not fk.is_bpffs("/sys/fs/bpf/x")
    assert fk.obj_pin(fd, "/sys/fs/bpf/x") == -errno.EPERM
    fk.mount_bpffs("/run/bpf")
    assert fk.obj_pin(fd, "/run/bpf/a/x") == -errno.ENOENT
    assert fk.mkdir("/run/bpf/a") == 0 and fk.mkdir("/run/bpf/a") == -errno.EEXIST
    assert fk.obj_pin(fd, "/run/bpf/a/x") == 0
    assert fk.obj_pin(fd, "/run/bpf/a/x") == -errno.EEXIST
    ro = fk.obj_get("/run/bpf/a/x", 1 << 3)
    assert fk.map_update_elem(ro, b"\0" * 4, b"\1" * 4) == -errno.EPERM
    assert fk.map_lookup_elem(ro, b"\0" * 4, fk.alloc(4)) == 0
    for f in (fd, ro):
        fk.close(f)
    assert fk.map_ids() != []  # the pin keeps it alive


def test_possible_cpus_sets_percpu_value_size():
    fk = FakeKernel(possible_cpus=4)
    with fake_map("percpu_array", 4, 4, 2, key=U32, value=U32, kernel=fk) as m:
        m[0] = [1, 2, 3, 4]
        assert m[0] == [1, 2, 3, 4]
        assert m._h.vbs == 4 * 8


def test_fault_injection_element_and_batch():
    fk = FakeKernel()
    m = fake_map("hash", 4, 4, 8, key=U32, value=U32, kernel=fk)
    fault = fk.inject(errno.ENOMEM, ops="map_update_elem", count=1)
    with pytest.raises(errors.BPFError) as ei:
        m[1] = 1
    assert ei.value.errno == errno.ENOMEM and fault.hits == 1
    m[1] = 1  # only the next one failed
    fk.inject(
        errno.EPERM, ops=["map_lookup_elem"], when=lambda c: c.key == (2).to_bytes(4, "little")
    )
    m[2] = 2
    assert m[1] == 1
    with pytest.raises(errors.PermissionDeniedError):
        m[2]
    # a batch failing at element 2: the kernel reports count = 2, nothing after it applied
    fk.inject(errno.EINTR, ops="map_update_batch", when=lambda c: c.index == 2)
    rc, n = fk.map_update_batch(
        m.fileno(), b"".join(i.to_bytes(4, "little") for i in range(10, 14)), bytes(16), 4
    )
    assert (rc, n) == (-errno.EINTR, 2)
    assert 10 in m and 11 in m and 12 not in m
    fk.clear_faults()
    m.close()


def test_fault_on_create_and_unlimited_count():
    fk = FakeKernel()
    fk.inject(errno.EPERM, ops="map_create", count=None)
    for _ in range(3):
        with pytest.raises(errors.PermissionDeniedError):
            Map.create("hash", 4, 4, 1, backend=fk)
    fk.clear_faults()
    Map.create("hash", 4, 4, 1, backend=fk).close()


def test_batch_ops_disabled_like_old_kernels():
    fk = FakeKernel(batch_ops=False)
    fd = fk.map_create(1, 4, 4, 4)
    assert fk.map_update_batch(fd, bytes(4), bytes(4), 1) == (-errno.EINVAL, 1)
    assert fk.map_lookup_batch(fd, None, fk.alloc(4), fk.alloc(4), fk.alloc(4), 1) == (
        -errno.EINVAL,
        1,
    )
    fk.close(fd)
    with fake_map("hash", 4, 4, 4, key=U32, value=U32, kernel=fk) as m:
        if not hasattr(m, "update_many"):
            pytest.skip("bulk API not available")
        m.update_many([(i, i * 10) for i in range(4)])  # falls back to per-element updates
        assert dict(m.items()) == {i: i * 10 for i in range(4)}
        assert fk.calls.get("map_update_elem", 0) >= 4


def test_prog_array_with_fake_programs():
    fk = FakeKernel()
    p = fk.load_prog(prog_type=6, name="xdp_pass")
    rc, info = fk.prog_info(p)
    assert rc == 0 and info.type == 6 and info.name == "xdp_pass"
    pa = fk.map_create(3, 4, 4, 2)
    assert fk.map_update_elem(pa, bytes(4), p.to_bytes(4, "little")) == 0
    out = fk.alloc(4)
    assert fk.map_lookup_elem(pa, bytes(4), out) == 0
    assert int.from_bytes(out[:4], "little") == info.id
    other = fk.load_prog(prog_type=1)
    assert (
        fk.map_update_elem(pa, (1).to_bytes(4, "little"), other.to_bytes(4, "little"))
        == -errno.EINVAL
    )
    for fd in (p, pa, other):
        fk.close(fd)


def test_short_buffers_are_caller_bugs():
    fk = FakeKernel()
    fd = fk.map_create(1, 8, 4, 2)
    with pytest.raises(ValueError, match="read past"):
        fk.map_update_elem(fd, b"\0" * 4, b"\0" * 4)
    fk.close(fd)


def test_batch_file_runner_against_fake(tmp_path):
    from bpfmaps.bpftool.runner import Runner

    with fake_kernel() as fk:
        m = Map.create("hash", 4, 4, 8, name="cfg", key=U32, value=U32)
        batch = tmp_path / "cmds.txt"
        batch.write_text(
            f"map update id {m.info.id} key 1 0 0 0 value 5 0 0 0\n"
            f"map update id {m.info.id} key 2 0 0 0 value 6 0 0 0\n"
        )
        out, err = io.StringIO(), io.StringIO()
        rc = Runner(fk, stdout=out, stderr=err).run_file(str(batch))
        assert rc == 0, err.getvalue()
        assert dict(m.items()) == {1: 5, 2: 6}
        m.close()


def test_pytest_plugin_fixtures(fake_kernel, fake_map_factory):
    m = fake_map_factory("array", 4, 4, 3, key=U32, value=U32)
    m[1] = 11
    with Map.from_id(m.info.id, key=U32, value=U32) as again:  # the fixture is the default
        assert again[1] == 11
    assert fake_kernel.map_ids() == [m.info.id]


@pytest.mark.parametrize("fake_kernel", [{"possible_cpus": 3}], indirect=True)
def test_plugin_fixture_is_configurable(fake_kernel, fake_map_factory):
    m = fake_map_factory("percpu_hash", 4, 4, 2, key=U32, value=U32)
    m[1] = [1, 2, 3]
    assert fake_kernel.possible_cpus() == 3 and m[1] == [1, 2, 3]

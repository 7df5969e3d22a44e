"""Tests of examples/fake_rate_limiter.py: the control plane runs on the fake kernel
(fixtures from the bpfmaps pytest plugin) exactly as it would on the real one."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from bpfmaps import Map, errors
from bpfmaps.codecs import U64

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))

from fake_rate_limiter import IPV4, RateLimiter  # noqa: E402


def test_apply_adds_changes_and_removes(fake_kernel):
    with RateLimiter() as rl:
        rep = rl.apply({"10.0.0.1": 100, "10.0.0.2": 200}, ["10.9.0.0/16"])
        assert (rep.added, rep.changed, rep.removed) == (3, 0, 0)
        rep = rl.apply({"10.0.0.1": 150}, ["10.9.0.0/16", "10.9.8.0/24"])
        assert (rep.added, rep.changed, rep.removed) == (1, 1, 1)
        assert dict(rl.limits.items()) == {0x0A000001: 150}
        assert rl.is_blocked("10.9.8.7") and rl.is_blocked("10.9.1.1")
        assert not rl.is_blocked("10.8.0.1")


def test_reopens_existing_maps_by_name(fake_kernel):
    with RateLimiter() as first:
        first.apply({"10.0.0.1": 1}, [])
        with RateLimiter() as second:  # another process would find the same map by name
            assert second.limits.info.id == first.limits.info.id
            assert dict(second.limits.items()) == {0x0A000001: 1}


def test_full_map_is_reported_not_fatal(fake_kernel):
    with RateLimiter(max_clients=2) as rl:
        rep = rl.apply({"10.0.0.1": 1, "10.0.0.2": 2, "10.0.0.3": 3}, [])
        assert rep.added == 2 and rep.rejected == ["10.0.0.3"]
        assert len(rl.limits) == 2


def test_kernel_errors_propagate(fake_kernel):
    """Fault injection: a failing write surfaces as the kernel's exception class."""
    with RateLimiter() as rl:
        fake_kernel.inject(errno.EPERM, ops="map_update_elem")
        with pytest.raises(errors.PermissionDeniedError):
            rl.apply({"10.0.0.1": 1}, [])
        assert rl.apply({"10.0.0.1": 1}, []).added == 1


def test_datapath_view(fake_kernel):
    """What an XDP program would read: the raw map, opened by id like bpftool does."""
    with RateLimiter() as rl:
        rl.apply({"192.0.2.7": 42}, [])
        with Map.from_id(rl.limits.info.id, key=IPV4, value=U64) as raw:
            assert raw[0xC0000207] == 42


def test_script_runs_on_the_fake():
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "fake_rate_limiter.py"), "--fake"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert r.returncode == 0, r.stderr
    assert "added=3 changed=0 removed=0 rejected=['10.0.0.3']" in r.stdout
    assert "192.168.4.4 blocked: True" in r.stdout

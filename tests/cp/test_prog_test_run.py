"""Program.from_pin/from_id and Program.test_run on the real kernel (clang-compiled
XDP program loaded by bpftool) and on the fake (a Python run model)."""

from __future__ import annotations

import os
import socket
import struct

import pytest

from bpfmaps import Map, Program, XdpAction
from bpfmaps.codecs import U32, U64
from bpfmaps.errors import BPFError, InvalidArgumentError, PinNotFoundError
from bpfmaps.testing import FakeKernel

from .bpfobj import load_prog


def packet(dst: str, proto: int = 0x0800) -> bytes:
    """An Ethernet + IPv4 header (+ 8 bytes payload) to ``dst``."""
    eth = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", proto)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton("10.0.0.1"),
        socket.inet_aton(dst),
    )  # fmt: skip
    return eth + ip + b"x" * 8


def ip_key(addr: str) -> int:
    # the map key is the address as the program reads it (network order bytes)
    return struct.unpack("=I", socket.inet_aton(addr))[0]


@pytest.mark.kernel
def test_xdp_verdict_follows_the_map(bpffs):
    d = load_prog("xdp_drop", bpffs)
    with (
        Program.from_pin(os.path.join(d, "prog")) as prog,
        Map.from_pin(os.path.join(d, "drop_list"), key=U32, value=U64) as drops,
    ):
        assert prog.info.type == 6
        pkt = packet("192.0.2.7")
        r = prog.test_run(pkt)
        assert r.retval == XdpAction.PASS and isinstance(r.retval, XdpAction)
        assert r.data == pkt
        drops[ip_key("192.0.2.7")] = 0
        r = prog.test_run(pkt, repeat=100)
        assert r.retval == XdpAction.DROP
        assert r.duration_ns >= 0
        assert drops[ip_key("192.0.2.7")] == 100  # the program really ran 100 times
        assert prog.test_run(packet("192.0.2.8")).retval == XdpAction.PASS
        assert prog.test_run(packet("192.0.2.7", proto=0x86DD)).retval == XdpAction.PASS
        del drops[ip_key("192.0.2.7")]
        assert prog.test_run(pkt).retval == XdpAction.PASS


@pytest.mark.kernel
def test_from_id_and_errors(bpffs):
    d = load_prog("xdp_drop", bpffs)
    with Program.from_pin(os.path.join(d, "prog")) as p:
        with Program.from_id(p.id) as q:
            assert q.id == p.id and q.info.name == "xdp_drop"
            assert q.test_run(packet("198.51.100.1")).retval == XdpAction.PASS
        with pytest.raises(InvalidArgumentError) as ei:
            p.test_run(b"short")  # XDP needs an Ethernet header
        assert "Ethernet" in str(ei.value)
        with pytest.raises(ValueError):
            p.test_run(packet("1.2.3.4"), repeat=-1)
    with pytest.raises(PinNotFoundError):
        Program.from_pin(os.path.join(d, "nothing"))
    with pytest.raises(InvalidArgumentError) as ei:
        Program.from_pin(os.path.join(d, "drop_list"))  # a map, not a program
    assert "not a BPF program" in str(ei.value)
    p.close()
    with pytest.raises(ValueError):
        p.test_run(b"")


def test_fake_program_run_model():
    fk = FakeKernel()
    drops = Map.create("hash", 4, 8, 16, backend=fk, key=U32, value=U64)

    def xdp(data: bytes) -> int:  # the XDP program, modelled in Python
        dst = struct.unpack_from("=I", data, 14 + 16)[0]
        if dst in drops:
            drops[dst] += 1
            return XdpAction.DROP
        return XdpAction.PASS

    fd = fk.load_prog(6, "xdp_drop", run=xdp)
    with Program.from_fd(fd, backend=fk) as prog:
        fk.close(fd)
        pkt = packet("192.0.2.7")
        assert prog.test_run(pkt).retval == XdpAction.PASS
        drops[ip_key("192.0.2.7")] = 0
        r = prog.test_run(pkt, repeat=3)
        assert r.retval == XdpAction.DROP and r.data == pkt
        assert drops[ip_key("192.0.2.7")] == 3
    with (
        Program.from_fd(fk.load_prog(6, "nomodel"), backend=fk) as p,
        pytest.raises(BPFError) as ei,
    ):
        p.test_run(pkt)
    assert ei.value.errno == 524 and "run=" in str(ei.value)
    drops.close()

#!/usr/bin/env python3
"""A control plane's own test: the XDP verdict follows the map it writes.

Self-contained: it compiles a small XDP program with clang (drop IPv4 packets whose
destination is a key of the ``drop_list`` hash map), loads it with ``bpftool prog
load`` on a private bpffs, opens the program and its map by pin (loaded by someone
else, as in production), and runs the program on a packet with BPF_PROG_TEST_RUN
while the control plane adds and removes the destination.  Nothing is attached to an
interface.  Run as root with clang and bpftool installed (``.ci/setup-machine``).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

from bpfmaps import Map, Program, XdpAction
from bpfmaps.codecs import U64

PROGRAM = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);   /* IPv4 destination, network byte order */
    __type(value, __u64); /* packets dropped */
} drop_list SEC(".maps");

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return XDP_PASS;
    __u64 *hits = bpf_map_lookup_elem(&drop_list, &ip->daddr);
    if (!hits)
        return XDP_PASS;
    __sync_fetch_and_add(hits, 1);
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
"""

# the map key: an IPv4 address as the program reads it (4 bytes, network order)
IPV4 = "4s"


def packet(dst: str) -> bytes:
    """An Ethernet + IPv4 + 8-byte payload frame from 10.0.0.1 to ``dst``."""
    eth = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", 0x0800)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0,
        socket.inet_aton("10.0.0.1"), socket.inet_aton(dst),
    )  # fmt: skip
    return eth + ip + b"payload!"


def build_and_load(workdir: str, pins: str) -> None:
    src = os.path.join(workdir, "xdp_drop.bpf.c")
    obj = os.path.join(workdir, "xdp_drop.o")
    with open(src, "w") as f:
        f.write(PROGRAM)
    triplet = subprocess.run(
        ["gcc", "-dumpmachine"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["clang", "-g", "-O2", "-target", "bpf", f"-I/usr/include/{triplet}", "-c", src, "-o", obj],
        check=True,
    )
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    subprocess.run([bpftool, "prog", "load", obj, f"{pins}/prog", "pinmaps", pins], check=True)


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="bpfmaps-xdp-")
    pins = os.path.join(workdir, "bpffs")
    os.mkdir(pins)
    mounted = False
    try:
        subprocess.run(["mount", "-t", "bpf", "bpf", pins], check=True)
        mounted = True
        build_and_load(workdir, pins)
        with (
            Program.from_pin(f"{pins}/prog") as prog,
            Map.from_pin(f"{pins}/drop_list", key=IPV4, value=U64) as drop_list,
        ):
            print(f"loaded {prog!r}; map {drop_list.name} id {drop_list.id}")
            bad, good = "192.0.2.66", "198.51.100.1"

            def verdict(dst: str) -> XdpAction:
                return XdpAction(prog.test_run(packet(dst)).retval)

            assert verdict(bad) == XdpAction.PASS
            print(f"{bad}: {verdict(bad).name} (empty drop list)")

            drop_list[socket.inet_aton(bad)] = 0  # the control plane blocks it
            r = prog.test_run(packet(bad), repeat=1000)
            assert r.retval == XdpAction.DROP and verdict(good) == XdpAction.PASS
            hits = drop_list[socket.inet_aton(bad)]
            assert hits == 1000, hits
            print(
                f"{bad}: {XdpAction(r.retval).name} after drop_list update ({hits} drops counted by"
            )
            print(f"  the program, {r.duration_ns} ns per run); {good}: {verdict(good).name}")

            del drop_list[socket.inet_aton(bad)]  # ... and unblocks it
            assert verdict(bad) == XdpAction.PASS
            print(f"{bad}: {verdict(bad).name} after delete")
        print("ok")
        return 0
    finally:
        if mounted:
            subprocess.run(["umount", pins], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The main example: the control plane of an XDP load balancer, on real kernel maps.

It creates the two maps such a datapath reads (services and their backends), fills them
with one cross-map batch, pins them on a private bpffs, reopens them by pin and by name,
applies a config change written as a bpftool batch file with ``bpfmaps batch file``,
checks the result against the real bpftool when it is installed, shows the exact report
of a failed batch, and cleans everything up.  Run as root: ``bash examples/run.sh``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile

import bpfmaps
from bpfmaps import BatchError, Map, MapType, UpdateFlags, codecs

N_SERVICES = 1000
BACKENDS_PER_SERVICE = 8

# struct backend_key { __u32 service; __u32 slot; };               8 bytes, native order
BACKEND_KEY = codecs.Struct("=II", names=("service", "slot"))
# struct backend { __be32 ip; __be16 port; __u16 weight; __u8 pad[24]; };   32 bytes
BACKEND = codecs.Struct("!4sHH24x", names=("ip", "port", "weight"))
# struct service { __u32 n_backends; __u32 flags; };              8 bytes
SERVICE = codecs.Struct("=II", names=("n_backends", "flags"))


def backend_for(service: int, slot: int) -> tuple[bytes, int, int]:
    ip = ipaddress.IPv4Address(0x0A000000 + service * 16 + slot).packed
    return (ip, 8000 + slot, 1 + slot % 3)


def mount_bpffs() -> str:
    d = tempfile.mkdtemp(prefix="bpfmaps-example-")
    subprocess.run(["mount", "-t", "bpf", "bpf", d], check=True)
    return d


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: bpf(2) needs CAP_BPF/CAP_SYS_ADMIN", file=sys.stderr)
        return 1
    bpffs = mount_bpffs()
    try:
        return run(bpffs)
    finally:
        subprocess.run(["umount", "-l", bpffs], check=False)
        shutil.rmtree(bpffs, ignore_errors=True)


def run(bpffs: str) -> int:
    backends = Map.create(
        MapType.HASH,
        8,
        32,
        N_SERVICES * BACKENDS_PER_SERVICE + 64,
        name="lb_backends",
        key=BACKEND_KEY,
        value=BACKEND,
    )
    services = Map.create(
        MapType.HASH, 4, 8, N_SERVICES + 64, name="lb_services", key=codecs.U32, value=SERVICE
    )
    with backends, services:
        print(f"created {backends!r}\ncreated {services!r}")

        # 1. Fill both maps in program order with one cross-map batch.
        with bpfmaps.batch() as tx:
            for s in range(N_SERVICES):
                for slot in range(BACKENDS_PER_SERVICE):
                    tx[backends][(s, slot)] = backend_for(s, slot)
                tx[services][s] = (BACKENDS_PER_SERVICE, 0)
        print(f"filled {len(backends)} backends and {len(services)} services")

        # 2. Pin, then reopen the way another process would: by pin and by name.
        backends.pin(os.path.join(bpffs, "lb_backends"))
        with Map.from_pin(
            os.path.join(bpffs, "lb_backends"), key=BACKEND_KEY, value=BACKEND
        ) as again:
            b = again[(7, 3)]
            print(f"service 7 slot 3 -> {ipaddress.IPv4Address(b.ip)}:{b.port} weight {b.weight}")
            assert (b.ip, b.port, b.weight) == backend_for(7, 3)
        with Map.from_name("lb_services", key=codecs.U32, value=SERVICE) as svc:
            assert svc[7].n_backends == BACKENDS_PER_SERVICE

        # 3. A config change written as a bpftool batch file (what people generate
        #    with awk today), run with `bpfmaps batch file`.
        new_port = 9090
        lines = []
        for slot in range(BACKENDS_PER_SERVICE):
            key = BACKEND_KEY.encode((7, slot))
            ip, _, weight = backend_for(7, slot)
            value = BACKEND.encode((ip, new_port, weight))
            lines.append(
                f"map update id {backends.id} key {' '.join(str(x) for x in key)} "
                f"value hex {' '.join(f'{x:02x}' for x in value)}"
            )
        lines.append(
            f"map update pinned {bpffs}/lb_backends key hex 07 00 00 00 00 00 00 00 "
            f"value {' '.join(str(x) for x in BACKEND.encode(backend_for(7, 0)))}  # restore slot 0"
        )
        fd, path = tempfile.mkstemp(suffix=".batch")
        with os.fdopen(fd, "w") as f:
            f.write("# move service 7 to port 9090\n" + "\n".join(lines) + "\n")
        try:
            r = subprocess.run(
                [sys.executable, "-m", "bpfmaps", "batch", "file", path],
                capture_output=True,
                text=True,
            )
        finally:
            os.unlink(path)
        print(f"bpfmaps batch file: {r.stdout.strip()} {r.stderr.strip()}".strip())
        if r.returncode != 0:
            return 1
        assert backends[(7, 0)].port == 8000
        assert all(backends[(7, s)].port == new_port for s in range(1, BACKENDS_PER_SERVICE))

        # 4. Cross-check with the real bpftool, the reference implementation.
        bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
        if os.path.exists(bpftool):
            key_words = " ".join(str(x) for x in BACKEND_KEY.encode((7, 1)))
            out = subprocess.run(
                [bpftool, "-j", "map", "lookup", "id", str(backends.id), "key", *key_words.split()],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            import json

            value = bytes(int(x, 16) for x in json.loads(out)["value"])
            assert BACKEND.decode(value).port == new_port
            print("bpftool agrees: service 7 slot 1 is on port", BACKEND.decode(value).port)

        # 5. A failing batch reports exactly what was applied.
        try:
            with backends.batch() as b:
                b.update((2000, 0), backend_for(2000, 0), flags=UpdateFlags.NOEXIST)
                b.update((7, 2), backend_for(7, 2), flags=UpdateFlags.NOEXIST)  # exists
                b.update((2000, 1), backend_for(2000, 1), flags=UpdateFlags.NOEXIST)
        except BatchError as e:
            print(
                f"batch failed as expected: applied={e.applied} index={e.index} "
                f"cause={type(e.__cause__).__name__}"
            )
            assert e.applied == 1 and e.index == 1
            assert (2000, 0) in backends and (2000, 1) not in backends
        else:
            raise AssertionError("NOEXIST on an existing key must fail")

        print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

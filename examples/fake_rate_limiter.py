"""A small control plane: per-client rate limits and a blocklist in BPF maps.

The datapath (an XDP program, not shown) reads two maps:

* ``rl_limits``  hash u32 client IPv4 (network order) -> u64 packets per second;
* ``rl_blocked`` lpm_trie (u32 prefixlen + 4 address bytes) -> u8 1, for CIDR blocks.

The control plane reconciles those maps with a desired config and reports what it
changed.  It only uses ``bpfmaps.Map``, so its tests run on a fake kernel without root
(see tests/testing/test_fake_example.py) and the same code runs on the real kernel:

    sudo python examples/fake_rate_limiter.py          # real kernel
    python examples/fake_rate_limiter.py --fake        # in-memory fake kernel
"""

from __future__ import annotations

import ipaddress
import struct
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from bpfmaps import Map, errors
from bpfmaps.codecs import U8, U32BE, U64

IPV4 = U32BE  # client address in network order


def lpm_key(cidr: str) -> bytes:
    net = ipaddress.ip_network(cidr)
    return struct.pack("I", net.prefixlen) + net.network_address.packed


@dataclass
class Report:
    added: int = 0
    changed: int = 0
    removed: int = 0
    rejected: list[str] = field(default_factory=list)


class RateLimiter:
    """Owns the two maps (creates them, or opens them by name when they exist)."""

    def __init__(self, max_clients: int = 1024, max_blocks: int = 256) -> None:
        try:
            self.limits = Map.from_name("rl_limits", key=IPV4, value=U64)
        except errors.MapNotFoundError:
            self.limits = Map.create(
                "hash", 4, 8, max_clients, name="rl_limits", key=IPV4, value=U64
            )
        try:
            self.blocked = Map.from_name("rl_blocked", value=U8)
        except errors.MapNotFoundError:
            self.blocked = Map.create(
                "lpm_trie", 8, 1, max_blocks, name="rl_blocked", flags=1, value=U8
            )

    def close(self) -> None:
        self.limits.close()
        self.blocked.close()

    def __enter__(self) -> RateLimiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def apply(self, limits: dict[str, int], blocks: list[str]) -> Report:
        """Make the maps equal to the config.  A full limits map does not abort the run:
        the clients that did not fit are listed in ``Report.rejected``."""
        rep = Report()
        want = {int(ipaddress.ip_address(ip)): pps for ip, pps in limits.items()}
        for ip in [ip for ip in self.limits if ip not in want]:
            del self.limits[ip]
            rep.removed += 1
        for ip, pps in want.items():
            old = self.limits.get(ip)
            if old == pps:
                continue
            try:
                self.limits[ip] = pps
            except errors.MapFullError:
                rep.rejected.append(str(ipaddress.ip_address(ip)))
                continue
            if old is None:
                rep.added += 1
            else:
                rep.changed += 1
        want_blocks = {lpm_key(c) for c in blocks}
        for k in [k for k in self.blocked if k not in want_blocks]:
            del self.blocked[k]
            rep.removed += 1
        for k in want_blocks:
            try:
                self.blocked.update(k, 1, flags=1)  # NOEXIST: only new prefixes
                rep.added += 1
            except errors.KeyExistsError:
                pass
        return rep

    def is_blocked(self, ip: str) -> bool:
        """What the datapath decides for ``ip``: a longest-prefix-match lookup."""
        return lpm_key(f"{ip}/32") in self.blocked


def main(argv: list[str]) -> int:
    ctx: AbstractContextManager[Any]
    if "--fake" in argv:
        from bpfmaps.testing import fake_kernel

        ctx = fake_kernel()
    else:
        from contextlib import nullcontext

        ctx = nullcontext()
    with ctx, RateLimiter(max_clients=2) as rl:
        rep = rl.apply({"10.0.0.1": 100, "10.0.0.2": 200, "10.0.0.3": 300}, ["192.168.0.0/16"])
        print(
            f"added={rep.added} changed={rep.changed} removed={rep.removed} rejected={rep.rejected}"
        )
        print("192.168.4.4 blocked:", rl.is_blocked("192.168.4.4"))
        rl.limits.clear()
        rl.blocked.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

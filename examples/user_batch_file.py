"""The StackOverflow user's batch file, run with ``bpfmaps batch file`` (run as root).

Creates two hash maps (key 8/value 32 and key 8/value 8), writes a batch file with
512 updates to the first map in the user's exact format (decimal bytes mixed with
``00``, trailing spaces, real map ids) plus one update of the second map, runs
``python -m bpfmaps batch file FILE``, checks every entry, and cleans up.

    sudo python examples/user_batch_file.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bpfmaps.backend import kernel_backend  # noqa: E402
from bpfmaps.types import MapType  # noqa: E402

VALUE = bytes([10, 0, 0, 1, 10, 89, 0, 4]) + bytes(24)


def key_bytes(i: int) -> bytes:
    return bytes([0, 0, 0, 0, 0, 0, i >> 8, i & 0xFF])


def batch_text(id1: int, id2: int) -> str:
    lines = []
    for i in range(512):
        k = key_bytes(i)
        key = f"0 0 00 00 00 00 {k[6]} {k[7]}"
        lines.append(f"map update id {id1} key {key} value 10 0 0 1 10 89 0 4 " + "00 " * 24)
    lines.append(f"map update id {id2} key 10 89 0 4 00 00 00 00 value 0 0 00 00 00 00 00 00")
    return "\n".join(lines) + "\n"


def main() -> int:
    kb = kernel_backend()
    fd1 = kb.map_create(int(MapType.HASH), 8, 32, 1024, 0, b"user_backends")
    fd2 = kb.map_create(int(MapType.HASH), 8, 8, 16, 0, b"user_vips")
    if fd1 < 0 or fd2 < 0:
        print(f"cannot create maps: {os.strerror(-min(fd1, fd2))} (run as root)", file=sys.stderr)
        return 1
    path = None
    try:
        info1, info2 = kb.map_info(fd1)[1], kb.map_info(fd2)[1]
        assert info1 is not None and info2 is not None
        id1, id2 = info1.id, info2.id
        with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
            f.write(batch_text(id1, id2))
            path = f.name
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        r = subprocess.run(
            [sys.executable, "-m", "bpfmaps", "batch", "file", path],
            capture_output=True,
            text=True,
            env=env,
        )
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        if r.returncode != 0:
            return r.returncode
        buf = kb.alloc(32)
        for i in range(512):
            assert kb.map_lookup_elem(fd1, key_bytes(i), buf, 0) == 0, f"key {i} missing"
            assert kb.tobytes(buf, 32) == VALUE, f"key {i}: wrong value"
        assert kb.map_lookup_elem(fd2, bytes([10, 89, 0, 4, 0, 0, 0, 0]), buf, 0) == 0
        assert kb.tobytes(buf, 8) == bytes(8)
        print("verified: 512 entries in map", id1, "and 1 entry in map", id2)
        return 0
    finally:
        kb.close(fd1)
        kb.close(fd2)
        if path:
            os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())

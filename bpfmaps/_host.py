"""What the host says outside bpf(2): possible CPUs (/sys; :func:`possible_cpus` is
:mod:`bpfmaps.types`', re-exported), bpffs mounts (/proc/self/mountinfo) and fdinfo
lines (/proc/self/fdinfo).

Pure Python, no compiled extension: the kernel backend uses these for its
``possible_cpus``/``is_bpffs``/``map_fdinfo``/``map_pin_paths``, and anything else may
call them.  Each function is one open+read of a small proc/sys file (about 10 us).
"""

from __future__ import annotations

import os
from errno import EBADF

from .types import possible_cpus  # (defined there: the per-CPU value layout's one fact)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["bpffs_mounts", "is_bpffs", "possible_cpus", "read_fdinfo"]


def _mounts() -> Iterator[tuple[str, str]]:
    """(mount point, fstype) of every line of /proc/self/mountinfo (none when it
    cannot be read)."""
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.readlines()
    except OSError:
        return
    for line in lines:
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        yield fields[4].replace("\\040", " "), fields[sep + 1]


def is_bpffs(path: str) -> bool:
    """True when ``path`` (or, if it does not exist, its directory) is on a bpffs mount
    (the longest mount point that holds it).  One read of /proc/self/mountinfo; False
    when it cannot be read."""
    p = os.path.realpath(path)
    if not os.path.exists(p):
        p = os.path.dirname(p)
    best, fstype = -1, None
    for mnt, fs in _mounts():
        if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= best:
            best, fstype = len(mnt), fs
    return fstype == "bpf"


def bpffs_mounts() -> list[str]:
    """Mount points of every bpffs visible to this process, in mount order, each once.
    One read of /proc/self/mountinfo; [] when it cannot be read."""
    out: list[str] = []
    for mnt, fs in _mounts():
        if fs == "bpf" and mnt not in out:
            out.append(mnt)
    return out


def read_fdinfo(fd: int) -> tuple[int, dict[str, str] | None]:
    """``(0, {key: value})`` of the lines of /proc/self/fdinfo/FD, or ``(-errno, None)``
    when it cannot be read (-EBADF for a closed fd).  One open+read, about 10 us."""
    try:
        with open(f"/proc/self/fdinfo/{int(fd)}") as f:
            text = f.read()
    except OSError as e:
        return -(e.errno or EBADF), None
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return 0, out

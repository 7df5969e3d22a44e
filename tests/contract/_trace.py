"""A recorder that runs the same raw Backend calls on any backend and logs every result.

Differential tests run one scenario on the real kernel and on a FakeKernel and compare
the two logs entry by entry: return codes, counts, bytes read back, batch tokens.
fds differ between backends, so they are logged as "fd" (or the -errno).
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

ENOTSUPP = 524


def ename(rc: int) -> str:
    if rc >= 0:
        return str(rc)
    if -rc == ENOTSUPP:
        return "-ENOTSUPP"
    return "-" + errno.errorcode.get(-rc, str(-rc))


class Recorder:
    """Wraps a Backend; every call appends ``(op, args..., results...)`` to ``log``."""

    def __init__(self, backend):
        self.b = backend
        self.log: list[tuple] = []
        self.fds: list[int] = []

    @property
    def NULL(self):
        return self.b.NULL

    def rec(self, *entry):
        self.log.append(entry)

    def _own(self, fd):
        if fd >= 0:
            self.fds.append(fd)
        return fd

    def close_all(self):
        while self.fds:
            self.b.close(self.fds.pop())

    def close(self, fd):
        self.fds.remove(fd)
        return self.b.close(fd)

    # -- objects -------------------------------------------------------------------------
    def create(self, t, ks, vs, n, flags=0, name=b"", inner=-1, label=None):
        fd = self._own(self.b.map_create(t, ks, vs, n, flags, name, inner))
        self.rec("create", label or (t, ks, vs, n, flags), "fd" if fd >= 0 else ename(fd))
        return fd

    def prog(self, prog_type=1):
        insns = b"\xb7" + bytes(7) + b"\x95" + bytes(7)
        fd = self._own(self.b.prog_load(prog_type, insns, b"GPL", b"p"))
        assert fd >= 0, ename(fd)
        return fd

    def map_id(self, fd):
        rc, info = self.b.map_info(fd)
        assert rc == 0
        return info.id

    def info(self, fd):
        rc, info = self.b.map_info(fd)
        self.rec(
            "info",
            ename(rc),
            info
            and (
                int(info.type),
                info.key_size,
                info.value_size,
                info.max_entries,
                info.flags,
                info.name,
            ),
        )
        return info

    def reopen(self, fd, open_flags):
        nfd = self._own(self.b.map_get_fd_by_id(self.map_id(fd), open_flags))
        self.rec("reopen", open_flags, "fd" if nfd >= 0 else ename(nfd))
        return nfd

    def freeze(self, fd):
        self.rec("freeze", ename(self.b.map_freeze(fd)))

    # -- elements ------------------------------------------------------------------------
    def update(self, fd, key, value, flags=0, label=None):
        """``label`` replaces the value in the log (values that are fds differ)."""
        rc = self.b.map_update_elem(fd, self.NULL if key is None else key, value, flags)
        self.rec("update", key, value if label is None else label, flags, ename(rc))
        return rc

    def lookup(self, fd, key, vsize, flags=0, show=True):
        """``show=False`` logs only the rc (values that are object ids differ)."""
        buf = self.b.alloc(vsize)
        rc = self.b.map_lookup_elem(fd, self.NULL if key is None else key, buf, flags)
        out = self.b.tobytes(buf, vsize) if rc == 0 else None
        self.rec("lookup", key, flags, ename(rc), out if show else None)
        return rc, out

    def delete(self, fd, key):
        rc = self.b.map_delete_elem(fd, self.NULL if key is None else key)
        self.rec("delete", key, ename(rc))
        return rc

    def lookup_and_delete(self, fd, key, vsize, flags=0, show=True):
        buf = self.b.alloc(vsize)
        rc = self.b.map_lookup_and_delete_elem(fd, self.NULL if key is None else key, buf, flags)
        out = self.b.tobytes(buf, vsize) if rc == 0 else None
        self.rec("lookup_and_delete", key, flags, ename(rc), out if show else None)
        return rc, out

    def next_key(self, fd, key, ksize):
        buf = self.b.alloc(max(ksize, 1))
        rc = self.b.map_get_next_key(fd, self.NULL if key is None else key, buf)
        out = self.b.tobytes(buf, ksize) if rc == 0 else None
        self.rec("next_key", key, ename(rc), out)
        return rc, out

    def keys(self, fd, ksize, limit=10000, ordered=True):
        """Full GET_NEXT_KEY walk; logged as a list (ordered) or a sorted list."""
        cur, out = None, []
        for _ in range(limit):
            buf = self.b.alloc(ksize)
            rc = self.b.map_get_next_key(fd, self.NULL if cur is None else cur, buf)
            if rc:
                break
            cur = self.b.tobytes(buf, ksize)
            out.append(cur)
        self.rec("keys", out if ordered else sorted(out))
        return out

    # -- batches -------------------------------------------------------------------------
    def update_batch(self, fd, keys, values, count, elem_flags=0, flags=0, label=None):
        rc, n = self.b.map_update_batch(fd, keys, values, count, elem_flags, flags)
        self.rec("update_batch", count, elem_flags, flags, ename(rc), n, label)
        return rc, n

    def delete_batch(self, fd, keys, count, elem_flags=0, flags=0):
        rc, n = self.b.map_delete_batch(fd, keys, count, elem_flags, flags)
        self.rec("delete_batch", count, elem_flags, flags, ename(rc), n)
        return rc, n

    def lookup_batch(
        self,
        fd,
        in_batch,
        count,
        ksize,
        vsize,
        tsize,
        elem_flags=0,
        flags=0,
        delete=False,
        show_values=True,
    ):
        ob = self.b.alloc(tsize)
        kb = self.b.alloc(max(count, 1) * max(ksize, 1))
        vb = self.b.alloc(max(count, 1) * vsize)
        fn = self.b.map_lookup_and_delete_batch if delete else self.b.map_lookup_batch
        rc, n = fn(
            fd, self.NULL if in_batch is None else in_batch, ob, kb, vb, count, elem_flags, flags
        )
        ok = rc == 0 or (rc == -errno.ENOENT)
        keys = self.b.tobytes(kb, n * ksize) if ok else None
        vals = self.b.tobytes(vb, n * vsize) if ok else None
        token = self.b.tobytes(ob, tsize) if ok and (n or rc == 0) else None
        self.rec(
            "lookup_batch" + ("_and_delete" if delete else ""),
            in_batch,
            count,
            elem_flags,
            flags,
            ename(rc),
            n,
            keys,
            vals if show_values else len(vals or b""),
            token,
        )
        return rc, n, token, keys, vals

    def elems(self, method, fd, *args, errs=None):
        from bpfmaps import loops

        fn = getattr(loops.of(self.b), method)
        rc, n = fn(fd, *args, errs=errs)
        self.rec(
            method,
            ename(rc) if errs is None else rc,
            n,
            None if errs is None else [ename(e) for e in errs],
        )
        return rc, n


@contextmanager
def pinned_cpu(cpu: int = 0):
    """Run on one CPU: the kernel's per-CPU LRU free lists then behave deterministically."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def run_both(kernel, fake, scenario, *args, pin=True):
    """Run ``scenario(recorder, *args)`` on both backends; return the two logs."""
    logs = []
    for b in (kernel, fake):
        r = Recorder(b)
        try:
            if pin:
                with pinned_cpu(0):
                    scenario(r, *args)
            else:
                scenario(r, *args)
        finally:
            r.close_all()
        logs.append(r.log)
    return logs


def assert_same(klog, flog):
    """Compare logs entry by entry with a readable first difference."""
    for i, (k, f) in enumerate(zip(klog, flog)):
        assert k == f, (
            f"step {i}: kernel {k!r} != fake {f!r}\n(previous: {klog[max(0, i - 3) : i]!r})"
        )
    assert len(klog) == len(flog)

"""The fake kernel's batch commands (``bpf_map_do_batch``, kernel >= 5.6):
``BPF_MAP_{UPDATE,DELETE,LOOKUP,LOOKUP_AND_DELETE}_BATCH`` with the kernel's counts
and tokens: in order, stop at the first failure with the count written back; hash
maps walk whole buckets (a u32 bucket token; -ENOSPC when the first bucket does not
fit), arrays and tries walk ``GET_NEXT_KEY`` (the last key is the token).

``batch_ops=False`` on the fake kernel emulates a kernel before 5.6 (EINVAL).
Cost: O(count) element ops per command (a hash bucket is copied whole).
"""

from __future__ import annotations

import errno
from typing import Optional

from ..errors import ENOTSUPP
from .elements import Buffer, ElementCommands, copy_in, copy_out
from .maps import FakeMap, HashMap
from .maps.base import BPF_F_LOCK

__all__ = ["BatchCommands"]

EINVAL, ENOENT, ENOSPC, EPERM = errno.EINVAL, errno.ENOENT, errno.ENOSPC, errno.EPERM


class BatchCommands(ElementCommands):
    """The batch commands over the element layer (see the module docstring)."""

    #: False emulates a kernel before 5.6: every batch command answers EINVAL
    batch_ops: bool = True

    def _batch_map(self, fd: int, write: bool) -> tuple[int, Optional[FakeMap]]:
        """Common part of ``bpf_map_do_batch`` for updates and deletes: (rc, map)."""
        if not self.batch_ops:
            return -EINVAL, None
        return self._open_map(fd, write=write)

    def map_update_batch(
        self, fd: int, keys: Buffer, values: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """``BPF_MAP_UPDATE_BATCH``: in order, stop at the first failure; (rc, applied).

        Only ANY (and LOCK on maps with a spin lock) is accepted in ``elem_flags``;
        on such early errors the count is returned unchanged, as the kernel leaves it.
        """
        self.calls["map_update_batch"] = self.calls.get("map_update_batch", 0) + 1
        rc, m = self._batch_map(fd, True)
        if rc or m is None:
            return rc, count
        if not m.has_update_batch:
            return -ENOTSUPP, count
        if elem_flags & ~BPF_F_LOCK or (elem_flags & BPF_F_LOCK and m.spin_lock_off < 0):
            return -EINVAL, count
        if count == 0:
            return 0, 0
        ks, vs = m.key_size, m.value_buf_size
        for i in range(count):
            k = copy_in(keys, ks, "keys", i * ks) if ks else None
            v = m.mask_lock(copy_in(values, vs, "values", i * vs))
            rc = self._efault("map_update_batch", fd, m, k, v, elem_flags, i)
            if not rc:
                rc = m.update(k, v, elem_flags)
            if rc:
                return rc, i
        return 0, count

    def map_delete_batch(
        self, fd: int, keys: Buffer, count: int, elem_flags: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        """``BPF_MAP_DELETE_BATCH``: in order, stop at the first failure (e.g. ENOENT); (rc, deleted)."""
        self.calls["map_delete_batch"] = self.calls.get("map_delete_batch", 0) + 1
        rc, m = self._batch_map(fd, True)
        if rc or m is None:
            return rc, count
        if not m.has_delete_batch:
            return -ENOTSUPP, count
        if elem_flags:
            return -EINVAL, count
        if count == 0:
            return 0, 0
        ks = m.key_size
        for i in range(count):
            k = copy_in(keys, ks, "keys", i * ks)
            rc = self._efault("map_delete_batch", fd, m, k, index=i)
            if not rc:
                rc = m.delete(k)
            if rc:
                return rc, i
        return 0, count

    def map_lookup_batch(
        self,
        fd: int,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """``BPF_MAP_LOOKUP_BATCH``: (rc, n); rc -ENOENT with a valid n at the end of the map.

        Hash maps: the token is a u32 bucket index; a bucket that does not fit in
        ``count`` gives -ENOSPC when nothing was copied yet.  Arrays/LPM: the token is
        the last key visited.
        """
        return self._lookup_batch(
            "map_lookup_batch", fd, in_batch, out_batch, keys_out, values_out, count,
            elem_flags, flags, False,
        )  # fmt: skip

    def map_lookup_and_delete_batch(
        self,
        fd: int,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """``BPF_MAP_LOOKUP_AND_DELETE_BATCH``: hash maps only (-ENOTSUPP elsewhere)."""
        return self._lookup_batch(
            "map_lookup_and_delete_batch", fd, in_batch, out_batch, keys_out, values_out,
            count, elem_flags, flags, True,
        )  # fmt: skip

    def _lookup_batch(
        self,
        op: str,
        fd: int,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        elem_flags: int,
        flags: int,
        delete: bool,
    ) -> tuple[int, int]:
        self.calls[op] = self.calls.get(op, 0) + 1
        if not self.batch_ops:
            return -EINVAL, count
        rc, m = self._open_map(fd, read=True, write=delete)
        if m is None:
            return rc, count
        kind = m.lookup_batch_kind
        if delete and kind != "htab":
            kind = None
        if kind is None:
            return -ENOTSUPP, count
        if elem_flags:
            return -EINVAL, count
        if kind == "htab":
            if flags:
                return -EINVAL, count
            if count == 0:
                return 0, 0
            assert isinstance(m, HashMap)
            return self._htab_batch(
                op, fd, m, in_batch, out_batch, keys_out, values_out, count, delete
            )
        if count == 0:
            return 0, 0
        return self._generic_batch(op, fd, m, in_batch, out_batch, keys_out, values_out, count)

    def _generic_batch(
        self,
        op: str,
        fd: int,
        m: FakeMap,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
    ) -> tuple[int, int]:
        """``generic_map_lookup_batch``: a GET_NEXT_KEY walk from the token key."""
        ks, vs = m.key_size, m.value_buf_size
        prev = copy_in(in_batch, ks, "in_batch") if in_batch is not None else None
        cp = 0
        rc = 0
        while cp < count:
            rc, key = m.next_key(prev)
            if rc or key is None:
                break
            rc = self._efault(op, fd, m, key, index=cp)
            if rc:
                return rc, 0
            rc, val = m.lookup(key)
            if rc == 0 and val is not None:
                copy_out(keys_out, key, "keys", cp * ks)
                copy_out(values_out, val, "values", cp * vs)
                cp += 1
            elif rc != -ENOENT:
                return rc, 0
            prev = key
        if cp and prev is not None:
            copy_out(out_batch, prev, "out_batch")
        return rc, cp

    def _htab_batch(
        self,
        op: str,
        fd: int,
        m: HashMap,
        in_batch: Optional[Buffer],
        out_batch: Buffer,
        keys_out: Buffer,
        values_out: Buffer,
        count: int,
        delete: bool,
    ) -> tuple[int, int]:
        """``__htab_map_lookup_and_delete_batch``: whole buckets from the token bucket."""
        ks, vs = m.key_size, m.value_buf_size
        batch = (
            int.from_bytes(copy_in(in_batch, 4, "in_batch"), "little")
            if in_batch is not None
            else 0
        )
        if batch >= m.n_buckets:
            return -ENOENT, 0
        total = 0
        rc = 0
        while True:
            bucket = list(m.buckets[batch])
            if len(bucket) > count - total:
                if total == 0:
                    rc = -ENOSPC
                break
            for j, key in enumerate(bucket):
                frc = self._efault(op, fd, m, key, index=total + j)
                if frc:
                    return frc, 0
            for key in bucket:
                copy_out(keys_out, key, "keys", total * ks)
                copy_out(values_out, m.read(key), "values", total * vs)
                total += 1
                if delete:
                    m.remove(key)
            batch += 1
            if batch >= m.n_buckets:
                rc = -ENOENT
                break
        copy_out(out_batch, batch.to_bytes(4, "little"), "out_batch")
        return rc, total

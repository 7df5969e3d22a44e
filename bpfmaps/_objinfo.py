"""The :class:`ProgInfo` and :class:`BTFInfo` records (pure Python, no extension; L0,
so that both backends build them without importing each other).

:mod:`bpfmaps.types` exports them (built on first use there: a batch file of map
commands never reads a program or BTF object, and each record class costs about as
much to build as a small module's import: start-up, docs/performance.md).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from ._record import NamedTuple

__all__ = ["ProgInfo", "BTFInfo"]


class ProgInfo(NamedTuple):
    """What OBJ_GET_INFO_BY_FD reports for a program (the fields bpfmaps uses).

    Defined at L0 (here) so that both backends build it without importing each other."""

    id: int
    type: int
    name: str = ""
    #: the 8-byte program tag (a hash of the instructions; bpftool's ``tag``)
    tag: bytes = b""


class BTFInfo(NamedTuple):
    """What OBJ_GET_INFO_BY_FD reports for a BTF object, with its raw blob."""

    id: int
    data: bytes
    name: str = ""
    kernel_btf: bool = False

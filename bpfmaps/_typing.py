"""Type variables shared by the typed API: the key and value types of a Map.

For type checkers, ``K`` and ``V`` default to ``Any`` (PEP 696): a map opened without
codecs, or with a struct format string, is a ``Map[Any, Any]`` rather than an error.  At
run time they are plain TypeVars (``typing.TypeVar`` takes no default before 3.13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    K = TypeVar("K", default=Any)
    V = TypeVar("V", default=Any)
else:
    from typing import TypeVar

    K = TypeVar("K")
    V = TypeVar("V")

__all__ = ["K", "V"]

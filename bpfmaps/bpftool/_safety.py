"""The runner's safety net: where an item stands, and what an unexpected error did.

Kept apart from :mod:`.runner` so the reliability rules live in one small place:

* :func:`item_line`/:func:`item_lines` locate command ``k`` of a parsed item (a run,
  an op stream or one command) for reports;
* :func:`internal_error_report` words the report of an exception the runner did
  not expect, so that it is still true: commands counted as applied were applied,
  the rest of the item "may or may not" have been, later items were not attempted.

No import of the compiled extension (layer rule: only kernel backend and scanner).
"""

from __future__ import annotations

from typing import Any

__all__ = ["item_count", "item_line", "item_lines", "internal_error_message"]


def item_count(it: Any) -> int:
    """Number of commands in a parsed item (1 for a single command)."""
    n = getattr(it, "count", None)
    return 1 if n is None or not hasattr(it, "first_index") else int(n)


def item_line(it: Any, k: int) -> int:
    """Physical line of command ``k`` (0-based) of item ``it``; 0 when unknown."""
    try:
        if hasattr(it, "ops"):  # OpBlock
            return int(it.op(k)[3])
        lines = getattr(it, "lines", None)
        if lines is not None:
            return int(lines[k])
        return int(getattr(it, "line", 0) or 0)
    except (IndexError, TypeError, ValueError, AttributeError):
        return 0


def item_lines(it: Any, k: int) -> tuple[int, int]:
    """(first, last) physical lines of commands ``k..`` of item ``it``."""
    n = item_count(it)
    return item_line(it, min(k, n - 1)), item_line(it, n - 1)


def internal_error_message(e: BaseException) -> str:
    """``internal error (Type: text)``: an exception bpfmaps did not expect (a bug)."""
    text = str(e)
    return f"internal error ({type(e).__name__}{': ' + text if text else ''})"

"""The runner's success and progress reports: :class:`~bpfmaps.bpftool.state.Reports`
and :data:`PROGRESS_MIN`, re-exported from :mod:`.state`, where they live since the
small-file start-up work (one module less on the path of ``bpfmaps batch file``;
docs/performance.md).  Nothing on the runner's path imports this module.
"""

from __future__ import annotations

import time as time  # (the clock the progress line reads: time.monotonic)

from .state import PROGRESS_MIN, Reports

__all__ = ["Reports", "PROGRESS_MIN"]

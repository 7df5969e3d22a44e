"""Contract-suite plumbing: counts what the differential state machines ran and reports it."""

from __future__ import annotations

from collections import defaultdict

#: machine name -> {"sequences": n, "steps": n, "compared": n}
STATS: dict[str, dict[str, int]] = defaultdict(lambda: {"sequences": 0, "steps": 0, "compared": 0})


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not STATS:
        return
    tr = terminalreporter
    tr.section("bpfmaps kernel-vs-fake state machines")
    total_seq = total_steps = total_cmp = 0
    for name in sorted(STATS):
        s = STATS[name]
        total_seq += s["sequences"]
        total_steps += s["steps"]
        total_cmp += s["compared"]
        tr.write_line(
            f"{name:<28} {s['sequences']:>6} sequences {s['steps']:>7} steps "
            f"{s['compared']:>8} results compared"
        )
    tr.write_line(
        f"{'total':<28} {total_seq:>6} sequences {total_steps:>7} steps {total_cmp:>8} results compared"
    )

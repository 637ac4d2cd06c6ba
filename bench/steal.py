"""CPU time a virtual machine's host gave to others ("steal"), to judge a run's timings by.

On a shared VM the same work can take twice as long from one run to the next; the steal
share of a run says whether its timings can be compared with another's (Linux /proc/stat).
"""

from __future__ import annotations

from pathlib import Path


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) ticks over all CPUs since boot; None where /proc/stat is absent."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> str:
    """The share of CPU time stolen between two readings, as text for a report."""
    if before is None or after is None or after[1] <= before[1]:
        return "CPU steal: unknown"
    share = (after[0] - before[0]) / (after[1] - before[1])
    return f"CPU steal during the run: {share:.0%} (time the VM's host gave to others)"

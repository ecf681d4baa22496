"""CPU seconds of this process and of the child processes it has waited for.

Why children too: SQLite snapshots are read by a worker process (analytics/arrow_reader.py), and
a benchmark that counted only its own process would leave that work out.
"""

from __future__ import annotations

import resource


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

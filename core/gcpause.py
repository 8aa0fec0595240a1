"""Python's cycle collector held off while one piece of work makes many objects that all live
until it ends.

A bulk registration makes dozens of objects for each of its items (the copy and its state, its
row, its audit values, its events) and keeps them until it commits. The collector, which runs
each time the new objects outnumber its threshold, walks them again and again as they pile up,
and finds no cycle to free: for 10,000 items that was 13 % of the registration's time
(benchmarks/README.md). Reference counting frees them as always; the collector runs again after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Within: no cyclic garbage collection. After: the collector as it was (left off when it
    was already off, by this process's settings or an enclosing pause)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

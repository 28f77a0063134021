"""The garbage collector of a serving process, set for a large, long-lived heap.

A serving process holds a large heap that lives as long as it does (the modules, the
schema, the read model's and the response cache's objects), and every request
allocates thousands of short-lived objects. With CPython's default thresholds a
collection runs every 700 allocations and the older generations, walked in full,
grow with the heap: profiling the showcase query put about a tenth of its CPU in
collections (charged to whatever happened to allocate). Freezing the heap built at
start moves it out of every later collection, and a larger first threshold lets the
short-lived request objects die by reference counting before a collection sees
them. Cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

# Net allocations between collections of the youngest generation (about 70 times
# fewer than the default 700), then how many of those before the middle one and of
# the middle one before a full collection (defaults 10 and 10).
THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Freeze what exists now and raise the thresholds; call once the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)

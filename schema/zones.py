"""Time zones by IANA name, each loaded once per process.

`ZoneInfo(name)` keeps only its last 8 names strongly; the rest live while something
refers to them. A page of events from many zones built its zones again on most
requests, each a read of a tz file (2,600 loads in 200 showcase requests). The set of
names is the tz database's, a few hundred at most, so keeping every one is cheap.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The zone called `name`; raises as ZoneInfo does for a name that is not one."""
    return ZoneInfo(name)

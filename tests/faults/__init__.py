"""Fault injection: real searches in real processes, killed, interrupted and broken.

`KH_FAULTS=full pytest -m faults` runs every test at full size; the default `pytest`
run takes a fast subset (fewer kills, fewer fuzz examples).
"""

from __future__ import annotations

import collections
import os

FULL = os.environ.get("KH_FAULTS", "").strip().lower() == "full"

# What the fault tests survived in this run, reported at the end of the run.
TALLY: collections.Counter[str] = collections.Counter()


def scaled(fast: int, full: int) -> int:
    """`full` under `KH_FAULTS=full`, else `fast`."""
    return full if FULL else fast

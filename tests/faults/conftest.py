"""Every test here is a fault test; the run ends with what they survived."""

from __future__ import annotations

from tests.faults import FULL, TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    size = "full (KH_FAULTS=full)" if FULL else "fast subset"
    counts = ", ".join(f"{name}: {count}" for name, count in sorted(TALLY.items()))
    terminalreporter.write_sep("-", f"fault injection, {size}")
    terminalreporter.write_line(counts)

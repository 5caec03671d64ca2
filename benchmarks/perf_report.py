"""The report of `performance.py`: `Report`, which prints each markdown table as
it is ready and keeps the lines, the machine and load lines, and the tables of the
overhead runs (search / bare loop, time between trials, time by part).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import statistics
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from perf_timing import GARBAGE  # noqa: E402

import keras_hparams as kh  # noqa: E402


# -- report ---------------------------------------------------------------------------
class Report:
    """Prints each table as it is ready and keeps the markdown."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
        self.lines.extend(lines)

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.add(
            "| " + " | ".join(header) + " |",
            "|" + " --- |" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
            "",
        )


def machine() -> str:
    found = []
    for name in ["tensorflow", "numpy", "scikit-optimize", "keras-tuner"]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB; "
        f"Python {platform.python_version()}, keras {keras.__version__}, "
        + ", ".join(found)
        + f"; keras_hparams from {Path(kh.__file__).parent}"
    )


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


CLEARING = ("clear_session (without its gc)", GARBAGE)


def comparison(tuned: dict | None, bare: dict | None, n: int) -> list[str]:
    """Cells: both totals, their ratio, the extra per trial, and the ratio without
    clear_session and garbage collection (which each loop does its own way)."""
    if tuned is None:
        return ["-"] * 3
    ratio = tuned["total"] / bare["total"]
    cleared = [
        s["total"] - sum(s["seconds"].get(p, 0) for p in CLEARING)
        for s in (tuned, bare)
    ]
    return [
        f"{tuned['total']:.1f} / {bare['total']:.1f} s",
        f"**{ratio:.2f}** ({cleared[0] / cleared[1]:.2f})",
        f"{(tuned['total'] - bare['total']) / n:+.2f} s",
    ]


def report_overhead(report: Report, name: str, result: dict) -> None:
    loops = result["loops"]
    rows = []
    for n in loops["ours"]["snapshots"]:
        row = [name, n]
        for tool, bare in (("ours", "bare"), ("kt", "bare_kt")):
            row += comparison(
                loops[tool]["snapshots"].get(n), loops[bare]["snapshots"].get(n), n
            )
        rows.append(row)
    report.table(
        ["model", "N"]
        + [
            "keras-hparams: search / bare loop",
            "ratio (without clearing)",
            "extra per trial",
        ]
        + [
            "KerasTuner: search / bare loop",
            "ratio (without clearing)",
            "extra per trial",
        ],
        rows,
    )


def report_gaps(report: Report, name: str, result: dict) -> None:
    loops, rows, previous = result["loops"], [], 0
    for n, row_gap in result["trial_gaps"].items():
        row = [name, f"{previous + 1}-{n}", spread(row_gap)]
        row += [spread(loops[k]["fit_gaps"].get(n, [])) for k in loops]
        rows.append(row)
        previous = n
    report.table(
        ["model", "trials", "keras-hparams rows: ended -> next started"]
        + [
            f"fit end -> next fit start: {k}"
            for k in ("keras-hparams", "bare loop", "KerasTuner", "bare loop (KT)")
        ],
        rows,
    )


def report_parts(report: Report, name: str, result: dict, tool: str) -> None:
    """Seconds per trial by part, `tool` against its bare loop, at each N."""
    loops = result["loops"]
    tuned, bare = (
        loops["ours" if tool == "ours" else "kt"],
        loops["bare" if tool == "ours" else "bare_kt"],
    )
    if not tuned["snapshots"]:
        return
    last = max(tuned["snapshots"])
    final = tuned["snapshots"][last]["seconds"]
    parts = [p for p in final if p not in ("anything else",)]
    parts.sort(key=lambda p: -final[p])
    rows = []
    for part in parts + ["anything else", "total"]:
        row = [f"**{part}**" if part == "total" else part]
        for n, snapshot in tuned["snapshots"].items():
            mine = (
                snapshot["total"]
                if part == "total"
                else snapshot["seconds"].get(part, 0)
            )
            other = bare["snapshots"][n]
            theirs = other["total"] if part == "total" else other["seconds"].get(part)
            row.append(
                f"{mine / n:.3f} / " + ("-" if theirs is None else f"{theirs / n:.3f}")
            )
        calls = tuned["snapshots"][last]["calls"].get(part)
        row.append("" if calls is None else f"{calls / last:.1f}")
        rows.append(row)
    label = "keras-hparams" if tool == "ours" else "KerasTuner"
    report.table(
        [f"{name}: part ({label} / bare loop, s per trial)"]
        + [f"N={n}" for n in tuned["snapshots"]]
        + [f"calls per trial, N={last}"],
        rows,
    )
    if tool == "ours":
        callers = sorted(tuned["callers"].items(), key=lambda item: -item[1])
        rows = [[c, f"{k / last:.1f}"] for c, k in callers if k / last >= 0.05]
        rest = sum(k for _, k in callers if k / last < 0.05)
        if rest:
            rows.append(
                ["the others (creating tuners, starting searches)", f"{rest} in all"]
            )
        report.table(
            [f"{name}: trial store call <- caller", f"calls per trial, N={last}"],
            rows,
        )
    if tuned["missing"]:
        report.add(f"Not found (the code changed), not timed: {tuned['missing']}.")
        report.add("")

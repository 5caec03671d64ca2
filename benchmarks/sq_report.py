"""The report of `search_quality.py`: regret tables, the issue's targets, RESULTS.md."""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

import numpy as np

OURS, BATCH = "ours", "ours_batch4"
ANCHORS = ("gp_minimize", "kerastuner", "optuna", "random")
BEGIN = "<!-- search_quality.py: begin (the script rewrites what is between) -->"
END = "<!-- search_quality.py: end -->"
TITLE = "## Search quality on exact objectives (`benchmarks/search_quality.py`)"


def _regrets(results: list[dict]) -> dict[tuple[str, str], list[float]]:
    """(method, problem) -> regrets in seed order."""
    table: dict[tuple[str, str], dict[int, float]] = {}
    for r in results:
        table.setdefault((r["method"], r["problem"]), {})[r["seed"]] = r["regret"]
    return {k: [v[s] for s in sorted(v)] for k, v in table.items()}


def _g(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-4 or x == 0 else f"{x:.1e}"


def _cell(values: list[float]) -> str:
    return f"{_g(np.mean(values))} / {_g(np.median(values))} / {_g(max(values))}"


def report(
    results: list[dict],
    problems: list,
    args: argparse.Namespace,
    latency: list[float],
    machine: str,
    seconds: float,
) -> list[str]:
    regrets = _regrets(results)
    methods = [m for m in args.methods if any(k[0] == m for k in regrets)]
    lines = [
        f"- Machine: {machine}.",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; wall time "
        f"{seconds / 60:.1f} min with {args.jobs} worker processes "
        f"(anchor runs read from the cache: "
        f"{'none' if args.rerun_anchors else 'those that match'}).",
        f"- Command: `{args.command}`.",
        "",
        "Regret after the trial budget (objective at the best values found minus "
        f"its minimum), mean / median / worst of {args.seeds} seeds:",
        "",
        "| problem (trials) | " + " | ".join(methods) + " |",
        "|" + " --- |" * (len(methods) + 1),
    ]
    for p in problems:
        cells = [_cell(regrets[(m, p.name)]) for m in methods]
        lines.append(f"| {p.name} ({p.budget}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        *_relative(regrets, problems, methods),
        "",
        *_targets(regrets, problems),
    ]
    if latency:
        lines.append(
            f"- Proposal latency, 100 trials in 8 dims (`perf_runs.latency`): median "
            f"{statistics.median(latency):.2f} s, worst {max(latency):.2f} s "
            "(target: median <= 0.25 s)."
        )
    return lines


def _scale(regrets: dict, problem: str) -> float:
    """Random search's median regret: the unit of a problem's relative regret."""
    return float(np.median(regrets[("random", problem)])) or 1.0


def _relative(regrets: dict, problems: list, methods: list[str]) -> list[str]:
    if not any(k[0] == "random" for k in regrets):
        return []
    lines = [
        "Relative regret (regret / random search's median regret on the problem), "
        "averaged over the problems:",
        "",
        "| method | mean over seeds | median over seeds | worst seed |",
        "| --- | --- | --- | --- |",
    ]
    for m in methods:
        rel = [
            np.array(regrets[(m, p.name)]) / _scale(regrets, p.name) for p in problems
        ]
        lines.append(
            f"| {m} | {np.mean([r.mean() for r in rel]):.3f} | "
            f"{np.mean([np.median(r) for r in rel]):.3f} | "
            f"{np.mean([r.max() for r in rel]):.3f} |"
        )
    return lines


def _targets(regrets: dict, problems: list) -> list[str]:
    anchors = [a for a in ANCHORS if any(k[0] == a for k in regrets)]
    if (OURS, problems[0].name) not in regrets or not anchors:
        return []
    lines, failed = ["Targets:"], []
    for p in problems:
        ours = regrets[(OURS, p.name)]
        for stat in (np.mean, np.median):
            best = min(anchors, key=lambda a, s=stat: s(regrets[(a, p.name)]))
            if stat(ours) > stat(regrets[(best, p.name)]):
                failed.append(
                    f"{p.name} {stat.__name__} {_g(stat(ours))} > {best} "
                    f"{_g(stat(regrets[(best, p.name)]))}"
                )
    lines.append(
        f"- Mean and median at most the best anchor's on every problem: "
        f"{'met' if not failed else 'not met: ' + '; '.join(failed)}."
    )
    if "random" in anchors:
        lines += _average_target(regrets, problems, anchors)
        worse = [
            f"{p.name} (worst {_g(max(regrets[(OURS, p.name)]))} > "
            f"{_g(_scale(regrets, p.name))})"
            for p in problems
            if max(regrets[(OURS, p.name)]) > _scale(regrets, p.name)
        ]
        lines.append(
            "- No seed worse than random search's median seed: "
            f"{'met' if not worse else 'not met: ' + ', '.join(worse)}."
        )
    if (BATCH, problems[0].name) in regrets:
        lines.append(_batch_target(regrets, problems))
    return lines


def _average_target(regrets: dict, problems: list, anchors: list[str]) -> list[str]:
    lines = []
    for stat in (np.mean, np.median):

        def average(method: str, stat=stat) -> float:
            return float(
                np.mean(
                    [
                        stat(regrets[(method, p.name)]) / _scale(regrets, p.name)
                        for p in problems
                    ]
                )
            )

        best = min(anchors, key=average)
        ratio = average(OURS) / average(best)
        lines.append(
            f"- Averaged relative {stat.__name__} regret at most half the best "
            f"anchor's: ours {average(OURS):.3f}, {best} {average(best):.3f}, ratio "
            f"{ratio:.2f} ({'met' if ratio <= 0.5 else 'not met'})."
        )
    return lines


def _batch_target(regrets: dict, problems: list) -> str:
    outside = []
    for p in problems:
        sequential, batch = regrets[(OURS, p.name)], regrets[(BATCH, p.name)]
        limit = np.mean(sequential) + np.std(sequential)
        if np.mean(batch) > limit:
            outside.append(f"{p.name} ({_g(np.mean(batch))} > {_g(limit)})")
    return (
        "- Batches of 4: mean regret within the sequential mean + one standard "
        "deviation over seeds: "
        + ("met on every problem." if not outside else "not met: " + ", ".join(outside))
    )


def write_results(path: Path, lines: list[str]) -> None:
    """Puts `lines` between the markers of RESULTS.md's section (added if absent)."""
    text = path.read_text()
    block = "\n".join([BEGIN, *lines, END])
    if BEGIN in text:
        pattern = re.escape(BEGIN) + ".*?" + re.escape(END)
        text = re.sub(pattern, lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{TITLE}\n\n{block}\n"
    path.write_text(text)

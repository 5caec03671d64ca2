"""The Pareto plot: each trial by two objectives, the front drawn as a staircase.

`SearchResults.plot(kind="pareto")` and `keras-hparams plot --kind pareto` draw it.
With three objectives or more, one panel per pair. matplotlib is optional and
imported by the call that draws.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from keras_hparams.objective import SCALE_MEASURES
from keras_hparams.trial import COMPLETED, INFEASIBLE, Trial

KIND = "pareto"
_POINT = "tab:blue"
_FRONT = "tab:orange"
_INFEASIBLE = "tab:red"
_PANEL = (5.0, 3.8)  # inches per panel


def plot(results: Any, path: str | os.PathLike | None = None) -> Any:
    """Draws the Pareto plot of `results`; writes a PNG file at `path` if given.

    Args:
        results: a `SearchResults` (a `kh.Tuner` or a search opened by `kh.load`).
        path: str or path of the PNG file to write. Defaults to `None`.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    from keras_hparams.plots import _matplotlib

    objectives = results.objectives
    if not objectives.multi:
        raise ValueError(
            "plot(kind='pareto') draws the trade-off between objectives, and this "
            f"search has one: {objectives.describe()}. Pass Tuner(objective=[...]) "
            "a list of objectives, or plot another kind."
        )
    trials = results.trials
    front = objectives.front(trials)
    if not front:
        raise ValueError(
            f"Nothing to plot: the search in {results.project_directory} has no "
            f"completed trial yet ({len(trials)} trials)."
        )
    pairs = list(itertools.combinations(range(len(objectives.objectives)), 2))
    figure_class = _matplotlib()
    figure = figure_class(
        figsize=(_PANEL[0] * min(3, len(pairs)), _PANEL[1] * -(-len(pairs) // 3)),
        layout="constrained",
    )
    for index, pair in enumerate(pairs):
        ax = figure.add_subplot(-(-len(pairs) // 3), min(3, len(pairs)), index + 1)
        _draw_pair(ax, objectives, trials, pair, index == 0)
    completed = sum(t.status == COMPLETED for t in trials)
    figure.suptitle(
        f"{results.project_directory.name}: Pareto front of {len(front)} trials "
        f"({completed} completed of {len(trials)})",
        fontweight="bold",
    )
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100, format="png")
    return figure


class FirstObjective:
    """A search with several objectives seen by its first one alone, for the
    other plots: its best trial is the first objective's best on the front."""

    def __init__(self, results: Any) -> None:
        self.project_directory = results.project_directory
        self.objective = results.objective
        self.space = results.space
        self.trials = results.trials
        self._front = results.objectives.front(self.trials)
        ranked = self.ranked_trials()
        self.best_trial = ranked[0] if ranked else None

    def ranked_trials(self, trials: list[Trial] | None = None) -> list[Trial]:
        """The front's trials by the first objective, best first (the plots mark
        the first as best), then the other completed trials by it."""
        trials = self.trials if trials is None else trials
        front = {t.id for t in self._front}
        ranked = self.objective.ranked(trials)
        return [t for t in ranked if t.id in front] + [
            t for t in ranked if t.id not in front
        ]


def _draw_pair(ax, objectives, trials: list[Trial], pair: tuple, legend: bool) -> None:
    """Trials by objectives `pair`: the front of these two as a staircase."""
    first, second = (objectives.objectives[i] for i in pair)
    points = _points(objectives, trials, pair, COMPLETED)
    infeasible = _points(objectives, trials, pair, INFEASIBLE)
    front = _front_of(points, first, second)
    ax.plot(*_xy(points), "o", color=_POINT, alpha=0.5, label="trial")
    if infeasible:
        ax.plot(*_xy(infeasible), "x", color=_INFEASIBLE, label="infeasible")
    # The edge of what the front dominates, from one point to the next by x.
    where = "post" if first.direction == "min" else "pre"
    ax.step(*_xy(front), "o-", where=where, color=_FRONT, label="front", lw=2)
    for x, y, trial in front:
        ax.annotate(str(trial.id), (x, y), textcoords="offset points", xytext=(4, 4))
    for objective, set_scale, set_label in (
        (first, ax.set_xscale, ax.set_xlabel),
        (second, ax.set_yscale, ax.set_ylabel),
    ):
        if objective.measure in SCALE_MEASURES:
            set_scale("log")
        arrow = "lower" if objective.direction == "min" else "higher"
        set_label(f"{objective.name} ({arrow} is better)")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")


def _points(objectives, trials, pair, status) -> list[tuple[float, float, Trial]]:
    found = []
    for trial in trials:
        recorded = trial.extra.get("objectives", {})
        names = [objectives.names[i] for i in pair]
        if trial.status == status and all(n in recorded for n in names):
            found.append((recorded[names[0]], recorded[names[1]], trial))
    return found


def _front_of(points, first, second) -> list[tuple[float, float, Trial]]:
    """The points on the front of these two objectives, by x."""
    from keras_hparams import pareto

    losses = [(first.sign * x, second.sign * y) for x, y, _ in points]
    on_front = [points[i] for i in pareto.front(losses)] if points else []
    return sorted(on_front, key=lambda p: (p[0], second.sign * p[1]))


def _xy(points) -> tuple[list[float], list[float]]:
    return [p[0] for p in points], [p[1] for p in points]

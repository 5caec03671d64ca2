"""Plots of a search: convergence, score against each hyperparameter, and the
partial dependence of the objective on each hyperparameter.

matplotlib is optional: it is imported by the call that draws, which raises an
ImportError naming the extra to install when it is missing. Figures are made without
pyplot, so drawing many of them leaks no open figures.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from keras_hparams.space import Choice, Dimension, Int
from keras_hparams.trial import COMPLETED, FAILED, Trial

KINDS = ("all", "convergence", "hyperparameters", "partial_dependence")
_POINT = "tab:blue"
_BEST = "tab:orange"
_FAILED = "tab:red"
_PANEL = (4.2, 2.9)  # inches per panel


def plot(results: Any, *, kind: str = "all", path: str | os.PathLike | None = None):
    """Draws `kind` (see `KINDS`) for `results`; writes a PNG file at `path` if given.

    Args:
        results: a `SearchResults` (a `kh.Tuner` or a search opened by `kh.load`).
        kind: str, one of `KINDS`. Defaults to `"all"`.
        path: str or path of the PNG file to write. Defaults to `None`.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    if kind not in KINDS:
        raise ValueError(f"plot(kind=...) expects one of {KINDS}. Received: {kind!r}.")
    figure_class = _matplotlib()
    trials = results.trials
    if not any(t.status == COMPLETED for t in trials):
        raise ValueError(
            f"Nothing to plot: the search in {results.project_directory} has no "
            f"completed trial yet ({len(trials)} trials)."
        )
    draw = {
        "all": _plot_all,
        "convergence": _plot_convergence,
        "hyperparameters": _plot_hyperparameters,
        "partial_dependence": _plot_partial_dependence,
    }[kind]
    figure = draw(figure_class, results, trials)
    figure.suptitle(_title(results, trials), fontweight="bold")
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100, format="png")
    return figure


# -- figures -------------------------------------------------------------------
def _plot_convergence(figure_class, results, trials):
    figure = figure_class(figsize=(7, 4), layout="constrained")
    _draw_convergence(figure.add_subplot(), trials, results.objective)
    return figure


def _plot_hyperparameters(figure_class, results, trials):
    from keras_hparams.algorithms import surrogate

    dimensions = surrogate.varying_dimensions(results.space)
    figure, axes = _grid(figure_class, len(dimensions))
    best = results.best_trial
    for i, (ax, dimension) in enumerate(zip(axes, dimensions, strict=False)):
        _draw_scores(ax, dimension, trials, best, results.objective.name, i == 0)
    _same_y(axes)
    return figure


def _plot_partial_dependence(figure_class, results, trials):
    from keras_hparams.algorithms import surrogate

    dependences = surrogate.partial_dependence(
        results.space, trials, results.objective.direction
    )
    figure, axes = _grid(figure_class, len(dependences))
    limits = _shared_limits(dependences)
    for ax, dependence in zip(axes, dependences, strict=False):
        _draw_dependence(ax, dependence, trials, results.objective.name, limits)
    return figure


def _plot_all(figure_class, results, trials):
    """Convergence on top, then a row per hyperparameter: trials | dependence."""
    from keras_hparams.algorithms import surrogate

    dimensions = surrogate.varying_dimensions(results.space)
    try:
        dependences = surrogate.partial_dependence(
            results.space, trials, results.objective.direction
        )
    except ValueError as error:  # too few trials: the other plots still help
        dependences, reason = [], str(error).split(". Received")[0] + "."
    figure = figure_class(
        figsize=(2 * _PANEL[0], _PANEL[1] * (1 + len(dimensions))),
        layout="constrained",
    )
    grid = figure.add_gridspec(1 + len(dimensions), 2)
    _draw_convergence(figure.add_subplot(grid[0, :]), trials, results.objective)
    best = results.best_trial
    name = results.objective.name
    limits = _shared_limits(dependences) if dependences else None
    score_axes = []
    for row, dimension in enumerate(dimensions, start=1):
        ax = figure.add_subplot(grid[row, 0])
        _draw_scores(ax, dimension, trials, best, name, row == 1)
        score_axes.append(ax)
        ax = figure.add_subplot(grid[row, 1])
        if dependences:
            _draw_dependence(ax, dependences[row - 1], trials, name, limits)
        else:
            _draw_message(ax, dimension, reason)
    _same_y(score_axes)
    return figure


# -- panels --------------------------------------------------------------------
def _draw_convergence(ax, trials: list[Trial], objective) -> None:
    completed = [t for t in trials if t.status == COMPLETED]
    ids = [t.id for t in completed]
    scores = [t.score for t in completed]
    best = (np.minimum if objective.direction == "min" else np.maximum).accumulate(
        scores
    )
    ax.plot(ids, scores, "o", color=_POINT, alpha=0.6, label="trial score")
    ax.step(ids, best, where="post", color=_BEST, lw=2, label="best so far")
    failed = [t.id for t in trials if t.status == FAILED]
    if failed:
        ax.plot(
            failed,
            np.zeros(len(failed)),
            "x",
            color=_FAILED,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label="failed",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.name)
    ax.set_title(f"Convergence: best {objective.name} so far ({objective.direction})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def _draw_scores(
    ax, dimension: Dimension, trials, best: Trial, name: str, legend: bool
) -> None:
    used = [t for t in trials if t.status == COMPLETED and dimension.name in t.params]
    x = np.asarray([_position(dimension, t.params[dimension.name]) for t in used])
    spacing = _spacing(dimension)
    if spacing:  # spread trials with equal values apart a little
        x = x + spacing * np.random.default_rng(0).uniform(-0.12, 0.12, len(x))
    ax.plot(x, [t.score for t in used], "o", color=_POINT, alpha=0.6, label="trial")
    if dimension.name in best.params:
        ax.plot(
            _position(dimension, best.params[dimension.name]),
            best.score,
            "*",
            color=_BEST,
            ms=14,
            mec="black",
            label=f"best (trial {best.id})",
        )
    ax.set_ylabel(name)
    ax.set_title(f"{name} against {dimension.name}", fontsize="medium")
    if legend:
        ax.legend(loc="best", fontsize="small")
    _format_x(ax, dimension)


def _draw_dependence(ax, dependence, trials, name: str, limits) -> None:
    dimension = dependence.dimension
    x = [_position(dimension, v) for v in dependence.values]
    style = "o" if isinstance(dimension, Choice) else "-"
    ax.plot(x, dependence.objective, style, color=_BEST, lw=2, ms=8)
    # Where the trials were: the model is only trustworthy near them.
    tried = [
        _position(dimension, t.params[dimension.name])
        for t in trials
        if t.status == COMPLETED and dimension.name in t.params
    ]
    ax.plot(
        tried,
        np.zeros(len(tried)),
        "|",
        color="gray",
        ms=10,
        transform=ax.get_xaxis_transform(),
    )
    ax.set_ylabel(f"predicted {name}")
    # One scale for every panel, so that a flat dependence looks flat.
    ax.set_ylim(*limits)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_title(f"Partial dependence on {dimension.name}", fontsize="medium")
    _format_x(ax, dimension)


def _draw_message(ax, dimension: Dimension, message: str) -> None:
    message = textwrap.fill(message, width=40)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize="small")
    ax.set_title(f"Partial dependence on {dimension.name}", fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])


def _format_x(ax, dimension: Dimension) -> None:
    """Labels the x axis with the hyperparameter's own values, range and scale."""
    ax.grid(alpha=0.3)
    ax.set_xlabel(dimension.name + (" (log scale)" if _is_log(dimension) else ""))
    if isinstance(dimension, Choice):
        labels = [str(v) for v in dimension.choices]
        ax.set_xticks(range(len(labels)), labels, rotation=_rotation(labels))
        ax.set_xlim(-0.5, len(labels) - 0.5)
        return
    # The whole range searched, so that one sees where the trials fell in it.
    low, high = dimension.low, dimension.high
    if dimension.log:
        ax.set_xscale("log")
        margin = (high / low) ** 0.03
        ax.set_xlim(low / margin, high * margin)
        return
    margin = max(0.03 * (high - low), 0.5 * _spacing(dimension))
    ax.set_xlim(low - margin, high + margin)
    if dimension.cardinality() <= 10:
        ax.set_xticks(dimension.values())
    elif isinstance(dimension, Int):
        ax.xaxis.get_major_locator().set_params(integer=True)


def _is_log(dimension: Dimension) -> bool:
    return not isinstance(dimension, Choice) and dimension.log


# -- helpers -------------------------------------------------------------------
def _matplotlib() -> type:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'Plots need matplotlib: pip install "keras-hparams[plot]"'
        ) from None
    return Figure


def _grid(figure_class, count: int):
    """A figure with `count` panels, three to a row, and its axes in order."""
    columns = max(1, min(3, count))
    rows = max(1, -(-count // columns))
    figure = figure_class(
        figsize=(_PANEL[0] * columns, _PANEL[1] * rows + 0.4), layout="constrained"
    )
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, list(axes[:count])


def _shared_limits(dependences) -> tuple[float, float]:
    low = min(float(np.min(d.objective)) for d in dependences)
    high = max(float(np.max(d.objective)) for d in dependences)
    margin = 0.08 * (high - low) or 0.01 * (abs(high) or 1.0)
    return low - margin, high + margin


def _same_y(axes) -> None:
    """One score scale for all `axes`, so that panels compare at a glance."""
    if axes:
        limits = [ax.get_ylim() for ax in axes]
        low, high = min(lo for lo, _ in limits), max(hi for _, hi in limits)
        for ax in axes:
            ax.set_ylim(low, high)


def _spacing(dimension: Dimension) -> float:
    """The distance between neighbouring values of a discrete dimension, else 0."""
    if isinstance(dimension, Choice):
        return 1.0
    if dimension.step is not None:
        return float(dimension.step)
    if isinstance(dimension, Int) and not dimension.log:
        return 1.0 if dimension.cardinality() <= 20 else 0.0
    return 0.0


def _position(dimension: Dimension, value: Any) -> Any:
    """Where `value` goes on the x axis: a choice's index, else the value."""
    if isinstance(dimension, Choice):
        return dimension.index(value)
    return value


def _rotation(labels: list[str]) -> int:
    return 30 if sum(len(label) for label in labels) > 24 else 0


def _title(results: Any, trials: list[Trial]) -> str:
    completed = sum(t.status == COMPLETED for t in trials)
    return (
        f"{results.project_directory.name}: {completed} completed of "
        f"{len(trials)} trials, objective {results.objective.name} "
        f"({results.objective.direction})"
    )

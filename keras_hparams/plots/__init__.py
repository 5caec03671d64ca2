"""Plots of a search: convergence, learning curves, the score against each
hyperparameter, partial dependence, importance and a 2-D view.

matplotlib is optional: it is imported by the call that draws, which raises an
ImportError naming the extra to install when it is missing. Figures are made without
pyplot, so drawing many of them leaks no open figures; a notebook displays the
returned figure.

The objective's axes are set by the bulk of the scores: a far outlier (a diverged
trial) is marked at the edge of the panel with its value, and clipped to the nearest
inlier before any model is fitted, so that it rules neither the range nor the
models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from keras_hparams.plots._scale import YSCALES
from keras_hparams.trial import COMPLETED

KINDS = (
    "all",
    "convergence",
    "learning_curves",
    "hyperparameters",
    "partial_dependence",
    "importance",
    "contour",
)
FORMATS = ("png", "svg", "pdf")

__all__ = ["FORMATS", "KINDS", "YSCALES", "plot"]


def plot(
    results: Any,
    *,
    kind: str = "all",
    path: str | os.PathLike | None = None,
    yscale: str = "auto",
):
    """Draws `kind` (see `KINDS`) for `results`; writes it at `path` if given.

    Args:
        results: a `SearchResults` (a `kh.Tuner` or a search opened by `kh.load`).
        kind: str, one of `KINDS`. Defaults to `"all"`.
        path: str or path of the file to write; its suffix picks the format, one of
            `FORMATS`. Defaults to `None`.
        yscale: str, one of `YSCALES`. Defaults to `"auto"`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: a wrong argument, no completed trial, or (for `kind` other than
            `"all"`) too few trials for the model the kind draws.
    """
    if kind not in KINDS:
        raise ValueError(f"plot(kind=...) expects one of {KINDS}. Received: {kind!r}.")
    if yscale not in YSCALES:
        raise ValueError(
            f"plot(yscale=...) expects one of {YSCALES}. Received: {yscale!r}."
        )
    file_format = None if path is None else file_format_of(path)
    figure_class = _matplotlib()
    from keras_hparams.plots import _figures
    from keras_hparams.plots._context import Context

    trials = results.trials
    if not any(t.status == COMPLETED for t in trials):
        raise ValueError(
            f"Nothing to plot: the search in {results.project_directory} has no "
            f"completed trial yet ({len(trials)} trials)."
        )
    context = Context(results, trials, yscale)
    figure = _figures.DRAW[kind](figure_class, context)
    figure.suptitle(_title(results, trials), fontweight="bold")
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100, format=file_format)
    return figure


def file_format_of(path: str | os.PathLike) -> str:
    """The image format `path`'s suffix names, one of `FORMATS`.

    Raises:
        ValueError: another suffix, or none.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        accepted = ", ".join(f".{f}" for f in FORMATS)
        raise ValueError(
            f"plot(path=...) writes a file whose suffix names its format: one of "
            f"{accepted}. Received: path={str(path)!r}."
        )
    return suffix


def _matplotlib() -> type:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'Plots need matplotlib: pip install "keras-hparams[plot]"'
        ) from None
    return Figure


def _title(results: Any, trials: list) -> str:
    completed = sum(t.status == COMPLETED for t in trials)
    objective = results.objective
    return (
        f"{results.project_directory.name}: {completed} completed of "
        f"{len(trials)} trials, objective {objective.name} ({objective.direction})"
    )

"""Panels drawn from models fitted on the trials: partial dependence with its
uncertainty, hyperparameter importance, and the objective over the two most
important hyperparameters."""

from __future__ import annotations

import textwrap

import numpy as np

from keras_hparams.plots._context import sentence
from keras_hparams.plots._panels import BEST, POINT, draw_message, format_x, position
from keras_hparams.plots._scale import plain_ticks
from keras_hparams.progress import format_value
from keras_hparams.space import Choice

_BAND = 0.25  # opacity of the uncertainty band


def dependence_title(name: str) -> str:
    return f"Partial dependence on {name}"


def draw_dependence(ax, dependence, context, limits) -> None:
    """The predicted objective as one hyperparameter varies, plus and minus the
    model's standard deviation; or a sentence when the model cannot tell."""
    dimension = dependence.dimension
    title = dependence_title(dimension.name)
    if not dependence.informative:
        draw_message(ax, title, _no_effect(dependence, context.log))
        return
    x = [position(dimension, v) for v in dependence.values]
    mean, lower, upper = dependence.objective, dependence.lower, dependence.upper
    if isinstance(dimension, Choice):
        ax.errorbar(
            x,
            mean,
            yerr=[mean - lower, upper - mean],
            fmt="o",
            color=BEST,
            ms=8,
            capsize=4,
            label="predicted ± 1 std",
        )
    else:
        ax.fill_between(x, lower, upper, color=BEST, alpha=_BAND, lw=0, label="± 1 std")
        ax.plot(x, mean, "-", color=BEST, lw=2, label="predicted")
    _rug(ax, dimension, context.completed)
    ax.set_yscale("log" if context.log else "linear")
    ax.set_ylim(*limits)  # one scale for every panel: a flat effect looks flat
    plain_ticks(ax.yaxis, context.log)
    ax.set_ylabel(f"predicted {context.objective.name}")
    ax.set_title(title, fontsize="medium")
    format_x(ax, dimension)


def _rug(ax, dimension, completed) -> None:
    """Ticks at the bottom where the trials were: the model knows most there."""
    tried = [
        position(dimension, t.params[dimension.name])
        for t in completed
        if dimension.name in t.params
    ]
    ax.plot(
        tried,
        np.zeros(len(tried)),
        "|",
        color="gray",
        ms=10,
        transform=ax.get_xaxis_transform(),
    )


def dependence_limits(dependences, log: bool) -> tuple[float, float]:
    """One y range for the dependence panels: the predictions, and a typical band."""
    shown = [d for d in dependences if d.informative] or dependences
    scale = np.log10 if log else (lambda v: np.asarray(v, dtype=float))
    low = min(float(np.min(scale(d.objective))) for d in shown)
    high = max(float(np.max(scale(d.objective))) for d in shown)
    band = float(np.median([np.median(scale(d.upper) - scale(d.lower)) for d in shown]))
    margin = max(0.6 * band, 0.08 * (high - low)) or 0.01 * (abs(high) or 1.0)
    low, high = low - margin, high + margin
    return (10.0**low, 10.0**high) if log else (low, high)


def draw_importance(ax, context) -> None:
    """One bar per hyperparameter, most important on top, the method below."""
    title = "Hyperparameter importance"
    found = context.importance
    if isinstance(found, ValueError):
        draw_message(ax, title, sentence(found))
        return
    names = list(found.values)[::-1]
    shares = [found.values[n] for n in names]
    spreads = [found.spread[n] for n in names]
    ax.barh(names, shares, xerr=spreads, color=POINT, alpha=0.8, capsize=3)
    widest = max(s + e for s, e in zip(shares, spreads, strict=True))
    ax.set_xlim(0, min(1.0, 1.05 * widest) or 1.0)
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(textwrap.fill(found.method, width=60), fontsize="small")
    ax.grid(alpha=0.3, axis="x")


def draw_contour(ax, context, figure) -> None:
    """The predicted objective over the two most important hyperparameters, with
    the trials on top in the same colours."""
    reason = contour_unavailable(context)
    if reason:
        draw_message(ax, "Two most important hyperparameters", sentence(reason))
        return
    names = list(context.importance.values)[:2]
    grid = context.surrogate.interaction(*names)
    dimensions = grid.dimensions
    x, y = (
        [position(d, v) for v in values]
        for d, values in zip(dimensions, grid.values, strict=True)
    )
    norm, colormap = _norm(context), _colormap(context)
    mesh = ax.pcolormesh(
        x, y, grid.objective, shading="nearest", norm=norm, cmap=colormap
    )
    used = [t for t in context.completed if all(n in t.params for n in names)]
    if used:
        points = [[position(d, t.params[d.name]) for t in used] for d in dimensions]
        scores = np.clip([t.score for t in used], context.axis.low, context.axis.high)
        ax.scatter(
            *points,
            c=scores,
            norm=norm,
            cmap=colormap,
            edgecolors="white",
            s=40,
            zorder=3,
        )
    best = context.best
    if all(n in best.params for n in names):
        ax.plot(
            *[position(d, best.params[d.name]) for d in dimensions],
            "*",
            color=BEST,
            mec="black",
            ms=16,
            zorder=4,
            label=f"best (trial {best.id})",
        )
        ax.legend(loc="best", fontsize="small")
    bar = figure.colorbar(mesh, ax=ax, label=f"predicted {context.objective.name}")
    plain_ticks(bar.ax.yaxis, context.log)
    format_x(ax, dimensions[0], "x")
    format_x(ax, dimensions[1], "y")
    ax.set_title(
        "Predicted objective, two most important hyperparameters", fontsize="medium"
    )


def contour_unavailable(context) -> ValueError | None:
    """Why the 2-D view cannot be drawn, or None."""
    if len(context.dimensions) < 2:
        return ValueError(
            "A 2-D view needs two hyperparameters with more than one value. "
            f"Received: {[d.name for d in context.dimensions]}."
        )
    for model in (context.importance, context.surrogate):
        if isinstance(model, ValueError):
            return model
    return None


def _norm(context):
    from matplotlib.colors import LogNorm, Normalize

    if context.log:
        return LogNorm(context.axis.low, context.axis.high)
    return Normalize(context.axis.low, context.axis.high)


def _colormap(context) -> str:
    # The better end is bright whichever the direction.
    return "viridis_r" if context.objective.direction == "min" else "viridis"


def _no_effect(dependence, log: bool) -> str:
    units = " (in log10 units)" if log else ""
    limit = max(dependence.uncertainty, dependence.noise)
    what = (
        "its uncertainty"
        if dependence.uncertainty >= dependence.noise
        else "the noise between trials"
    )
    return (
        f"No visible effect: the model's prediction varies by "
        f"{format_value(dependence.change)} over {dependence.dimension.name}, less "
        f"than {what} (± {format_value(limit)}){units}. More trials may tell."
    )

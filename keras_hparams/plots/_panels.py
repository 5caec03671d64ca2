"""Panels drawn from the trials themselves: convergence, learning curves, and the
score against one hyperparameter; and the axis conventions every panel shares."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from keras_hparams.space import Choice, Dimension, Int
from keras_hparams.trial import COMPLETED, FAILED, PRUNED, RUNNING, TIMED_OUT

POINT = "tab:blue"
BEST = "tab:orange"
FAILED_COLOR = "tab:red"
# How each status's learning curve is drawn: colour, line style, end marker.
_CURVES = {
    COMPLETED: ("tab:blue", "-", None),
    PRUNED: ("tab:gray", "--", "x"),
    TIMED_OUT: ("tab:purple", ":", "x"),
    FAILED: ("tab:red", "-", "X"),
    RUNNING: ("tab:green", "-", ">"),
}
_LABELS = {TIMED_OUT: "timed out"}


def draw_convergence(ax, context) -> None:
    """Each completed trial's score and the best score so far, by trial number."""
    completed, objective = context.completed, context.objective
    ids = [t.id for t in completed]
    scores = [t.score for t in completed]
    better = np.minimum if objective.direction == "min" else np.maximum
    ax.plot(ids, scores, "o", color=POINT, alpha=0.6, label="trial score")
    ax.step(
        ids,
        better.accumulate(scores),
        where="post",
        color=BEST,
        lw=2,
        label="best so far",
    )
    context.axis.apply(ax)
    context.axis.mark_outside(ax, ids, scores, ids, in_legend=True)
    failed = [t.id for t in context.trials if t.status == FAILED]
    if failed:
        ax.plot(
            failed,
            np.zeros(len(failed)),
            "x",
            color=FAILED_COLOR,
            ms=8,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label="failed",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.name)
    ax.set_title(f"Convergence ({objective.name}, {objective.direction})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    _legend(ax)


def draw_learning_curves(ax, context) -> None:
    """The objective at each epoch of every trial; the best trial stands out, and
    stopped trials end in a cross."""
    name = context.objective.name
    curves = {
        t.id: (t, [logs.get(name, np.nan) for logs in t.history])
        for t in context.trials
        if any(name in logs for logs in t.history)
    }
    # The range of the later epochs and of the scores, where trials differ: the
    # first epochs, high for every trial, leave the panel at the top.
    late = [v for _, curve in curves.values() for v in curve[len(curve) // 2 :]]
    scores = [t.score for t in context.completed]
    axis = type(context.axis).fit(late + scores, context.axis.log)
    for trial, curve in curves.values():
        _draw_curve(ax, trial, curve, best=trial.id == context.best.id)
    axis.apply(ax)
    ends = [len(curve) - 1 for _, curve in curves.values()]
    finals = [curve[-1] for _, curve in curves.values()]
    axis.mark_outside(ax, ends, finals, list(curves), in_legend=True)
    ax.set_xlabel("epoch (0 = first)")
    ax.set_ylabel(name)
    ax.set_title(f"Learning curves: {name} per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    _legend(ax)


def _draw_curve(ax, trial, curve: list[float], best: bool) -> None:
    """One trial's learning curve, styled by its status, ended by a cross if it
    stopped early; the best trial's best epoch gets a star."""
    color, style, marker = _CURVES.get(trial.status, _CURVES[RUNNING])
    label = f"best (trial {trial.id})" if best else _label(trial.status)
    look = (
        {"lw": 2.5, "alpha": 1.0, "zorder": 3}
        if best
        else {"lw": 1.0, "alpha": 0.55, "zorder": 2}
    )
    epochs = np.arange(len(curve))
    ax.plot(epochs, curve, style, color=BEST if best else color, label=label, **look)
    if marker:
        ax.plot(epochs[-1], curve[-1], marker, color=color, ms=7, zorder=3)
    if best and trial.best_epoch is not None:
        star = {"color": BEST, "mec": "black", "ms": 13, "zorder": 4}
        ax.plot(trial.best_epoch, curve[trial.best_epoch], "*", **star)


def draw_scores(ax, dimension: Dimension, context, legend: bool) -> None:
    """The score of each completed trial against one hyperparameter's value."""
    used = [t for t in context.completed if dimension.name in t.params]
    x = np.asarray([position(dimension, t.params[dimension.name]) for t in used])
    spacing = _spacing(dimension)
    if spacing:  # spread trials with equal values apart a little
        x = x + spacing * np.random.default_rng(0).uniform(-0.12, 0.12, len(x))
    scores = [t.score for t in used]
    ax.plot(x, scores, "o", color=POINT, alpha=0.6, label="trial")
    best = context.best
    if dimension.name in best.params:
        ax.plot(
            position(dimension, best.params[dimension.name]),
            best.score,
            "*",
            color=BEST,
            ms=14,
            mec="black",
            label=f"best (trial {best.id})",
        )
    context.axis.apply(ax)
    context.axis.mark_outside(ax, x, scores, [t.id for t in used], in_legend=legend)
    name = context.objective.name
    ax.set_ylabel(name)
    ax.set_title(f"{name} against {dimension.name}", fontsize="medium")
    if legend:
        _legend(ax)
    format_x(ax, dimension)


def draw_message(ax, title: str, message: str, width: int = 44) -> None:
    """A panel that says, in words, why it shows nothing."""
    ax.text(
        0.5,
        0.5,
        textwrap.fill(message, width=width),
        ha="center",
        va="center",
        fontsize="small",
        transform=ax.transAxes,
    )
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])


def format_x(ax, dimension: Dimension, axis: str = "x") -> None:
    """Labels an axis with the hyperparameter's own values, range and scale."""
    get = {"x": ax.xaxis, "y": ax.yaxis}[axis]
    set_scale, set_lim = getattr(ax, f"set_{axis}scale"), getattr(ax, f"set_{axis}lim")
    ax.grid(alpha=0.3)
    getattr(ax, f"set_{axis}label")(
        dimension.name + (" (log scale)" if is_log(dimension) else "")
    )
    if isinstance(dimension, Choice):
        labels = [str(v) for v in dimension.choices]
        rotation = _rotation(labels) if axis == "x" else 0
        getattr(ax, f"set_{axis}ticks")(range(len(labels)), labels, rotation=rotation)
        set_lim(-0.5, len(labels) - 0.5)
        return
    low, high = dimension.low, dimension.high  # the whole range searched
    if dimension.log:
        set_scale("log")
        margin = (high / low) ** 0.03
        set_lim(low / margin, high * margin)
        return
    margin = max(0.03 * (high - low), 0.5 * _spacing(dimension))
    set_lim(low - margin, high + margin)
    if dimension.cardinality() <= 10:
        getattr(ax, f"set_{axis}ticks")(dimension.values())
    elif isinstance(dimension, Int):
        get.get_major_locator().set_params(integer=True)


def is_log(dimension: Dimension) -> bool:
    return not isinstance(dimension, Choice) and dimension.log


def position(dimension: Dimension, value: Any) -> Any:
    """Where `value` goes on an axis: a choice's index, else the value."""
    if isinstance(dimension, Choice):
        return dimension.index(value)
    return value


def _spacing(dimension: Dimension) -> float:
    """The distance between neighbouring values of a discrete dimension, else 0."""
    if isinstance(dimension, Choice):
        return 1.0
    if dimension.step is not None:
        return float(dimension.step)
    if isinstance(dimension, Int) and not dimension.log:
        return 1.0 if dimension.cardinality() <= 20 else 0.0
    return 0.0


def _rotation(labels: list[str]) -> int:
    return 30 if sum(len(label) for label in labels) > 24 else 0


def _label(status: str) -> str:
    return _LABELS.get(status, status)


def _legend(ax) -> None:
    """A legend with one entry per label."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(
        unique.values(), unique.keys(), loc="best", fontsize="small", framealpha=0.7
    )

"""One figure per `kind` of plot, laid out from the panels.

A figure of one kind raises the ValueError that makes it impossible (too few trials
for a model, say); `"all"` writes the reason on the panel instead, and draws the
rest.
"""

from __future__ import annotations

from keras_hparams.plots import _models, _panels
from keras_hparams.plots._context import Context, sentence

PANEL = (4.2, 2.9)  # inches per panel


def convergence(figure_class, context: Context):
    figure = figure_class(figsize=(7, 4), layout="constrained")
    _panels.draw_convergence(figure.add_subplot(), context)
    return figure


def learning_curves(figure_class, context: Context):
    figure = figure_class(figsize=(7, 4), layout="constrained")
    _panels.draw_learning_curves(figure.add_subplot(), context)
    return figure


def hyperparameters(figure_class, context: Context):
    dimensions = context.dimensions
    figure, axes = _grid(figure_class, len(dimensions))
    for i, (ax, dimension) in enumerate(zip(axes, dimensions, strict=True)):
        _panels.draw_scores(ax, dimension, context, legend=i == 0)
    return figure


def partial_dependence(figure_class, context: Context):
    if isinstance(context.dependences, ValueError):
        raise context.dependences
    dependences = context.dependences
    figure, axes = _grid(figure_class, len(dependences))
    limits = _models.dependence_limits(dependences, context.log)
    for ax, dependence in zip(axes, dependences, strict=True):
        _models.draw_dependence(ax, dependence, context, limits)
    return figure


def importance(figure_class, context: Context):
    if isinstance(context.importance, ValueError):
        raise context.importance
    height = max(3.0, 0.45 * len(context.dimensions) + 1.6)
    figure = figure_class(figsize=(7, height), layout="constrained")
    _models.draw_importance(figure.add_subplot(), context)
    return figure


def contour(figure_class, context: Context):
    reason = _models.contour_unavailable(context)
    if reason:
        raise reason
    figure = figure_class(figsize=(7, 5.5), layout="constrained")
    _models.draw_contour(figure.add_subplot(), context, figure)
    return figure


def everything(figure_class, context: Context):
    """Convergence and learning curves; importance and the 2-D view; then a row
    per hyperparameter, most important first: its trials and its partial
    dependence. Without the models (too few trials), one panel says why, and the
    hyperparameters' panels go two to a row."""
    dimensions = context.ranked_dimensions()
    dependences = context.dependences
    modelled = not isinstance(dependences, ValueError)
    rows = 2 + (len(dimensions) if modelled else -(-len(dimensions) // 2))
    figure = figure_class(figsize=(2 * PANEL[0], PANEL[1] * rows), layout="constrained")
    grid = figure.add_gridspec(rows, 2)
    _panels.draw_convergence(figure.add_subplot(grid[0, 0]), context)
    _panels.draw_learning_curves(figure.add_subplot(grid[0, 1]), context)
    if modelled or not isinstance(context.importance, ValueError):
        _models.draw_importance(figure.add_subplot(grid[1, 0]), context)
        _models.draw_contour(figure.add_subplot(grid[1, 1]), context, figure)
    else:
        reasons = [sentence(context.importance), sentence(dependences)]
        _panels.draw_message(
            figure.add_subplot(grid[1, :]),
            "Importance, 2-D view and partial dependence",
            " ".join(reasons) + " More trials will show them.",
            width=90,
        )
    if not modelled:
        for i, dimension in enumerate(dimensions):
            ax = figure.add_subplot(grid[2 + i // 2, i % 2])
            _panels.draw_scores(ax, dimension, context, legend=i == 0)
        return figure
    by_name = {d.dimension.name: d for d in dependences}
    limits = _models.dependence_limits(dependences, context.log)
    for row, dimension in enumerate(dimensions, start=2):
        ax = figure.add_subplot(grid[row, 0])
        _panels.draw_scores(ax, dimension, context, legend=row == 2)
        ax = figure.add_subplot(grid[row, 1])
        _models.draw_dependence(ax, by_name[dimension.name], context, limits)
    return figure


DRAW = {
    "all": everything,
    "convergence": convergence,
    "learning_curves": learning_curves,
    "hyperparameters": hyperparameters,
    "partial_dependence": partial_dependence,
    "importance": importance,
    "contour": contour,
}


def _grid(figure_class, count: int):
    """A figure with `count` panels, three to a row, and its axes in order."""
    columns = max(1, min(3, count))
    rows = max(1, -(-count // columns))
    figure = figure_class(
        figsize=(PANEL[0] * columns, PANEL[1] * rows + 0.4), layout="constrained"
    )
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, list(axes[:count])

"""A surrogate model of the objective fitted on finished trials, for plots.

The partial dependence of the objective on one hyperparameter is the surrogate's
prediction as that hyperparameter varies, averaged over random values of the others
(scikit-optimize's `plot_objective` draws the same thing on its diagonal). The model
is scikit-optimize's Gaussian process, fitted as `BayesianOptimization` fits it.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams.algorithms._skopt import to_point, to_skopt
from keras_hparams.algorithms.base import Algorithm
from keras_hparams.space import Choice, Dimension, Int, SearchSpace
from keras_hparams.trial import Trial

MIN_TRIALS = 3


@dataclasses.dataclass
class Dependence:
    """The partial dependence of the objective on one hyperparameter.

    Attributes:
        dimension: the hyperparameter's `Dimension`.
        values: list, where it was evaluated, in the hyperparameter's own values
            (grid values for a stepped range, the choices for a `Choice`).
        objective: numpy array, the predicted objective at each value, averaged over
            the other hyperparameters (in the objective's units and sign).
    """

    dimension: Dimension
    values: list[Any]
    objective: np.ndarray


def varying_dimensions(space: SearchSpace) -> list[Dimension]:
    """The dimensions a surrogate models: searchable, with more than one value."""
    return [d for d in space.searchable() if d.cardinality() > 1]


def partial_dependence(
    space: SearchSpace,
    trials: Sequence[Trial],
    direction: str,
    *,
    n_points: int = 40,
    n_samples: int = 250,
    seed: int = 0,
) -> list[Dependence]:
    """The partial dependence of the objective on each varying dimension.

    Args:
        space: the search space.
        trials: the trials; the completed ones with a finite score are used.
        direction: `"min"` or `"max"`, the objective's direction.
        n_points: int, the most values evaluated per dimension. Defaults to `40`.
        n_samples: int, random points the other dimensions are averaged over.
            Defaults to `250`.
        seed: int, for the random points and the model fit. Defaults to `0`.

    Raises:
        ValueError: fewer than `MIN_TRIALS` completed trials, or no varying dimension.
    """
    from skopt.space import Space
    from skopt.utils import cook_estimator, normalize_dimensions

    dimensions = varying_dimensions(space)
    completed = Algorithm.completed(trials)
    if len(completed) < MIN_TRIALS:
        raise ValueError(
            f"Partial dependence needs at least {MIN_TRIALS} completed trials. "
            f"Received: {len(completed)} completed trials."
        )
    if not dimensions:
        raise ValueError(
            "Partial dependence needs a hyperparameter with more than one value. "
            f"Received: {space!r}."
        )
    skopt_space = Space(normalize_dimensions([to_skopt(d) for d in dimensions]))
    model = cook_estimator("GP", space=skopt_space, random_state=seed)
    points = [to_point(dimensions, space.complete(t.params)) for t in completed]
    sign = 1.0 if direction == "min" else -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kernel bounds reached on tiny histories
        model.fit(skopt_space.transform(points), [sign * t.score for t in completed])
    samples = skopt_space.transform(
        skopt_space.rvs(n_samples=n_samples, random_state=seed)
    )
    starts = np.cumsum([0] + [d.transformed_size for d in skopt_space.dimensions])
    dependences = []
    for i, dimension in enumerate(dimensions):
        values, points = _evaluation_points(dimension, n_points)
        transformed = np.reshape(
            skopt_space.dimensions[i].transform(points), (len(points), -1)
        )
        means = []
        for row in transformed:
            grid = np.array(samples)
            grid[:, starts[i] : starts[i + 1]] = row
            means.append(float(np.mean(model.predict(grid))))
        dependences.append(Dependence(dimension, values, sign * np.asarray(means)))
    return dependences


def _evaluation_points(dimension: Dimension, n_points: int) -> tuple[list, list]:
    """Values of `dimension` to evaluate, and the same as scikit-optimize points."""
    if isinstance(dimension, Choice):
        values = list(dimension.choices)
        return values, _to_column(dimension, values)
    if dimension.step is not None or isinstance(dimension, Int):
        count = int(dimension.cardinality())
        if count <= n_points:
            values = dimension.values()
        else:
            spacing = np.geomspace if dimension.log else np.linspace
            grid = spacing(dimension.low, dimension.high, n_points)
            values = sorted({_nearest(dimension, v) for v in grid})
        return values, _to_column(dimension, values)
    spacing = np.geomspace if dimension.log else np.linspace
    values = [float(v) for v in spacing(dimension.low, dimension.high, n_points)]
    return values, values


def _nearest(dimension: Dimension, value: float) -> Any:
    if dimension.step is None:
        return int(round(value))
    return dimension.from_index(dimension.to_index(value))


def _to_column(dimension: Dimension, values: list[Any]) -> list[Any]:
    return [to_point([dimension], {dimension.name: v})[0] for v in values]

"""A surrogate model of the objective fitted on finished trials, for plots.

The partial dependence of the objective on one hyperparameter is the surrogate's
prediction as that hyperparameter varies, averaged over the values the completed
trials gave the others (Friedman's definition, scikit-learn's "brute" method): near
the trials, where the model knows most. The model is scikit-optimize's Gaussian
process, fitted as `BayesianOptimization` fits it, on scores whose far outliers (a
diverged trial) are clipped to the nearest inlier, and on their logarithm for an
objective plotted on a log scale. It needs more completed trials than there are
hyperparameters to model, and at least `MIN_TRIALS`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams import outliers
from keras_hparams.algorithms._skopt import to_point, to_skopt
from keras_hparams.algorithms.base import Algorithm
from keras_hparams.space import Choice, Dimension, Int, SearchSpace
from keras_hparams.trial import Trial

MIN_TRIALS = 5


@dataclasses.dataclass
class Dependence:
    """The partial dependence of the objective on one hyperparameter.

    Attributes:
        dimension: the hyperparameter's `Dimension`.
        values: list, where it was evaluated, in the hyperparameter's own values
            (grid values for a stepped range, the choices for a `Choice`).
        objective: numpy array, the predicted objective at each value, averaged over
            the trials' values of the other hyperparameters (in the objective's
            units and sign).
        lower, upper: numpy arrays, the prediction minus and plus the model's
            standard deviation (averaged likewise), in the objective's units.
        change: float, how much the prediction varies over `values`, in the model's
            units (those of the objective, or its log10 for a log-scale model).
        uncertainty: float, the model's standard deviation, averaged over
            `values`, in the same units.
        noise: float, the standard deviation of the noise between trials that the
            model estimated, in the same units.
    """

    dimension: Dimension
    values: list[Any]
    objective: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    change: float
    uncertainty: float
    noise: float

    @property
    def informative(self) -> bool:
        """Whether the predicted change is larger than both the model's uncertainty
        and the noise between trials: otherwise its shape says nothing."""
        return self.change > max(self.uncertainty, self.noise)


@dataclasses.dataclass
class Interaction:
    """The predicted objective over a grid of two hyperparameters.

    Attributes:
        dimensions: the two `Dimension`s (x, then y).
        values: two lists, the values of each where the grid was evaluated.
        objective: 2-D numpy array, `objective[j, i]` at `values[0][i]`,
            `values[1][j]`, averaged over the trials' values of the others.
    """

    dimensions: tuple[Dimension, Dimension]
    values: tuple[list[Any], list[Any]]
    objective: np.ndarray


def varying_dimensions(space: SearchSpace) -> list[Dimension]:
    """The dimensions a surrogate models: searchable, with more than one value."""
    return [d for d in space.searchable() if d.cardinality() > 1]


class Surrogate:
    """scikit-optimize's Gaussian process fitted on the completed trials.

    Args:
        space: the search space.
        trials: the trials; the completed ones with a finite score are used.
        direction: `"min"` or `"max"`, the objective's direction.
        log: bool, model the log10 of the scores (all must be positive). Defaults
            to `False`.
        seed: int, for the model fit. Defaults to `0`.

    Raises:
        ValueError: too few completed trials, or no varying dimension.
    """

    def __init__(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        direction: str,
        *,
        log: bool = False,
        seed: int = 0,
    ) -> None:
        from skopt.space import Space
        from skopt.utils import cook_estimator, normalize_dimensions

        self.dimensions = varying_dimensions(space)
        completed = Algorithm.completed(trials)
        _check(self.dimensions, completed, space)
        self.log = log
        self.sign = 1.0 if direction == "min" else -1.0
        self.space = Space(normalize_dimensions([to_skopt(d) for d in self.dimensions]))
        self.model = cook_estimator("GP", space=self.space, random_state=seed)
        points = [
            to_point(self.dimensions, space.complete(t.params)) for t in completed
        ]
        scores = outliers.clip([t.score for t in completed], log=log)
        targets = self.sign * (np.log10(scores) if log else scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kernel bounds reached on tiny histories
            self.model.fit(self.space.transform(points), targets)
        self.samples = np.asarray(self.space.transform(points))
        noise = self.model.noise_ or 0.0
        self.noise = float(np.sqrt(noise) * getattr(self.model, "_y_train_std", 1.0))
        self._starts = np.cumsum([0] + [d.transformed_size for d in self.space])

    def partial_dependence(self, *, n_points: int = 40) -> list[Dependence]:
        """The partial dependence of the objective on each varying dimension.

        Args:
            n_points: int, the most values evaluated per dimension. Defaults to `40`.
        """
        samples = self.samples
        dependences = []
        for i, dimension in enumerate(self.dimensions):
            values, columns = self._columns(i, n_points)
            grids = []
            for column in columns:
                grid = np.array(samples)
                self._set(grid, i, column)
                grids.append(grid)
            mean, std = self._predict(np.concatenate(grids))
            mean = mean.reshape(len(values), -1).mean(axis=1)
            std = std.reshape(len(values), -1).mean(axis=1)
            bounds = np.sort([self._units(mean - std), self._units(mean + std)], 0)
            dependences.append(
                Dependence(
                    dimension,
                    values,
                    self._units(mean),
                    *bounds,
                    change=float(np.ptp(mean)),
                    uncertainty=float(np.mean(std)),
                    noise=self.noise,
                )
            )
        return dependences

    def interaction(
        self, first: str, second: str, *, n_points: int = 25
    ) -> Interaction:
        """The predicted objective over a grid of the hyperparameters named
        `first` (x) and `second` (y), averaged over the other ones."""
        names = [d.name for d in self.dimensions]
        i, j = names.index(first), names.index(second)
        values_i, columns_i = self._columns(i, n_points)
        values_j, columns_j = self._columns(j, n_points)
        samples = self.samples
        grids = []
        for column_j in columns_j:
            for column_i in columns_i:
                grid = np.array(samples)
                self._set(grid, i, column_i)
                self._set(grid, j, column_j)
                grids.append(grid)
        mean, _ = self._predict(np.concatenate(grids))
        mean = mean.reshape(len(values_j), len(values_i), -1).mean(axis=2)
        return Interaction(
            (self.dimensions[i], self.dimensions[j]),
            (values_i, values_j),
            self._units(mean),
        )

    # -- helpers ---------------------------------------------------------------
    def _columns(self, i: int, n_points: int) -> tuple[list, np.ndarray]:
        """Values of dimension `i` and their transformed columns."""
        values, points = _evaluation_points(self.dimensions[i], n_points)
        columns = self.space.dimensions[i].transform(points)
        return values, np.reshape(columns, (len(points), -1))

    def _set(self, grid: np.ndarray, i: int, column: np.ndarray) -> None:
        grid[:, self._starts[i] : self._starts[i + 1]] = column

    def _predict(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.model.predict(grid, return_std=True)
        return self.sign * np.asarray(mean), np.asarray(std)

    def _units(self, values: np.ndarray) -> np.ndarray:
        """Model units (after the sign) to the objective's."""
        return 10.0**values if self.log else values


def partial_dependence(
    space: SearchSpace,
    trials: Sequence[Trial],
    direction: str,
    *,
    log: bool = False,
    n_points: int = 40,
    seed: int = 0,
) -> list[Dependence]:
    """The partial dependence of the objective on each varying dimension.

    Args:
        space: the search space.
        trials: the trials; the completed ones with a finite score are used.
        direction: `"min"` or `"max"`, the objective's direction.
        log: bool, fit the model on the log10 of the scores. Defaults to `False`.
        n_points: int, the most values evaluated per dimension. Defaults to `40`.
        seed: int, for the model fit. Defaults to `0`.

    Raises:
        ValueError: too few completed trials, or no varying dimension.
    """
    model = Surrogate(space, trials, direction, log=log, seed=seed)
    return model.partial_dependence(n_points=n_points)


def _check(dimensions: list[Dimension], completed: list[Trial], space) -> None:
    if not dimensions:
        raise ValueError(
            "Partial dependence needs a hyperparameter with more than one value. "
            f"Received: {space!r}."
        )
    needed = max(MIN_TRIALS, len(dimensions) + 1)
    if len(completed) < needed:
        raise ValueError(
            f"Partial dependence needs at least {needed} completed trials for "
            f"{len(dimensions)} hyperparameters (one more than there are, and at "
            f"least {MIN_TRIALS}). Received: {len(completed)} completed trials."
        )


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

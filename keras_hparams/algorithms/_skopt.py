"""The bridge to scikit-optimize: dimensions, points, the GBRT surrogate, designs.

Only this module and `bayesian.py` import scikit-optimize, and only inside functions, so
importing keras_hparams does not import it (scikit-learn, which Keras already imports,
is imported at the top).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.utils import check_random_state

from keras_hparams.dimension import value_kind
from keras_hparams.space import Choice, Dimension, Float, Int

INITIAL_POINT_GENERATORS = ("random", "sobol", "halton", "hammersly", "lhs", "grid")

# The quantiles skopt's GBRT surrogate predicts: mean = median, std = half the spread.
_QUANTILES = (0.16, 0.5, 0.84)


def to_skopt(dimension: Dimension) -> Any:
    """The scikit-optimize dimension for one of ours, keeping step and scale."""
    from skopt.space import Categorical, Integer, Real

    name = dimension.name
    if ordered(dimension):  # search the rank of the value, keep the order
        return Integer(0, len(dimension.choices) - 1, name=name)
    if isinstance(dimension, Choice):
        return Categorical(labels(dimension), name=name)
    if dimension.step is not None:  # a grid: search the index, keep the order
        return Integer(0, int(dimension.cardinality()) - 1, name=name)
    prior = "log-uniform" if dimension.log else "uniform"
    if isinstance(dimension, Int):
        return Integer(dimension.low, dimension.high, prior=prior, name=name)
    return Real(dimension.low, dimension.high, prior=prior, name=name)


def ordered(dimension: Dimension) -> bool:
    """Whether a Choice is searched as ordered numbers: all its values are ints or
    floats (not bools, no `None`), as a batch size of [16, 32, 64, 128, 256] is.

    Each value is then the rank of its number among the choices (an Int to
    scikit-optimize), so the surrogate learns that 64 lies between 32 and 128, as
    KerasTuner's Bayesian search does for its numeric choices. As categories, each
    value was an input of its own and a trial at 32 taught the model nothing about
    64 (on the benchmark's `conditional` problem, the batch size ended one step off
    its best in 24 of 30 searches as categories, in 7 of 30 in order).
    """
    return isinstance(dimension, Choice) and all(
        value_kind(v) in ("int", "float") for v in dimension.choices
    )


def _ranked(dimension: Choice) -> list[int]:
    """The indices of a Choice's values, from the least number to the greatest."""
    return sorted(range(len(dimension.choices)), key=dimension.choices.__getitem__)


def labels(dimension: Choice) -> list[str]:
    """Category labels: `str` of each value, or `repr` where two `str`s coincide."""
    names = [str(v) for v in dimension.choices]
    if len(set(names)) == len(names):
        return names
    return [repr(v) for v in dimension.choices]


def to_point(dimensions: list[Dimension], values: dict[str, Any]) -> list[Any]:
    """A scikit-optimize point for a complete set of values."""
    point = []
    for d in dimensions:
        value = values[d.name]
        if ordered(d):
            point.append(_ranked(d).index(d.index(value)))
        elif isinstance(d, Choice):
            point.append(labels(d)[d.index(value)])
        elif d.step is not None:
            point.append(d.to_index(value))
        else:
            point.append(value)
    return point


def from_point(dimensions: list[Dimension], point: list[Any]) -> dict[str, Any]:
    """Our values (plain Python types) for a scikit-optimize point."""
    values = {}
    for d, x in zip(dimensions, point, strict=True):
        if ordered(d):
            values[d.name] = d.choices[_ranked(d)[int(x)]]
        elif isinstance(d, Choice):
            values[d.name] = d.choices[labels(d).index(str(x))]
        elif d.step is not None:
            values[d.name] = d.from_index(int(x))
        elif isinstance(d, Int):
            values[d.name] = int(x)
        elif isinstance(d, Float):
            values[d.name] = float(x)
    return values


def initial_design(
    generator: str, dimensions: list[Dimension], n: int, seed: int
) -> list[dict[str, Any]]:
    """`n` points of a space-filling design ("sobol", "lhs", ...), as our values.

    The generator fills the unit cube, and each coordinate becomes a value as a
    random draw would (`from_unit`): every value of a Choice, a stepped or an integer
    dimension takes an equal share. scikit-optimize's own mapping rounds to the
    nearest value, which gives the first and the last value half the share of the
    others (scikit-optimize issue #1172), so a design drew the first and last
    Choice values, and the bounds of an Int, half as often as random search does.
    The design depends only on its arguments, so a search that rebuilds it at every
    proposal walks the same design each time.
    """
    from skopt.space import Real
    from skopt.utils import cook_initial_point_generator

    with warnings.catch_warnings():
        # Sobol warns when n is not a power of 2; the first n points are still used.
        warnings.simplefilter("ignore")
        cube = cook_initial_point_generator(generator).generate(
            [Real(0.0, 1.0) for _ in dimensions], n, random_state=seed
        )
    return [
        {d.name: from_unit(d, float(u)) for d, u in zip(dimensions, point, strict=True)}
        for point in cube
    ]


def from_unit(dimension: Dimension, u: float) -> Any:
    """The value at `u` in [0, 1] of the dimension's random distribution: uniform
    over the values of a Choice, a grid or an Int, over the log for `log=True`."""
    if isinstance(dimension, Choice):
        count = len(dimension.choices)
        return dimension.choices[min(int(u * count), count - 1)]
    if dimension.step is not None:
        count = int(dimension.cardinality())
        return dimension.from_index(min(int(u * count), count - 1))
    low, high = dimension.low, dimension.high
    if isinstance(dimension, Int):
        if dimension.log:  # as Int.sample: log-uniform over [low, high + 1)
            value = math.exp(math.log(low) + u * math.log((high + 1) / low))
            return min(int(value), high)
        return low + min(int(u * (high - low + 1)), high - low)
    if dimension.log:
        value = math.exp(math.log(low) + u * math.log(high / low))
    else:
        value = low + u * (high - low)
    return min(max(float(value), low), high)


class QuantileGradientBoosting(RegressorMixin, BaseEstimator):
    """skopt's "GBRT" surrogate, rebuilt for scikit-learn >= 1.6 and numpy >= 2.4.

    skopt's `GradientBoostingQuantileRegressor` lists its mixins in the order that
    scikit-learn 1.6 stopped accepting (so it is not recognized as a regressor) and
    calls `np.in1d`, which numpy 2.4 removed. This is the same model: one
    gradient-boosted tree ensemble per quantile (16%, 50%, 84%), all with one seed,
    the median as the mean and half the 16-84% spread as the standard deviation.

    Args:
        n_estimators: int, trees per quantile. Defaults to `30` (skopt's value).
        random_state: int or None, the trees' seed.
    """

    def __init__(self, n_estimators: int = 30, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> QuantileGradientBoosting:
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.regressors_ = [
            GradientBoostingRegressor(
                loss="quantile",
                alpha=q,
                n_estimators=self.n_estimators,
                random_state=seed,
            ).fit(X, y)
            for q in _QUANTILES
        ]
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        low, mean, high = (r.predict(X) for r in self.regressors_)
        if return_std:
            return mean, (high - low) / 2.0
        return mean

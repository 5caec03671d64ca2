"""Bayesian optimization with scikit-optimize's `Optimizer` (ask/tell).

This is the only module that imports scikit-optimize. Each `propose` builds an
`Optimizer` over the current space and tells it every completed trial in one call (one
surrogate fit, as an incremental `tell` would also do), so proposals depend only on the
history: a resumed search proposes what an uninterrupted one would have, a space that
grows is handled by the next call, and no fitted model outlives the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams.algorithms.base import Algorithm
from keras_hparams.space import Choice, Dimension, Float, Int, SearchSpace
from keras_hparams.trial import Trial

SURROGATES = ("GP", "RF", "ET")
ACQUISITION_FUNCTIONS = ("gp_hedge", "EI", "PI", "LCB")


class BayesianOptimization(Algorithm):
    """Proposes values from a surrogate model of the objective (a Gaussian process).

    The first `n_initial_points` trials (the defaults trial included) are drawn at
    random; after that each proposal maximizes the acquisition function.

    Args:
        seed: int or None, for reproducible proposals.
        n_initial_points: int, random trials before the surrogate is used. Defaults to
            `None`: the number of searched dimensions plus one, between 3 and 10.
        surrogate: str, `"GP"` (Gaussian process), `"RF"` (random forest) or `"ET"`
            (extra trees). Defaults to `"GP"`.
        acq_func: str, one of `"gp_hedge"`, `"EI"`, `"PI"`, `"LCB"`. Defaults to
            `"gp_hedge"`.

    Example:

    >>> algorithm = kh.algorithms.BayesianOptimization(seed=0, n_initial_points=5)
    >>> tuner = kh.Tuner(build_model, objective="val_accuracy", algorithm=algorithm)
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        n_initial_points: int | None = None,
        surrogate: str = "GP",
        acq_func: str = "gp_hedge",
    ) -> None:
        super().__init__(seed)
        if surrogate not in SURROGATES:
            raise ValueError(
                f"For BayesianOptimization, expected surrogate in {SURROGATES}. "
                f"Received: surrogate={surrogate!r}."
            )
        if acq_func not in ACQUISITION_FUNCTIONS:
            raise ValueError(
                f"For BayesianOptimization, expected acq_func in "
                f"{ACQUISITION_FUNCTIONS}."
                f" Received: acq_func={acq_func!r}."
            )
        if n_initial_points is not None and (
            not isinstance(n_initial_points, int) or n_initial_points < 1
        ):
            raise ValueError(
                "For BayesianOptimization, expected n_initial_points a positive "
                "integer."
                f" Received: n_initial_points={n_initial_points!r}."
            )
        self.n_initial_points = n_initial_points
        self.surrogate = surrogate
        self.acq_func = acq_func

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        seen = self.seen(space, trials)
        rng = self.rng(trials)
        dimensions = [d for d in space.searchable() if d.cardinality() > 1]
        completed = self.completed(trials)
        n_initial = self.n_initial_points or int(np.clip(len(dimensions) + 1, 3, 10))
        if not dimensions or len(completed) < n_initial:
            return self.random_unseen(space, seen, rng, n)
        optimizer = self._optimizer(dimensions, n_initial, rng)
        sign = 1.0 if direction == "min" else -1.0
        points = [_to_point(dimensions, space.complete(t.params)) for t in completed]
        with warnings.catch_warnings():
            # skopt warns when told a point twice; duplicates are handled below.
            warnings.simplefilter("ignore")
            optimizer.tell(points, [sign * t.score for t in completed])
            asked = optimizer.ask(n_points=n) if n > 1 else [optimizer.ask()]
        proposals = []
        for point in asked:
            values = _from_point(dimensions, point)
            if self._take(space, values, seen):
                proposals.append(values)
        # Where the surrogate points at a tried set of values, explore instead.
        return proposals + self.random_unseen(space, seen, rng, n - len(proposals))

    def _optimizer(
        self, dimensions: list[Dimension], n_initial: int, rng: np.random.Generator
    ) -> Any:
        from skopt import Optimizer

        return Optimizer(
            [_to_skopt(d) for d in dimensions],
            base_estimator=self.surrogate,
            n_initial_points=n_initial,
            acq_func=self.acq_func,
            random_state=int(rng.integers(2**31 - 1)),
            model_queue_size=1,
        )


def _to_skopt(dimension: Dimension) -> Any:
    """The scikit-optimize dimension for one of ours, keeping step and scale."""
    from skopt.space import Categorical, Integer, Real

    name = dimension.name
    if isinstance(dimension, Choice):
        return Categorical(_labels(dimension), name=name)
    if dimension.step is not None:  # a grid: search the index, keep the order
        return Integer(0, int(dimension.cardinality()) - 1, name=name)
    prior = "log-uniform" if dimension.log else "uniform"
    if isinstance(dimension, Int):
        return Integer(dimension.low, dimension.high, prior=prior, name=name)
    return Real(dimension.low, dimension.high, prior=prior, name=name)


def _labels(dimension: Choice) -> list[str]:
    labels = [str(v) for v in dimension.choices]
    return (
        labels
        if len(set(labels)) == len(labels)
        else [repr(v) for v in dimension.choices]
    )


def _to_point(dimensions: list[Dimension], values: dict[str, Any]) -> list[Any]:
    point = []
    for d in dimensions:
        value = values[d.name]
        if isinstance(d, Choice):
            point.append(_labels(d)[d.index(value)])
        elif d.step is not None:
            point.append(d.to_index(value))
        else:
            point.append(value)
    return point


def _from_point(dimensions: list[Dimension], point: list[Any]) -> dict[str, Any]:
    values = {}
    for d, x in zip(dimensions, point, strict=True):
        if isinstance(d, Choice):
            values[d.name] = d.choices[_labels(d).index(str(x))]
        elif d.step is not None:
            values[d.name] = d.from_index(int(x))
        elif isinstance(d, Int):
            values[d.name] = int(x)
        elif isinstance(d, Float):
            values[d.name] = float(x)
    return values

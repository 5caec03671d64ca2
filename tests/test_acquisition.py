"""The acquisition function is minimized over valid points of a mixed space.

Real scikit-optimize optimizers, fitted on histories of a mixed function; the
acquisition values compared are scikit-optimize's own (`_gaussian_acquisition`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.algorithms import BayesianOptimization, _acquisition, bayesian
from keras_hparams.space import SearchSpace
from keras_hparams.trial import Trial


def _space() -> SearchSpace:
    return SearchSpace(
        [
            kh.Float("lr", 1e-5, 1e-1, log=True),
            kh.Int("units", 32, 512, step=32),
            kh.Choice("activation", ["relu", "tanh", "sigmoid", "gelu"]),
            kh.Choice("optimizer", ["adam", "sgd", "rmsprop"]),
            kh.Float("dropout", 0.0, 0.6),
            kh.Int("layers", 1, 4),
        ]
    )


def _score(p: dict) -> float:
    """Best at lr 3e-3, 384 units, gelu, adam, dropout 0.3, 3 layers."""
    return (
        0.1 * (math.log10(p["lr"]) - math.log10(3e-3)) ** 2
        + 0.05 * (math.log2(p["units"]) - math.log2(384)) ** 2
        + {"gelu": 0.0, "relu": 0.02, "tanh": 0.06, "sigmoid": 0.15}[p["activation"]]
        + {"adam": 0.0, "rmsprop": 0.015, "sgd": 0.04}[p["optimizer"]]
        + (p["dropout"] - 0.3) ** 2
        + 0.03 * abs(p["layers"] - 3)
    )


def _fitted(seed: int, trials: int):
    """A scikit-optimize optimizer told `trials` random trials, as `_ask` builds it,
    and its space's dimensions."""
    space = _space()
    rng = np.random.default_rng(seed)
    values = [
        {d.name: d.sample(rng) for d in space.searchable()} for _ in range(trials)
    ]
    algorithm = BayesianOptimization(seed=seed)
    dimensions = list(space.searchable())
    optimizer = algorithm._optimizer(dimensions, 5, np.random.default_rng(seed))
    points = [bayesian._to_point(dimensions, v) for v in values]
    optimizer.tell(points, [_score(v) for v in values])
    return optimizer, dimensions


def _acquisition_at(optimizer, points) -> np.ndarray:
    from skopt.acquisition import _gaussian_acquisition

    return _gaussian_acquisition(
        np.asarray(optimizer.space.transform(points), dtype=float),
        optimizer.models[-1],
        float(np.min(optimizer.yi)),
        acq_func=optimizer.acq_func,
        acq_func_kwargs=optimizer.acq_func_kwargs,
    )


def test_the_minimum_is_a_valid_point_no_worse_than_the_rounded_one_or_a_sample():
    improved = 0
    for seed in range(6):
        optimizer, dimensions = _fitted(seed, trials=12 + seed)
        assert _acquisition.applies(optimizer)
        rounded = optimizer.ask()
        found = _acquisition.minimize(optimizer, rounded)
        bayesian._from_point(dimensions, found)  # a valid point: converts back
        assert found in optimizer.space
        # Compared with scikit-optimize's rounded proposal and with the best of
        # 5,000 random valid points other than the ones `minimize` drew.
        sample = optimizer.space.rvs(5000, random_state=1000 + seed)
        ours, theirs = _acquisition_at(optimizer, [found, rounded])
        assert ours <= theirs
        assert ours <= _acquisition_at(optimizer, sample).min() + 1e-9
        improved += ours < theirs - 1e-6
    # Rounding the relaxed minimum lost acquisition on all 6 of these histories
    # (2026-12-02); at least half must show it.
    assert improved >= 3, improved


def test_the_minimum_depends_only_on_the_history():
    first, _ = _fitted(0, trials=10)
    second, _ = _fitted(0, trials=10)
    assert _acquisition.minimize(first, first.ask()) == _acquisition.minimize(
        second, second.ask()
    )


def test_continuous_spaces_and_tree_surrogates_keep_scikit_optimizes_search():
    space = SearchSpace([kh.Float("x", 0.0, 1.0), kh.Float("y", 0.0, 1.0)])
    dimensions = list(space.searchable())
    continuous = BayesianOptimization(seed=0)._optimizer(
        dimensions, 3, np.random.default_rng(0)
    )
    assert not _acquisition.applies(continuous)
    mixed = list(_space().searchable())
    trees = BayesianOptimization(seed=0, surrogate="ET")._optimizer(
        mixed, 3, np.random.default_rng(0)
    )
    assert not _acquisition.applies(trees)


def test_wide_ints_are_searched_as_continuous_inputs():
    from skopt.space import Space

    wide = kh.Int("units", 1, 10_000)
    narrow = kh.Int("layers", 1, 4)
    space = Space(
        [bayesian._to_skopt(d) for d in (wide, narrow, kh.Choice("c", ["a", "b"]))]
    )
    continuous, discrete = _acquisition._inputs(space)
    assert continuous == [0]
    assert [columns for columns, _ in discrete] == [[1], [2]]
    assert [len(values) for _, values in discrete] == [4, 2]


@pytest.mark.parametrize("batch", [1, 3])
def test_proposals_through_propose_are_the_minimized_ones(batch, monkeypatch):
    space = _space()
    rng = np.random.default_rng(0)
    trials = []
    for i in range(10):
        values = {d.name: d.sample(rng) for d in space.searchable()}
        trials.append(Trial(i + 1, values, "completed", score=_score(values)))
    with_minimum = BayesianOptimization(seed=0).propose(space, trials, batch)
    monkeypatch.setattr(_acquisition, "applies", lambda optimizer: False)
    rounded = BayesianOptimization(seed=0).propose(space, trials, batch)
    assert len(with_minimum) == len(rounded) == batch
    assert with_minimum != rounded

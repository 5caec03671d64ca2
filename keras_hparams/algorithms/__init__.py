"""Search algorithms: what to try next, given the trials so far.

`Tuner(algorithm=...)` takes a name from `ALGORITHMS` or an `Algorithm` instance; see
`Algorithm` for writing your own.
"""

from __future__ import annotations

from typing import Any

from keras_hparams.algorithms.base import Algorithm
from keras_hparams.algorithms.bayesian import BayesianOptimization
from keras_hparams.algorithms.bayesian_hyperband import BayesianHyperband
from keras_hparams.algorithms.grid import GridSearch
from keras_hparams.algorithms.hyperband import Hyperband, MultiFidelityAlgorithm
from keras_hparams.algorithms.multi_objective import MultiObjectiveBayesian
from keras_hparams.algorithms.random import RandomSearch

ALGORITHMS = {
    "bayesian": BayesianOptimization,
    "bayesian_hyperband": BayesianHyperband,
    "grid": GridSearch,
    "hyperband": Hyperband,
    "random": RandomSearch,
}

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BayesianHyperband",
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "MultiFidelityAlgorithm",
    "MultiObjectiveBayesian",
    "RandomSearch",
    "for_objectives",
    "get",
]


def get(algorithm: Any, seed: int | None = None) -> Algorithm:
    """The `Algorithm` for a `Tuner(algorithm=...)` argument: a name or an instance.

    An instance is returned as it is (its own seed is kept); a name makes one with
    `seed`.
    """
    if isinstance(algorithm, Algorithm):
        return algorithm
    if isinstance(algorithm, str) and algorithm in ALGORITHMS:
        return ALGORITHMS[algorithm](seed)
    raise ValueError(
        f"Tuner(algorithm=...) expects one of {sorted(ALGORITHMS)} or an "
        f"kh.algorithms.Algorithm instance. Received: algorithm={algorithm!r}."
    )


def for_objectives(algorithm: Algorithm, objectives: Any) -> Algorithm:
    """The algorithm that searches with `objectives` (an `Objectives`).

    A search of one metric keeps `algorithm`. With several objectives or
    constraints, Bayesian optimization becomes `MultiObjectiveBayesian` around it;
    other algorithms (random, grid, your own) are kept: they read `trial.score`,
    the first objective's value.
    """
    if objectives.simple:
        return algorithm
    if isinstance(algorithm, MultiObjectiveBayesian):
        return algorithm.for_objectives(objectives)
    if isinstance(algorithm, BayesianOptimization):
        return MultiObjectiveBayesian(bayesian=algorithm, objectives=objectives)
    return algorithm

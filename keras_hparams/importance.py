"""How much each hyperparameter matters to the objective, from a model of the trials.

A random forest (scikit-learn) learns the score from the values of the completed
trials. A hyperparameter's importance is how much the forest's fit (R^2) drops when
that hyperparameter's values are shuffled among the trials, averaged over shuffles
(scikit-learn's permutation importance), then divided by the sum over all
hyperparameters, so the shares add up to 1. Far outliers among the scores (a
diverged trial) are clipped to the nearest inlier first, so one trial cannot make a
hyperparameter look important alone. The forest's out-of-bag R^2 says how much of
the scores' variation it explains at all: near or below zero, the shares mean
little.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams import outliers
from keras_hparams.space import Choice, Dimension, SearchSpace
from keras_hparams.trial import COMPLETED, Trial

MIN_TRIALS = 5
_TREES = 100
_REPEATS = 20
# Below this out-of-bag R^2, the method's sentence warns that the shares are rough.
_WEAK_FIT = 0.3


@dataclasses.dataclass
class Importance:
    """The importance of each hyperparameter to the objective.

    Attributes:
        values: dict, hyperparameter name -> share of the importance (0 to 1,
            summing to 1 unless the model found no effect at all), most
            important first.
        spread: dict, name -> the standard deviation of that share over the
            shuffles.
        method: str, how the shares were computed, in one sentence.
        explained: float, the forest's out-of-bag R^2: the share of the scores'
            variance it predicts for trials it was not fitted on.
        trials: int, how many completed trials the model was fitted on.
    """

    values: dict[str, float]
    spread: dict[str, float]
    method: str
    explained: float
    trials: int

    def __str__(self) -> str:
        width = max(len(name) for name in self.values)
        lines = [self.method]
        for name, share in self.values.items():
            lines.append(f"  {name:<{width}}  {share:6.1%}  ± {self.spread[name]:.1%}")
        return "\n".join(lines)


def importance(
    space: SearchSpace, trials: Sequence[Trial], objective: Any, *, seed: int = 0
) -> Importance:
    """The importance of each varying hyperparameter of `space` (see the module).

    Args:
        space: the search space.
        trials: the trials; the completed ones with a finite score are used.
        objective: the search's `Objective`.
        seed: int, for the forest and the shuffles. Defaults to `0`.

    Raises:
        ValueError: fewer than `MIN_TRIALS` completed trials, or no hyperparameter
            with more than one value.
    """
    dimensions = [d for d in space.searchable() if d.cardinality() > 1]
    completed = [
        t
        for t in trials
        if t.status == COMPLETED and t.score is not None and np.isfinite(t.score)
    ]
    _check(dimensions, completed, space)
    features = np.array(
        [_features(dimensions, space.complete(t.params)) for t in completed]
    )
    scores = outliers.clip([t.score for t in completed])
    means, spreads, explained = _permutation_importance(features, scores, seed)
    total = means.sum() or 1.0
    order = np.argsort(-means, kind="stable")
    method = (
        f"Permutation importance of a random forest (scikit-learn) fitted on "
        f"{len(completed)} completed trials; out-of-bag R^2 {explained:.2f}."
    )
    if explained < _WEAK_FIT:
        method += " The forest predicts the scores poorly: read the shares as rough."
    return Importance(
        values={dimensions[i].name: float(means[i] / total) for i in order},
        spread={dimensions[i].name: float(spreads[i] / total) for i in order},
        method=method,
        explained=explained,
        trials=len(completed),
    )


def _permutation_importance(
    features: np.ndarray, scores: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Each feature's mean drop in R^2 when shuffled (at least 0), its standard
    deviation, and the forest's out-of-bag R^2."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    forest = RandomForestRegressor(
        n_estimators=_TREES, min_samples_leaf=2, oob_score=True, random_state=seed
    )
    with warnings.catch_warnings():
        # With few trials, a trial may be in every tree's sample: no OOB prediction.
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(features, scores)
    found = permutation_importance(
        forest, features, scores, n_repeats=_REPEATS, random_state=seed
    )
    means = np.clip(found.importances_mean, 0.0, None)
    return means, found.importances_std, float(forest.oob_score_)


def _check(dimensions: list[Dimension], completed: list[Trial], space) -> None:
    if len(completed) < MIN_TRIALS:
        raise ValueError(
            f"Importance needs at least {MIN_TRIALS} completed trials with a finite "
            f"score. Received: {len(completed)} completed trials."
        )
    if not dimensions:
        raise ValueError(
            "Importance needs a hyperparameter with more than one value. "
            f"Received: {space!r}."
        )


def _features(dimensions: list[Dimension], values: dict[str, Any]) -> list[float]:
    """One number per dimension: a choice's index, a log-scale value's log10."""
    row = []
    for dimension in dimensions:
        value = values[dimension.name]
        if isinstance(dimension, Choice):
            row.append(float(dimension.index(value)))
        elif dimension.log:
            row.append(float(np.log10(value)))
        else:
            row.append(float(value))
    return row

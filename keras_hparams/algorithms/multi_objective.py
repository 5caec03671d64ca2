"""Bayesian proposals for several objectives and constraints (ParEGO).

`MultiObjectiveBayesian` turns each trial's objective values into one score, a
random weighting of the normalized objectives drawn afresh for each proposal, and
asks `BayesianOptimization` for the next values given those scores. Over a search
the weightings cover the Pareto front, from one end to the other (Knowles, "ParEGO:
a hybrid algorithm with on-line landscape approximation for expensive
multiobjective optimization problems", 2006). It knows nothing about Keras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams import pareto
from keras_hparams.algorithms.base import Algorithm
from keras_hparams.algorithms.bayesian import BayesianOptimization
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.space import SearchSpace
from keras_hparams.trial import (
    COMPLETED,
    INFEASIBLE,
    PRUNED,
    RUNNING,
    TIMED_OUT,
    Trial,
)

_OBSERVED = (COMPLETED, PRUNED, TIMED_OUT)


class MultiObjectiveBayesian(Algorithm):
    """Bayesian optimization of several objectives, under constraints.

    The tuner uses it, around the default `"bayesian"` algorithm (or a
    `BayesianOptimization` you pass), when a search has several objectives or any
    `kh.Constraint`; random and grid search run as they are.

    **Several objectives (ParEGO).** Each proposal draws random weights `w` (uniform
    over the simplex), scales each objective's values to [0, 1] from the best value
    so far to the worst one on the Pareto front, trials behind the front scoring
    above 1 (counts, seconds and bytes on a log scale first: parameter counts span
    orders of magnitude), and tells the Gaussian process each trial's augmented
    Chebyshev score `max_i(w_i f_i) + rho * sum_i(w_i f_i)`, which is lower the
    closer the trial is to the front in the direction `w` favours. The next values
    are `BayesianOptimization`'s proposal for those scores.

    **Constraints.** A trial that broke one (trained or not) is told a score worse
    than any feasible trial's, worse still the farther it was outside the limits,
    so the surrogate learns where infeasible values lie and proposes elsewhere.

    **Parallel workers.** Running and interrupted trials are passed on as pending:
    `BayesianOptimization` tells them its lie. A batch of `n` proposals
    draws new weights for each, the earlier ones of the batch pending.

    Args:
        seed: int or None, for reproducible proposals.
        bayesian: the `BayesianOptimization` to ask (its options: surrogate,
            acquisition function, initial points...). Defaults to `None`: one
            with its defaults and `seed`.
        objectives: the search's `Objectives`; the tuner passes them. Defaults to
            `None`: one objective, the trials' `score`.
        rho: float, the weight of the sum in the Chebyshev score, which breaks
            ties between points the max term rates equal. Defaults to `0.05`, as
            ParEGO does.

    Example:

    ```python
    algorithm = kh.algorithms.MultiObjectiveBayesian(
        bayesian=kh.algorithms.BayesianOptimization(seed=0, n_initial_points=8)
    )
    tuner = kh.Tuner(build_model, objective=["val_accuracy", "params"],
                     algorithm=algorithm)
    ```
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        bayesian: BayesianOptimization | None = None,
        objectives: Objectives | None = None,
        rho: float = 0.05,
    ) -> None:
        if bayesian is not None and not isinstance(bayesian, BayesianOptimization):
            raise TypeError(
                "MultiObjectiveBayesian(bayesian=...) expects a "
                f"kh.algorithms.BayesianOptimization or None. Received: {bayesian!r}."
            )
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or rho < 0:
            raise ValueError(
                "MultiObjectiveBayesian(rho=...) expects a number >= 0. "
                f"Received: {rho!r}."
            )
        seed = bayesian.seed if seed is None and bayesian is not None else seed
        super().__init__(seed)
        self.bayesian = bayesian or BayesianOptimization(seed)
        self.objectives = objectives
        self.rho = float(rho)

    def for_objectives(self, objectives: Objectives) -> MultiObjectiveBayesian:
        """This algorithm for a search with `objectives` (the tuner calls it)."""
        return MultiObjectiveBayesian(
            self.seed, bayesian=self.bayesian, objectives=objectives, rho=self.rho
        )

    def check_space(self, space: SearchSpace) -> None:
        self.bayesian.check_space(space)

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        self.check_request(n, direction)
        objectives = self.objectives or Objectives([Objective("score", direction)])
        rng = self.rng(trials)
        history = list(trials)
        proposals: list[dict[str, Any]] = []
        for _ in range(n):
            weights = rng.dirichlet(np.ones(len(objectives.objectives)))
            told = scalarized(objectives, history, weights, self.rho)
            asked = self.bayesian.propose(space, told, 1, direction="min")
            if not asked:
                break
            proposals.append(asked[0])
            # The next proposal of the batch sees this one as pending.
            history.append(Trial(-len(proposals), asked[0], RUNNING))
        return proposals


def scalarized(
    objectives: Objectives,
    trials: Sequence[Trial],
    weights: np.ndarray,
    rho: float = 0.05,
) -> list[Trial]:
    """`trials` with one score each, lower is better, for `BayesianOptimization`.

    Observed trials (completed, pruned, timed out) score the augmented Chebyshev
    value of their normalized losses; infeasible ones a penalty above every
    feasible score; failed, running and interrupted ones pass unchanged (no score,
    or pending).
    """
    losses = {t.id: _losses(objectives, t) for t in trials}
    ideal, span = _scale(
        [losses[t.id] for t in trials if t.status in _OBSERVED],
        [v for v in losses.values() if v is not None],
    )
    scores = {}
    for trial in trials:
        if trial.status in _OBSERVED and losses[trial.id] is not None:
            scaled = weights * (np.asarray(losses[trial.id]) - ideal) / span
            scores[trial.id] = float(np.max(scaled) + rho * np.sum(scaled))
    # Infeasible trials: above every feasible score, the more the farther out.
    worst = max([1.0 + rho * float(np.sum(weights)), *scores.values()])
    told = []
    for trial in trials:
        if trial.status == INFEASIBLE:
            excess = min(objectives.excess(trial), 1.0) if objectives.constraints else 1
            score = worst + 0.5 + 0.5 * excess
        elif trial.id in scores:
            score = scores[trial.id]
        else:
            told.append(trial)  # failed (seen, not observed) or pending
            continue
        told.append(dataclasses.replace(trial, status=COMPLETED, score=score))
    return told


def _scale(
    feasible: list[list[float] | None], known: list[list[float]]
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """The ideal point and the span that map each objective to [0, 1] from the
    best value to the worst one on the Pareto front (the nadir).

    Scaling by the front rather than by every trial keeps a few failed trials (an
    accuracy of 0.1 where good ones reach 0.95) from squeezing the differences that
    matter, between trials near the front, into a sliver of [0, 1]; trials behind
    the front score above 1. Objectives that do not vary on the front are scaled by
    all the trials.
    """
    points = np.array([v for v in feasible if v is not None] or known)
    if not len(points):
        return 0.0, 1.0
    ideal = points.min(axis=0)
    nadir = points[pareto.front(points)].max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, np.ptp(points, axis=0))
    return ideal, np.where(span > 0, span, 1.0)


def _losses(objectives: Objectives, trial: Trial) -> list[float] | None:
    if trial.status not in (*_OBSERVED, INFEASIBLE):
        return None
    return objectives.losses(trial, log_scale=True)

"""Bayesian Hyperband: Hyperband's brackets, new values from a Bayesian optimizer.

BOHB's recipe (Falkner et al., "BOHB: Robust and Efficient Hyperparameter
Optimization at Scale", 2018), with the scikit-optimize surrogate of
`BayesianOptimization` in place of BOHB's kernel density estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams.algorithms.bayesian import BayesianOptimization
from keras_hparams.algorithms.hyperband import Hyperband, budget_scores
from keras_hparams.checks import check_int, is_number
from keras_hparams.space import SearchSpace
from keras_hparams.trial import COMPLETED, FAILED, INTERRUPTED, RUNNING, Trial

# BOHB's share of configurations drawn at random, whatever the model says.
DEFAULT_RANDOM_FRACTION = 1 / 3


class BayesianHyperband(Hyperband):
    """Hyperband whose new configurations come from Bayesian optimization (BOHB).

    Brackets, rungs, promotions and `max_trials` are `Hyperband`'s. Each new
    configuration's values are proposed by a `BayesianOptimization` fitted on the
    scores that trials had at one number of epochs: the largest rung at which at
    least `min_observations` trials have a score (a trial promoted past a rung
    keeps the score it had there). Scores at different epochs are not mixed, as
    BOHB does: a model of 9-epoch scores is not misled by 1-epoch ones, and the
    search uses the cheap rungs' information until the costly ones have enough.
    Until some rung has enough scores, and for a `random_fraction` of the
    proposals throughout (seeded, so a resumed search draws the same), the values
    are drawn at random. Trials running without a score at that rung are told to
    the optimizer as pending (its lie keeps proposals away from them);
    trials stopped below that rung only keep their values from being proposed
    again.

    **`lower_rungs=False`** waits for the last rung instead: random values until
    `min_observations` trials were trained to `max_epochs`, then a model of their
    scores only. Low rungs favour the configurations that learn fastest (a high
    learning rate, a small model), which are not always those that end best
    ("short-horizon bias"). On the four exact learning-curve problems of
    `benchmarks/multi_fidelity_sim.py` (30 seeds) waiting gave a better best loss
    after a third of the budget on two (0.177 against 0.211 on `curve`, 0.165
    against 0.204 on `cross`; p <= 0.003) and the same on the others and at the
    end of the budget; on the Keras tasks of `benchmarks/multi_fidelity.py` (5
    seeds) it did better on `digits` (mean best 0.081 against 0.091) and worse on
    `diabetes` (0.509 against 0.501). No rule is better everywhere, so BOHB's
    stays the default. Choose `False` when the first epochs are known to rank
    configurations unlike the last.

    Args:
        seed: int or None, for reproducible proposals.
        max_epochs: int or None, the epochs of the last rung. Defaults to `None`:
            the `epochs` given to `search()`.
        factor: int, the ratio between rungs. Defaults to `3`.
        min_epochs: int, the fewest epochs of a rung. Defaults to `1`.
        min_observations: int or None, the scores a rung needs before the model
            is fitted on it. Defaults to `None`: the Bayesian optimizer's own
            number of initial points (`BayesianOptimization.initial_points`: the
            number of searched dimensions plus one, between 3 and 5).
        random_fraction: float in [0, 1], the share of proposals drawn at random
            after the model is used. Defaults to `1/3`, BOHB's.
        lower_rungs: bool, whether the model is fitted on the largest lower rung
            with `min_observations` scores while the last rung has fewer (BOHB's
            rule). Defaults to `True`; with `False`, random proposals until the
            last rung has enough.
        optimizer: a `kh.algorithms.BayesianOptimization` for its surrogate and
            acquisition options, or None (default) for one with `seed`.

    Example:

    >>> tuner = kh.Tuner(build_model, objective="val_accuracy", max_trials=40,
    ...                  algorithm="bayesian_hyperband")
    >>> tuner.search(x, y, epochs=27, validation_split=0.2)
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        max_epochs: int | None = None,
        factor: int = 3,
        min_epochs: int = 1,
        min_observations: int | None = None,
        random_fraction: float = DEFAULT_RANDOM_FRACTION,
        lower_rungs: bool = True,
        optimizer: BayesianOptimization | None = None,
    ) -> None:
        super().__init__(
            seed, max_epochs=max_epochs, factor=factor, min_epochs=min_epochs
        )
        if min_observations is not None:
            check_int("BayesianHyperband", "min_observations", min_observations, 1)
        if not (is_number(random_fraction) and 0 <= random_fraction <= 1):
            raise ValueError(
                "BayesianHyperband(random_fraction=...) expects a number between 0 "
                f"and 1. Received: {random_fraction!r}."
            )
        if not isinstance(lower_rungs, bool):
            raise ValueError(
                "BayesianHyperband(lower_rungs=...) expects True or False. "
                f"Received: {lower_rungs!r}."
            )
        if optimizer is not None and not isinstance(optimizer, BayesianOptimization):
            raise TypeError(
                "BayesianHyperband(optimizer=...) expects a "
                f"kh.algorithms.BayesianOptimization or None. Received: {optimizer!r}."
            )
        self.min_observations = min_observations
        self.random_fraction = float(random_fraction)
        self.lower_rungs = lower_rungs
        self.optimizer = optimizer or BayesianOptimization(seed)

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        self.check_request(n, direction)
        at_rung = self.trials_at_rung(space, trials)
        if at_rung is None or self._explores(trials):
            return super().propose(space, trials, n, direction=direction)
        return self.optimizer.propose(space, at_rung, n, direction=direction)

    def trials_at_rung(
        self, space: SearchSpace, trials: Sequence[Trial]
    ) -> list[Trial] | None:
        """The trials as the optimizer sees them at the largest rung with enough
        scores (without `lower_rungs`, at the last rung once it has enough; None
        if there is none): scored there, `"completed"` with that score; running
        there or about to resume, pending; the others, unscored (`"failed"`: told
        nothing but their values)."""
        needed = self._needed(space)
        epochs = sorted({e for t in trials for e in budget_scores(t)}, reverse=True)
        if not self.lower_rungs:
            # Only trials trained to max_epochs end "completed" (the others are
            # "pruned"), so their last run's epochs are the last rung's.
            last = {
                max(budget_scores(t))
                for t in trials
                if t.status == COMPLETED and budget_scores(t)
            }
            epochs = sorted(last & set(epochs))
        for rung in epochs:
            scored = [t for t in trials if rung in budget_scores(t)]
            if len(scored) >= needed:
                return [_as_seen_at(t, rung) for t in trials]
        return None

    def _explores(self, trials: Sequence[Trial]) -> bool:
        """Whether this proposal is drawn at random (seeded by the history, apart
        from the draws of the proposal itself)."""
        seed = None if self.seed is None else [self.seed, len(trials), 1]
        return bool(np.random.default_rng(seed).random() < self.random_fraction)

    def _needed(self, space: SearchSpace) -> int:
        if self.min_observations is not None:
            return self.min_observations
        return self.optimizer.initial_points(space)


def _as_seen_at(trial: Trial, epochs: int) -> Trial:
    scores = budget_scores(trial)
    if epochs in scores:
        return dataclasses.replace(trial, status=COMPLETED, score=scores[epochs])
    if trial.status in (RUNNING, INTERRUPTED):
        return trial  # pending: the optimizer's lie keeps proposals away from it
    return dataclasses.replace(trial, status=FAILED, score=None)

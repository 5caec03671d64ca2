"""Pruners: stop a trial early when its objective is clearly worse than others'.

A pruner is asked once per epoch: given the objective values of the trial so far and
the other trials, should this trial stop now? It is a pure function of its arguments
(no Keras, no state), so a decision can be replayed and tested on scripted histories.
The tuner's callback asks it at each epoch end and, on `True`, stops training and
records the trial as `"pruned"`, with its score (its best epoch so far) and history.

Epochs are counted from 0, as Keras's `on_epoch_end(epoch)` does: after the first
epoch the trial has `values[0]`, and the epoch just ended is `len(values) - 1`. The
tuner does not ask after a trial's last epoch: stopping then saves nothing, and
would record a fully trained trial as pruned.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams.checks import check_int
from keras_hparams.objective import DIRECTIONS, sign
from keras_hparams.trial import COMPLETED, Trial


class Pruner(abc.ABC):
    """Base class of pruners: decide, at an epoch's end, whether to stop a trial.

    Subclasses implement `should_prune`, a pure function of its arguments.

    Example:

    ```python
    class ThresholdPruner(kh.pruners.Pruner):
        # Stops any trial whose loss is still above 2.0 after 3 epochs.
        def should_prune(self, values, trials, *, objective, direction="min"):
            return len(values) >= 3 and min(values) > 2.0

    tuner = kh.Tuner(build_model, objective="val_loss", pruner=ThresholdPruner())
    ```
    """

    @abc.abstractmethod
    def should_prune(
        self,
        values: Sequence[float],
        trials: Sequence[Trial],
        *,
        objective: str,
        direction: str = "min",
    ) -> bool:
        """Whether the trial should stop after the epoch that just ended.

        Args:
            values: list of float, the trial's objective at each epoch so far, the
                last one for the epoch that just ended (epoch `len(values) - 1`).
            trials: the other trials of the search (not this one), any status; their
                `history` holds their per-epoch metrics.
            objective: str, the metric's name in the trials' `history`.
            direction: str, `"min"` or `"max"`: which values are better.

        Returns:
            bool, `True` to stop the trial now.
        """

    @staticmethod
    def objective_values(trial: Trial, objective: str) -> list[float]:
        """A trial's objective at each epoch of its history (NaN where missing)."""
        return [float(epoch.get(objective, math.nan)) for epoch in trial.history]


class MedianPruner(Pruner):
    """Stops a trial whose best value so far is worse than the median at its epoch.

    The rule of Optuna's `MedianPruner`: at epoch `e`, take the objective value at
    epoch `e` of every completed trial that reached it; prune if this trial's best
    value over epochs `0..e` is worse than their median. Nothing is pruned while
    fewer than `n_startup_trials` trials have completed, nor during the first
    `n_warmup_epochs` epochs of a trial, nor when no completed trial reached epoch
    `e`.

    Args:
        n_startup_trials: int, completed trials needed before pruning starts.
            Defaults to `5`.
        n_warmup_epochs: int, epochs of each trial that are never pruned.
            Defaults to `1`.

    Example:

    >>> pruner = kh.pruners.MedianPruner(n_startup_trials=5, n_warmup_epochs=2)
    >>> tuner = kh.Tuner(build_model, objective="val_loss", pruner=pruner)
    """

    def __init__(self, n_startup_trials: int = 5, n_warmup_epochs: int = 1) -> None:
        check_int("MedianPruner", "n_startup_trials", n_startup_trials, 0)
        check_int("MedianPruner", "n_warmup_epochs", n_warmup_epochs, 0)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_epochs = n_warmup_epochs

    def should_prune(
        self,
        values: Sequence[float],
        trials: Sequence[Trial],
        *,
        objective: str,
        direction: str = "min",
    ) -> bool:
        losses = _as_losses(values, direction)
        epoch = len(losses) - 1
        completed = [t for t in trials if t.status == COMPLETED]
        if epoch < self.n_warmup_epochs or len(completed) < self.n_startup_trials:
            return False
        others = [self.objective_values(t, objective) for t in completed]
        at_epoch = [sign(direction) * v[epoch] for v in others if len(v) > epoch]
        at_epoch = [v for v in at_epoch if math.isfinite(v)]
        best = _best(losses)
        if not at_epoch or best is None:
            return False
        return best > float(np.median(at_epoch))

    def __repr__(self) -> str:
        return (
            f"MedianPruner(n_startup_trials={self.n_startup_trials}, "
            f"n_warmup_epochs={self.n_warmup_epochs})"
        )


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving (ASHA): keep the top `1/reduction_factor`.

    Rungs are at `min_epochs * reduction_factor**k` epochs trained (1, 3, 9, 27, ...
    with the defaults). When a trial reaches a rung, its best value so far is
    compared with the best values so far, at the same rung, of every other trial
    that reached it (completed, pruned, failed later or still running: whatever
    their history holds); it goes on only if it ranks among the best
    `max(1, n // reduction_factor)` of those `n` trials, itself included. Between
    rungs nothing is pruned. Decisions never wait for other trials, so trials
    running in parallel are never held back. The first trial to reach a rung always
    goes on; the next ones, while fewer than `reduction_factor` trials reached it,
    go on only if they beat all of them (as in Optuna), unless `bootstrap_count`
    asks for more trials at a rung before any is pruned there: with trials run one
    after another, a small `bootstrap_count` keeps the first few trials alive.

    Args:
        min_epochs: int, the first rung, in epochs trained. Defaults to `1`.
        reduction_factor: int, the ratio between rungs and the fraction kept
            (`1/reduction_factor`). Defaults to `3`.
        bootstrap_count: int, how many other trials must have reached a rung
            before a trial is pruned there. Defaults to `0`.

    Example:

    >>> pruner = kh.pruners.SuccessiveHalvingPruner(min_epochs=2, reduction_factor=3)
    >>> tuner = kh.Tuner(build_model, objective="val_loss", pruner=pruner)
    """

    def __init__(
        self,
        min_epochs: int = 1,
        reduction_factor: int = 3,
        *,
        bootstrap_count: int = 0,
    ) -> None:
        check_int("SuccessiveHalvingPruner", "min_epochs", min_epochs, 1)
        check_int("SuccessiveHalvingPruner", "reduction_factor", reduction_factor, 2)
        check_int("SuccessiveHalvingPruner", "bootstrap_count", bootstrap_count, 0)
        self.min_epochs = min_epochs
        self.reduction_factor = reduction_factor
        self.bootstrap_count = bootstrap_count

    def is_rung(self, epochs: int) -> bool:
        """Whether a trial that has trained `epochs` epochs is at a rung."""
        rung = self.min_epochs
        while rung < epochs:
            rung *= self.reduction_factor
        return rung == epochs

    def should_prune(
        self,
        values: Sequence[float],
        trials: Sequence[Trial],
        *,
        objective: str,
        direction: str = "min",
    ) -> bool:
        losses = _as_losses(values, direction)
        epochs = len(losses)
        best = _best(losses)
        if not self.is_rung(epochs) or best is None:
            return False
        at_rung = [best]
        for trial in trials:
            others = self.objective_values(trial, objective)
            if len(others) >= epochs:
                other_best = _best([sign(direction) * v for v in others[:epochs]])
                if other_best is not None:
                    at_rung.append(other_best)
        if len(at_rung) - 1 < self.bootstrap_count:
            return False
        kept = max(1, len(at_rung) // self.reduction_factor)
        return best > sorted(at_rung)[kept - 1]

    def __repr__(self) -> str:
        return (
            f"SuccessiveHalvingPruner(min_epochs={self.min_epochs}, "
            f"reduction_factor={self.reduction_factor}, "
            f"bootstrap_count={self.bootstrap_count})"
        )


PRUNERS = {"median": MedianPruner, "successive_halving": SuccessiveHalvingPruner}


def get(pruner: Any) -> Pruner | None:
    """The `Pruner` for a `Tuner(pruner=...)` argument: None, a name or an instance."""
    if pruner is None or isinstance(pruner, Pruner):
        return pruner
    if isinstance(pruner, str) and pruner in PRUNERS:
        return PRUNERS[pruner]()
    raise ValueError(
        f"Tuner(pruner=...) expects None, one of {sorted(PRUNERS)} or a "
        f"kh.pruners.Pruner instance. Received: pruner={pruner!r}."
    )


def _as_losses(values: Sequence[float], direction: str) -> list[float]:
    """The values as numbers to minimize; checks the arguments."""
    if direction not in DIRECTIONS:
        raise ValueError(
            f"Pruner.should_prune() expects direction in {DIRECTIONS}. "
            f"Received: direction={direction!r}."
        )
    if isinstance(values, (str, bytes)) or len(values) == 0:
        raise ValueError(
            "Pruner.should_prune() expects values, the trial's objective at each "
            f"epoch so far (at least one). Received: values={values!r}."
        )
    return [sign(direction) * float(v) for v in values]


def _best(losses: Sequence[float]) -> float | None:
    """The smallest finite loss, or None when there is none."""
    finite = [v for v in losses if math.isfinite(v)]
    return min(finite) if finite else None

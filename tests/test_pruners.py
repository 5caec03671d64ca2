"""Tests for keras_hparams/pruners.py: pruning decisions on scripted histories."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from keras_hparams import pruners
from keras_hparams.pruners import MedianPruner, Pruner, SuccessiveHalvingPruner
from keras_hparams.trial import Trial


def _trial(values, status="completed", objective="val_loss", trial_id=1) -> Trial:
    """A trial whose history reports `values` of the objective, one per epoch."""
    history = [{objective: v, "loss": 1.0} for v in values]
    finite = [v for v in values if math.isfinite(v)]
    score = min(finite) if finite and status != "running" else None
    return Trial(trial_id, {}, status, score=score, history=history)


def _median(values, others, **kwargs):
    pruner = MedianPruner(**kwargs)
    trials = [_trial(v, trial_id=i) for i, v in enumerate(others)]
    return pruner.should_prune(values, trials, objective="val_loss")


# -- MedianPruner ----------------------------------------------------------------------

FIVE = [[1.0, 0.8, 0.6], [1.0, 0.7, 0.5], [1.0, 0.6, 0.4], [1.0, 0.5, 0.3], [1, 0.4, 0]]


def test_median_prunes_a_trial_worse_than_the_median_at_its_epoch():
    # Median at epoch 1 of the completed trials: 0.6.
    assert _median([1.0, 0.9], FIVE) is True
    assert _median([1.0, 0.61], FIVE) is True
    assert _median([1.0, 0.6], FIVE) is False  # equal to the median: goes on
    assert _median([1.0, 0.5], FIVE) is False
    # The trial's best so far counts, not its last value (Optuna's rule).
    assert _median([0.5, 0.9], FIVE) is False
    # Epoch 2's median is 0.4.
    assert _median([1.0, 0.6, 0.45], FIVE) is True


def test_median_waits_for_startup_trials_and_warmup_epochs():
    assert _median([1.0, 9.0], FIVE[:4]) is False  # 4 < n_startup_trials=5
    assert _median([1.0, 9.0], FIVE[:4], n_startup_trials=4) is True
    assert _median([9.0], FIVE) is False  # epoch 0 < n_warmup_epochs=1
    assert _median([9.0], FIVE, n_warmup_epochs=0) is True
    assert _median([9.0, 9.0, 9.0], FIVE, n_warmup_epochs=3) is False


def test_median_counts_only_completed_trials_that_reached_the_epoch():
    others = [_trial(v, trial_id=i) for i, v in enumerate(FIVE)]
    others += [
        _trial([1.0, 5.0], status="pruned", trial_id=10),
        _trial([1.0, 5.0, 5.0], status="running", trial_id=11),
        _trial([1.0, 5.0, 5.0], status="failed", trial_id=12),
        _trial([0.1, 0.1], status="completed", trial_id=13),  # stopped early
    ]
    pruner = MedianPruner(n_startup_trials=6)
    # Six completed trials; at epoch 2 only five reached it: median 0.4.
    assert pruner.should_prune([1.0, 0.6, 0.45], others, objective="val_loss")
    # At epoch 1 six did: 0.8, 0.7, 0.6, 0.5, 0.4, 0.1 -> median 0.55.
    assert pruner.should_prune([1.0, 0.56], others, objective="val_loss")
    assert not pruner.should_prune([1.0, 0.55], others, objective="val_loss")
    assert not MedianPruner(n_startup_trials=7).should_prune(
        [1.0, 9.0], others, objective="val_loss"
    )


def test_median_without_others_at_the_epoch_goes_on():
    assert _median([1.0, 1.0, 1.0, 9.0], FIVE) is False


def test_median_maximizes_with_direction_max():
    others = [_trial([0.1, v], objective="val_accuracy") for v in (0.5, 0.6, 0.7)]
    pruner = MedianPruner(n_startup_trials=3)

    def prune(values):
        return pruner.should_prune(
            values, others, objective="val_accuracy", direction="max"
        )

    assert prune([0.2, 0.55]) is True
    assert prune([0.2, 0.6]) is False
    assert prune([0.65, 0.3]) is False  # best so far 0.65 beats the median 0.6


def test_median_ignores_nan_values():
    others = [_trial([1.0, v]) for v in (0.5, math.nan, 0.7, 0.9)]
    pruner = MedianPruner(n_startup_trials=3)
    assert pruner.should_prune([1.0, 0.75], others, objective="val_loss")
    assert not pruner.should_prune([1.0, 0.7], others, objective="val_loss")
    # A trial with no finite value yet is left to the tuner's divergence check.
    assert not pruner.should_prune([math.nan, math.nan], others, objective="val_loss")


def test_median_reads_the_named_objective():
    others = [_trial([1.0, 0.5]) for _ in range(5)]
    pruner = MedianPruner()
    assert pruner.should_prune([1.0, 0.9], others, objective="val_loss")
    # No trial reports "val_mae": nothing to compare with.
    assert not pruner.should_prune([1.0, 0.9], others, objective="val_mae")
    assert Pruner.objective_values(others[0], "val_mae") != [1.0, 0.5]
    assert all(math.isnan(v) for v in Pruner.objective_values(others[0], "val_mae"))


# -- SuccessiveHalvingPruner -----------------------------------------------------------


def test_rungs_are_geometric():
    pruner = SuccessiveHalvingPruner()
    assert [e for e in range(1, 30) if pruner.is_rung(e)] == [1, 3, 9, 27]
    pruner = SuccessiveHalvingPruner(min_epochs=2, reduction_factor=2)
    assert [e for e in range(1, 30) if pruner.is_rung(e)] == [2, 4, 8, 16]


def _at_rung(values, others, **kwargs):
    pruner = SuccessiveHalvingPruner(**kwargs)
    trials = [_trial(v, trial_id=i) for i, v in enumerate(others)]
    return pruner.should_prune(values, trials, objective="val_loss")


def test_successive_halving_keeps_the_top_third_at_a_rung():
    # Eight others reached rung 1 (one epoch): with this trial, 9 -> keep the best 3.
    others = [[v] for v in (0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    assert _at_rung([0.3], others) is False  # third best
    assert _at_rung([0.45], others) is True  # fourth best
    assert _at_rung([0.4], others) is False  # ties go on
    assert _at_rung([0.05], others) is False


def test_successive_halving_prunes_only_at_rungs():
    others = [[1.0, 1.0, 0.1]] * 8
    # Epoch 2 (two epochs trained) is not a rung; epoch 3 is.
    assert _at_rung([1.0, 5.0], others) is False
    assert _at_rung([1.0, 5.0, 5.0], others) is True
    assert _at_rung([1.0, 5.0, 5.0, 5.0], others) is False


def test_successive_halving_compares_best_values_up_to_the_rung():
    # At rung 3 the others' best over epochs 1-3 count, not later epochs.
    others = [[0.9, 0.5, 0.9, 0.0]] * 2 + [[0.9, 0.9, 0.9, 0.0]] * 6
    assert _at_rung([0.9, 0.9, 0.6], others) is False  # 0.5, 0.5, 0.6 best three
    assert _at_rung([0.95, 0.95, 0.95], others) is True
    # Its own best so far too: 0.4 at its epoch 1.
    assert _at_rung([0.4, 0.9, 0.9], others) is False


def test_successive_halving_counts_every_trial_that_reached_the_rung():
    trials = [
        _trial([0.1], status="pruned", trial_id=1),
        _trial([0.2, 0.2], status="running", trial_id=2),
        _trial([0.3, math.nan], status="failed", trial_id=3),
        Trial(4, {}, "running"),  # no epoch yet: did not reach the rung
    ]
    pruner = SuccessiveHalvingPruner(reduction_factor=2)
    # Four at rung 1 (0.1, 0.2, 0.3, this one) -> keep the best two.
    assert not pruner.should_prune([0.15], trials, objective="val_loss")
    assert pruner.should_prune([0.25], trials, objective="val_loss")


def test_successive_halving_first_trials_at_a_rung():
    # The first trial at a rung goes on; the next ones must beat the best so far
    # until there are reduction_factor of them.
    assert _at_rung([5.0], []) is False
    assert _at_rung([5.0], [[1.0]]) is True
    assert _at_rung([0.5], [[1.0]]) is False
    assert _at_rung([5.0], [[1.0]], bootstrap_count=1) is True
    assert _at_rung([5.0], [[1.0]], bootstrap_count=2) is False
    assert _at_rung([5.0], [[1.0], [2.0]], bootstrap_count=2) is True


def test_successive_halving_maximizes_with_direction_max():
    others = [_trial([v], objective="acc") for v in (0.9, 0.8, 0.7, 0.6, 0.5)]
    pruner = SuccessiveHalvingPruner(reduction_factor=2)
    # Six at rung 1 -> keep the best three: 0.9, 0.8 and 0.75 or better.
    assert not pruner.should_prune([0.75], others, objective="acc", direction="max")
    assert pruner.should_prune([0.65], others, objective="acc", direction="max")


# -- both pruners on simulated searches ------------------------------------------------


def _curves(count: int, epochs: int, seed: int) -> list[list[float]]:
    """Learning curves: a floor per trial plus a decay shared by all."""
    floors = np.random.default_rng(seed).uniform(0.0, 1.0, size=count)
    return [[float(a + 1.0 / (e + 1)) for e in range(epochs)] for a in floors]


@pytest.mark.parametrize(
    "pruner",
    [MedianPruner(n_startup_trials=3), SuccessiveHalvingPruner(bootstrap_count=2)],
    ids=["median", "asha"],
)
def test_simulated_search_prunes_bad_trials_and_keeps_the_best(pruner):
    for seed in range(3):
        curves = _curves(20, 10, seed)
        trials: list[Trial] = []
        for i, curve in enumerate(curves):
            seen = []
            status = "completed"
            for value in curve:
                seen.append(value)
                if pruner.should_prune(seen, trials, objective="val_loss"):
                    status = "pruned"
                    break
            trials.append(_trial(seen, status=status, trial_id=i + 1))
        pruned = [t for t in trials if t.status == "pruned"]
        best = min(range(20), key=lambda i: curves[i][-1])
        assert trials[best].status == "completed"
        assert 5 <= len(pruned) <= 17
        # Pruned trials keep their history, and stopped early.
        assert all(1 <= len(t.history) < 10 for t in pruned)
        # Every pruned trial was worse at its last epoch than the best trial.
        for trial in pruned:
            epoch = len(trial.history) - 1
            assert trial.history[epoch]["val_loss"] > curves[best][epoch]


def test_pruners_are_pure():
    others = [_trial(v, trial_id=i) for i, v in enumerate(FIVE)]
    snapshot = [(t.status, [dict(h) for h in t.history]) for t in others]
    for pruner in (MedianPruner(), SuccessiveHalvingPruner()):
        values = [1.0, 0.9, 0.8]
        first = pruner.should_prune(values, others, objective="val_loss")
        assert pruner.should_prune(values, others, objective="val_loss") == first
        assert values == [1.0, 0.9, 0.8]
    assert [(t.status, t.history) for t in others] == snapshot


# -- the interface ---------------------------------------------------------------------


class ThresholdPruner(Pruner):
    """The example in Pruner's docstring."""

    def should_prune(self, values, trials, *, objective, direction="min"):
        return len(values) >= 3 and min(values) > 2.0


def test_user_defined_pruner():
    pruner = ThresholdPruner()
    assert not pruner.should_prune([3.0, 3.0], [], objective="loss")
    assert pruner.should_prune([3.0, 3.0, 3.0], [], objective="loss")
    assert pruners.get(pruner) is pruner


def test_pruner_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Pruner()


def test_get_by_name_instance_or_none():
    assert pruners.get(None) is None
    assert isinstance(pruners.get("median"), MedianPruner)
    asha = pruners.get("successive_halving")
    assert isinstance(asha, SuccessiveHalvingPruner)
    assert (asha.min_epochs, asha.reduction_factor) == (1, 3)
    instance = MedianPruner(n_startup_trials=2)
    assert pruners.get(instance) is instance


@pytest.mark.parametrize("argument", ["hyperband", "Median", 3, True])
def test_get_rejects_unknown_pruners(argument):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Tuner(pruner=...) expects None, one of ['median', 'successive_halving'] "
            f"or a kh.pruners.Pruner instance. Received: pruner={argument!r}."
        ),
    ):
        pruners.get(argument)


def test_repr():
    assert repr(MedianPruner()) == "MedianPruner(n_startup_trials=5, n_warmup_epochs=1)"
    assert repr(SuccessiveHalvingPruner(2, 4)) == (
        "SuccessiveHalvingPruner(min_epochs=2, reduction_factor=4, bootstrap_count=0)"
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: MedianPruner(n_startup_trials=-1),
            "MedianPruner(n_startup_trials=...) expects an integer >= 0. Received: -1.",
        ),
        (
            lambda: MedianPruner(n_warmup_epochs=1.5),
            "MedianPruner(n_warmup_epochs=...) expects an integer >= 0. Received: 1.5.",
        ),
        (
            lambda: SuccessiveHalvingPruner(min_epochs=0),
            "SuccessiveHalvingPruner(min_epochs=...) expects an integer >= 1. "
            "Received: 0.",
        ),
        (
            lambda: SuccessiveHalvingPruner(reduction_factor=1),
            "SuccessiveHalvingPruner(reduction_factor=...) expects an integer >= 2. "
            "Received: 1.",
        ),
        (
            lambda: SuccessiveHalvingPruner(reduction_factor=True),
            "Received: True.",
        ),
        (
            lambda: SuccessiveHalvingPruner(bootstrap_count=-2),
            "SuccessiveHalvingPruner(bootstrap_count=...) expects an integer >= 0. "
            "Received: -2.",
        ),
    ],
)
def test_pruners_reject_bad_arguments(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("pruner", [MedianPruner(), SuccessiveHalvingPruner()])
def test_should_prune_rejects_bad_calls(pruner):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Pruner.should_prune() expects direction in ('min', 'max'). "
            "Received: direction='minimize'."
        ),
    ):
        pruner.should_prune([1.0], [], objective="loss", direction="minimize")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Pruner.should_prune() expects values, the trial's objective at each "
            "epoch so far (at least one). Received: values=[]."
        ),
    ):
        pruner.should_prune([], [], objective="loss")

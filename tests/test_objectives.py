"""Tests for keras_hparams/objectives.py: several objectives, the front, ranking."""

from __future__ import annotations

import json
import re

import pytest

import keras_hparams as kh
from keras_hparams.objectives import Objectives, recorded
from keras_hparams.trial import COMPLETED, FAILED, INFEASIBLE, PRUNED, Trial


def scored(trial_id, accuracy, params, status=COMPLETED):
    """A trial scripted with its two objective values."""
    values = {"val_accuracy": accuracy, "params": params}
    return Trial(trial_id, {}, status, accuracy, extra={"objectives": values})


def two_objectives(constraints=()):
    return Objectives.from_arguments(["val_accuracy", "params"], constraints)


def test_arguments_become_objectives_and_constraints():
    objectives = Objectives.from_arguments(
        ["val_accuracy", kh.Objective.latency()], kh.Constraint("params", at_most=10)
    )
    assert objectives.names == ["val_accuracy", "latency"]
    assert objectives.primary == kh.Objective("val_accuracy", "max")
    assert objectives.multi and not objectives.simple
    assert list(objectives.quantities()) == ["val_accuracy", "latency", "params"]
    assert objectives.describe() == (
        "val_accuracy (max), latency (min); subject to params <= 10"
    )
    single = Objectives.from_arguments("val_loss")
    assert single.simple and not single.multi
    assert not Objectives.from_arguments(
        "val_loss", [kh.Constraint("params", at_most=1)]
    ).simple


def test_metrics_the_model_must_report_and_whether_weights_are_read():
    objectives = Objectives.from_arguments(
        ["val_accuracy", "val_loss", "params"],
        [kh.Constraint("accuracy", at_least=0.5)],
    )
    assert objectives.metrics() == ("val_loss", "accuracy")
    assert not objectives.needs_weights
    own = kh.Objective("gap", "min", measure=lambda model, history: 0.0)
    assert Objectives.from_arguments(["val_loss", own]).needs_weights


def test_config_round_trip():
    objectives = Objectives.from_arguments(
        ["val_accuracy", "params"], [kh.Constraint("latency", at_most=0.01)]
    )
    config = json.loads(json.dumps(objectives.get_config()))
    assert Objectives.from_config(config).get_config() == objectives.get_config()


def test_the_first_objective_must_be_a_metric():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "The first objective chooses each trial's best epoch (and is the one "
            "pruners watch), so it must be a metric Keras reports, such as "
            "'val_accuracy'. Received: Objective.params('min') first"
        ),
    ):
        Objectives.from_arguments(["params", "val_accuracy"])


def test_names_must_be_distinct():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Tuner(objective=[...]) expects distinct names. "
            "Received: ['val_loss', 'val_loss']."
        ),
    ):
        Objectives.from_arguments(["val_loss", kh.Objective("val_loss", "min")])


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match=re.escape("expects at least one objective")):
        Objectives.from_arguments([])


def test_one_name_one_way_of_measuring():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Two quantities are named 'latency' but measured differently: "
            "Objective.latency('min') and Objective.latency('min', batch_size=8)."
        ),
    ):
        Objectives.from_arguments(
            ["val_loss", "latency"],
            [kh.Constraint(kh.Objective.latency(batch_size=8), at_most=1)],
        )


@pytest.mark.parametrize("constraints", [3, [kh.Objective.params()], "params"])
def test_constraints_must_be_constraints(constraints):
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Tuner(constraints=...) expects a kh.Constraint or a list of them. "
            f"Received: {constraints!r}."
        ),
    ):
        Objectives.from_arguments("val_loss", constraints)


def test_values_and_losses_of_a_trial():
    objectives = two_objectives()
    trial = scored(1, 0.9, 1000)
    assert objectives.values(trial) == [0.9, 1000]
    assert objectives.losses(trial) == [-0.9, 1000]
    assert objectives.losses(trial, log_scale=True) == pytest.approx([-0.9, 3.0])
    assert objectives.format(trial) == "val_accuracy=0.9, params=1000"
    assert objectives.values(Trial(2, {}, FAILED)) is None
    assert objectives.values(scored(3, 0.9, None)) is None


def test_the_front_holds_the_completed_trials_nothing_beats_on_both():
    objectives = two_objectives()
    trials = [
        scored(1, 0.90, 1000),
        scored(2, 0.95, 5000),
        scored(3, 0.85, 2000),  # dominated by 1
        scored(4, 0.80, 200),
        scored(5, 0.99, 100, status=INFEASIBLE),  # never on the front
        scored(6, 0.99, 100, status=PRUNED),
        Trial(7, {}, FAILED),
        scored(8, 0.95, 5000),  # equal to 2: both on the front
    ]
    assert [t.id for t in objectives.front(trials)] == [2, 8, 1, 4]
    assert [t.id for t in objectives.ranked(trials)] == [2, 8, 1, 4, 3]
    assert objectives.kept(trials, 1) == {1, 2, 4, 8}  # the front, always
    assert objectives.kept(trials, 5) == {1, 2, 3, 4, 8}
    assert objectives.kept(trials, 0) == set()


def test_with_one_objective_the_front_is_the_best_score():
    objectives = Objectives.from_arguments("val_loss")
    trials = [Trial(1, {}, COMPLETED, 0.3), Trial(2, {}, COMPLETED, 0.2)]
    assert [t.id for t in objectives.front(trials)] == [2]
    assert [t.id for t in objectives.ranked(trials)] == [2, 1]
    assert objectives.kept(trials, 1) == {2}


def test_violations_and_excess():
    objectives = two_objectives([kh.Constraint("params", at_most=1000)])
    assert objectives.violations({"params": 500}) == []
    assert objectives.violations({"params": 1500}) == ["params=1500 > 1000"]
    assert objectives.violations({"val_accuracy": 0.5}) == []  # not measured yet
    trial = Trial(1, {}, INFEASIBLE, extra={"constraints": {"params": 1500}})
    assert objectives.excess(trial) == pytest.approx(0.5)


def test_recorded_reads_objectives_constraints_then_the_best_epoch():
    trial = Trial(
        1,
        {},
        COMPLETED,
        0.9,
        best_epoch=1,
        history=[{"val_loss": 0.5}, {"val_loss": 0.3}],
        extra={"objectives": {"params": 10}, "constraints": {"latency": 0.1}},
    )
    assert recorded(trial, "params") == 10
    assert recorded(trial, "latency") == 0.1
    assert recorded(trial, "val_loss") == 0.3
    assert recorded(trial, "val_auc") is None

"""Tests for keras_hparams/choosing.py: one trial among several good ones."""

from __future__ import annotations

import re

import pytest

import keras_hparams as kh
from keras_hparams.choosing import choose
from keras_hparams.objectives import Objectives
from keras_hparams.trial import COMPLETED, FAILED, INFEASIBLE, Trial
from tests.test_objectives import scored

OBJECTIVES = Objectives.from_arguments(["val_accuracy", "params"])
TRIALS = [
    scored(1, 0.90, 1000),
    scored(2, 0.95, 5000),
    scored(3, 0.85, 2000),
    scored(4, 0.80, 200),
    scored(5, 0.99, 100, status=INFEASIBLE),
    Trial(6, {}, FAILED),
]


def test_without_a_choice_a_front_of_several_is_refused_with_the_front_listed():
    expected = (
        "This search has 2 objectives (val_accuracy (max), params (min)), so no "
        "one trial is best: 3 trials are on the Pareto front (best_trials): "
        "trial 2 (val_accuracy=0.95, params=5000); trial 1 (val_accuracy=0.9, "
        "params=1000); trial 4 (val_accuracy=0.8, params=200). Choose one with "
        "choose(2), or with a rule such as choose(kh.Best('val_accuracy', "
        "where=kh.Constraint('params', at_most=1000))); export() and best_model() "
        "also take choose=..."
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        choose(OBJECTIVES, TRIALS)


def test_a_front_of_one_is_the_best_trial():
    trials = [scored(1, 0.90, 1000), scored(2, 0.85, 2000)]
    assert choose(OBJECTIVES, trials).id == 1


def test_a_trial_chosen_by_id_or_by_itself():
    assert choose(OBJECTIVES, TRIALS, 3).id == 3  # any completed trial
    assert choose(OBJECTIVES, TRIALS, TRIALS[1]).id == 2


@pytest.mark.parametrize(
    "choice, status", [(5, "infeasible"), (6, "failed"), (9, "not in the project")]
)
def test_a_chosen_trial_must_be_completed(choice, status):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"choose({choice}) expects the id of a completed trial; trial {choice} "
            f"is {status}. Completed trials: [1, 2, 3, 4]."
        ),
    ):
        choose(OBJECTIVES, TRIALS, choice)


def test_a_rule_picks_the_best_value_within_the_limits():
    small = kh.Best("val_accuracy", where=kh.Constraint("params", at_most=1500))
    assert choose(OBJECTIVES, TRIALS, small).id == 1
    assert choose(OBJECTIVES, TRIALS, kh.Best("val_accuracy")).id == 2
    assert choose(OBJECTIVES, TRIALS, kh.Best("params")).id == 4
    accurate = kh.Best("params", where=[kh.Constraint("val_accuracy", at_least=0.9)])
    assert choose(OBJECTIVES, TRIALS, accurate).id == 1


def test_a_rule_that_no_trial_meets():
    rule = kh.Best("val_accuracy", where=kh.Constraint("params", at_most=10))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "No completed trial meets params <= 10 (4 completed trials). The front: "
            "trial 2 (val_accuracy=0.95, params=5000);"
        ),
    ):
        choose(OBJECTIVES, TRIALS, rule)


def test_a_rule_names_an_objective_of_the_search():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Best('val_loss') expects one of the search's objectives: "
            "['val_accuracy', 'params']."
        ),
    ):
        choose(OBJECTIVES, TRIALS, kh.Best("val_loss"))


def test_other_choices_are_refused():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "choose() expects a trial id, a kh.Trial, a kh.Best rule or None. "
            "Received: 'best'."
        ),
    ):
        choose(OBJECTIVES, TRIALS, "best")


def test_no_completed_trial_yet():
    with pytest.raises(RuntimeError, match="No completed trial yet"):
        choose(OBJECTIVES, [Trial(1, {}, FAILED)])


def test_best_arguments_are_checked():
    with pytest.raises(TypeError, match=re.escape("Best(objective=...) expects")):
        kh.Best(3)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Best(where=...) expects a kh.Constraint or a list of them. "
            "Received: ['params<=10']."
        ),
    ):
        kh.Best("val_accuracy", where=["params<=10"])
    assert repr(kh.Best("val_accuracy")) == "Best('val_accuracy')"


def test_one_objective_needs_no_choice():
    objectives = Objectives.from_arguments("val_loss")
    trials = [Trial(1, {}, COMPLETED, 0.3), Trial(2, {}, COMPLETED, 0.2)]
    assert choose(objectives, trials).id == 2
    assert choose(objectives, trials, 1).id == 1

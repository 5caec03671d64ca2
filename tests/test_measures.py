"""Tests for keras_hparams/measures.py: objectives measured on real tiny models."""

from __future__ import annotations

import math
import os
import re

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import measures
from keras_hparams.errors import FailedTrialError, FatalError, ObjectiveNotFoundError
from keras_hparams.objectives import Objectives
from keras_hparams.trial import COMPLETED, INFEASIBLE, RUNNING, Trial


def tiny_model(units=8, inputs=(64,)):
    model = keras.Sequential(
        [keras.Input(inputs), keras.layers.Dense(units), keras.layers.Dense(10)]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class CountedPredictions(keras.Sequential):
    """A Sequential model that counts its predict_on_batch calls and batch sizes."""

    def predict_on_batch(self, x):
        self.calls = getattr(self, "calls", []) + [len(x)]
        return super().predict_on_batch(x)


def trained_trial(score=0.9):
    history = [
        {"val_accuracy": 0.5, "val_loss": 1.0},
        {"val_accuracy": score, "val_loss": 0.7},
    ]
    return Trial(1, {}, COMPLETED, score, best_epoch=1, history=history)


def test_params_is_the_models_parameter_count():
    model = tiny_model(units=8)
    assert measures.measure(kh.Objective.params(), model, {}) == 64 * 8 + 8 + 90
    assert isinstance(measures.measure(kh.Objective.params(), model, {}), int)


def test_latency_is_the_median_of_timed_predictions_after_a_warmup():
    model = CountedPredictions([keras.Input((64,)), keras.layers.Dense(10)])
    objective = kh.Objective.latency(batch_size=4, warmup=2, repeats=5)
    value = measures.measure(objective, model, {})
    assert model.calls == [4] * 7  # 2 untimed, 5 timed, of 4 zeros each
    assert math.isfinite(value) and value > 0


def test_latency_needs_a_known_input_shape():
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Dense(2)])
    with pytest.raises(
        FatalError,
        match=re.escape(
            "Objective.latency() times predictions on zeros of the model's input "
            "shape, and an input has a dimension of unknown size: (None, None, 3)."
        ),
    ):
        measures.latency(model, batch_size=1, warmup=0, repeats=1)


def test_latency_of_a_model_with_two_inputs():
    a, b = keras.Input((3,)), keras.Input((5,))
    output = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], output)
    assert measures.latency(model, batch_size=2, warmup=1, repeats=2) > 0


def test_size_is_the_bytes_of_the_keras_file(tmp_path):
    model = tiny_model()
    size = measures.measure(kh.Objective.size(), model, {})
    model.save(tmp_path / "model.keras")
    assert size == os.path.getsize(tmp_path / "model.keras")
    assert measures.measure(kh.Objective.size(), tiny_model(units=256), {}) > size


def test_your_own_measure_gets_the_model_and_the_history_as_fit_gives_it():
    seen = {}

    def gap(model, history):
        seen["model"], seen["history"] = model, history
        return history["val_loss"][-1] - history["val_loss"][0]

    objectives = Objectives.from_arguments(
        ["val_accuracy", kh.Objective("gap", "min", measure=gap)]
    )
    model, trial = tiny_model(), trained_trial()
    measures.after_training(objectives, trial, model, {})
    assert seen["model"] is model
    assert seen["history"] == {"val_accuracy": [0.5, 0.9], "val_loss": [1.0, 0.7]}
    assert trial.extra["objectives"] == {
        "val_accuracy": 0.9,
        "gap": pytest.approx(-0.3),
    }


def test_a_measure_that_returns_no_number_fails_the_trial():
    objective = kh.Objective("bad", "min", measure=lambda model, history: "small")
    with pytest.raises(
        FailedTrialError,
        match=re.escape(
            "The measure of objective 'bad' returned 'small'; expected a number."
        ),
    ):
        measures.measure(objective, tiny_model(), {})


def test_a_model_over_a_limit_is_infeasible_before_training():
    objectives = Objectives.from_arguments(
        ["val_accuracy", "latency"], [kh.Constraint("params", at_most=500)]
    )
    trial = Trial(1, {}, RUNNING)
    values = measures.before_training(objectives, trial, tiny_model(units=8))
    assert set(values) == {"latency", "params"} and values["params"] == 610
    assert trial.status == INFEASIBLE and trial.score is None
    assert trial.error == "Not trained: params=610 > 500."
    assert trial.extra["violations"] == ["params=610 > 500"]
    assert trial.extra["constraints"] == {"params": 610}
    assert trial.extra["objectives"] == {"latency": values["latency"]}


def test_a_model_within_the_limits_is_measured_and_stays_running():
    objectives = Objectives.from_arguments(
        "val_accuracy", [kh.Constraint("params", at_most=1000)]
    )
    trial = Trial(1, {}, RUNNING)
    assert measures.before_training(objectives, trial, tiny_model()) == {"params": 610}
    assert trial.status == RUNNING and trial.extra == {}


def test_a_model_not_built_yet_is_measured_after_training():
    model = keras.Sequential([keras.layers.Dense(4)])
    objectives = Objectives.from_arguments(
        "val_accuracy", [kh.Constraint("params", at_most=1)]
    )
    trial = Trial(1, {}, RUNNING)
    assert measures.before_training(objectives, trial, model) == {}
    assert trial.status == RUNNING


def test_after_training_reads_metrics_at_the_best_epoch_and_checks_limits():
    objectives = Objectives.from_arguments(
        ["val_accuracy", "val_loss", "params"],
        [kh.Constraint("val_loss", at_most=0.5)],
    )
    trial = trained_trial()
    measures.after_training(objectives, trial, tiny_model(), {"params": 7})
    assert trial.extra["objectives"] == {
        "val_accuracy": 0.9,
        "val_loss": 0.7,
        "params": 7,  # measured before training, not again
    }
    assert trial.status == INFEASIBLE
    assert trial.extra["violations"] == ["val_loss=0.7 > 0.5"]
    assert trial.score == 0.9  # recorded with its values


def test_after_training_names_a_metric_the_model_does_not_report():
    objectives = Objectives.from_arguments(["val_accuracy", "val_auc"])
    with pytest.raises(
        ObjectiveNotFoundError,
        match=re.escape(
            "The objective or constraint 'val_auc' is not among the metrics the "
            "model reports: ['val_accuracy', 'val_loss']."
        ),
    ):
        measures.after_training(objectives, trained_trial(), tiny_model(), {})


def test_a_non_finite_metric_at_the_best_epoch_fails_the_trial():
    objectives = Objectives.from_arguments(["val_accuracy", "val_loss"])
    trial = trained_trial()
    trial.history[1]["val_loss"] = np.nan
    with pytest.raises(FailedTrialError, match="val_loss was nan at the best epoch"):
        measures.after_training(objectives, trial, tiny_model(), {})

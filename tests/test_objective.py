"""Tests for keras_hparams/objective.py: the metric a search optimizes."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.objective import Objective


@pytest.mark.parametrize(
    "name, direction",
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("acc", "max"),
        ("val_acc", "max"),
        ("val_auc", "max"),
        ("val_auc_1", "max"),
        ("val_AUC", "max"),
        ("mean_absolute_error", "min"),
        ("val_mean_squared_error", "min"),
        ("val_root_mean_squared_error", "min"),
        ("val_mean_absolute_percentage_error", "min"),
        ("val_mean_squared_logarithmic_error", "min"),
        ("val_mse", "min"),
        ("val_mae", "min"),
        ("val_rmse", "min"),
        ("val_binary_crossentropy", "min"),
        ("val_sparse_categorical_crossentropy", "min"),
        ("val_kl_divergence", "min"),
        ("val_hinge", "min"),
        ("val_squared_hinge", "min"),
        ("val_poisson", "min"),
        ("val_logcosh", "min"),
        ("val_huber", "min"),
        ("val_output_1_loss", "min"),
        ("val_sparse_categorical_accuracy", "max"),
        ("val_categorical_accuracy", "max"),
        ("val_binary_accuracy", "max"),
        ("val_top_k_categorical_accuracy", "max"),
        ("val_precision", "max"),
        ("val_recall", "max"),
        ("val_precision_at_recall", "max"),
        ("val_f1_score", "max"),
        ("val_fbeta_score", "max"),
        ("val_r2_score", "max"),
        ("val_iou", "max"),
    ],
)
def test_direction_is_inferred_from_the_name(name, direction):
    objective = Objective.from_argument(name)
    assert objective.name == name
    assert objective.direction == direction


@pytest.mark.parametrize(
    "name", ["val_mean_io_u", "val_binary_io_u", "val_one_hot_io_u"]
)
def test_direction_of_keras_iou_metric_names(name):
    assert Objective.from_argument(name).direction == "max"


@pytest.mark.parametrize(
    "name", ["val_foo", "foo", "val_", "val_accuracy_loss", "val_false_positives"]
)
def test_unknown_or_ambiguous_name_asks_for_an_objective(name):
    expected = (
        f"Cannot tell whether to minimize or maximize objective={name!r}. "
        f"Pass kh.Objective({name!r}, 'min') or kh.Objective({name!r}, 'max')."
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        Objective.from_argument(name)


def test_from_argument_passes_an_objective_through():
    objective = kh.Objective("val_foo", "max")
    assert Objective.from_argument(objective) is objective


@pytest.mark.parametrize("argument", [None, 3, ["val_loss"], {"name": "val_loss"}])
def test_from_argument_rejects_other_types(argument):
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Tuner(objective=...) expects a metric name or a kh.Objective. "
            f"Received: {argument!r}."
        ),
    ):
        Objective.from_argument(argument)


@pytest.mark.parametrize("direction", ["MIN", "", None, "maximise", ["max"]])
def test_bad_direction(direction):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "For Objective('val_auc'), expected direction 'min' or 'max' (or "
            f"'minimize', 'maximize'). Received: direction={direction!r}."
        ),
    ):
        kh.Objective("val_auc", direction)


@pytest.mark.parametrize(
    ("direction", "stored"), [("minimize", "min"), ("maximize", "max")]
)
def test_optuna_directions_are_stored_as_min_and_max(direction, stored):
    objective = kh.Objective("val_loss", direction)
    assert objective.direction == stored
    assert objective == kh.Objective("val_loss", stored)
    assert objective.get_config() == {"name": "val_loss", "direction": stored}
    assert kh.Objective.from_config(objective.get_config()) == objective
    assert objective.better(0.1, 0.2) is (stored == "min")


@pytest.mark.parametrize("name", ["", None, 5])
def test_name_must_be_a_non_empty_string(name):
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"Objective name must be a non-empty string. Received: {name!r}."
        ),
    ):
        kh.Objective(name, "min")


def test_better_when_minimizing():
    objective = kh.Objective("val_loss", "min")
    assert objective.better(0.1, 0.2)
    assert not objective.better(0.2, 0.1)
    assert not objective.better(0.2, 0.2)
    assert objective.better(5.0, None)
    assert objective.better(5.0, float("nan"))
    assert not objective.better(float("nan"), 0.2)


def test_better_when_maximizing():
    objective = kh.Objective("val_accuracy", "max")
    assert objective.better(0.9, 0.8)
    assert not objective.better(0.8, 0.9)
    assert not objective.better(0.8, 0.8)
    assert objective.better(0.0, None)
    assert objective.better(np.float32(0.5), np.float64(0.4))


def test_best_epoch_when_minimizing():
    objective = kh.Objective("val_loss", "min")
    history = [
        {"val_loss": 0.9},
        {"val_loss": 0.4},
        {"val_loss": 0.5},
        {"val_loss": 0.4},
    ]
    assert objective.best_epoch(history) == 1  # the earliest among equals


def test_best_epoch_when_maximizing():
    objective = kh.Objective("val_accuracy", "max")
    history = [
        {"val_accuracy": 0.5},
        {"val_accuracy": 0.7},
        {"val_accuracy": 0.9},
        {"val_accuracy": 0.8},
    ]
    assert objective.best_epoch(history) == 2


def test_best_epoch_skips_nan_none_inf_and_missing_values():
    objective = kh.Objective("val_loss", "min")
    history = [
        {"val_loss": float("nan")},
        {"val_loss": None},
        {"loss": 0.01},
        {"val_loss": 0.7},
        {"val_loss": float("-inf")},
        {"val_loss": float("nan")},
        {"val_loss": 0.6},
        {"val_loss": None},
    ]
    assert objective.best_epoch(history) == 6
    assert (
        kh.Objective("val_accuracy", "max").best_epoch(
            [{"val_accuracy": float("inf")}, {"val_accuracy": 0.2}]
        )
        == 1
    )


def test_best_epoch_of_nothing_is_none():
    objective = kh.Objective("val_loss", "min")
    assert objective.best_epoch([]) is None
    assert (
        objective.best_epoch(
            [{"val_loss": float("nan")}, {"val_loss": None}, {"loss": 1.0}]
        )
        is None
    )


def test_best_epoch_after_a_nan_first_epoch():
    objective = kh.Objective("val_accuracy", "max")
    history = [{"val_accuracy": math.nan}, {"val_accuracy": 0.3}, {"val_accuracy": 0.2}]
    assert objective.best_epoch(history) == 1


@pytest.mark.parametrize(
    "objective",
    [
        kh.Objective("val_loss", "min"),
        kh.Objective("val_auc", "max"),
        Objective.from_argument("val_accuracy"),
    ],
)
def test_config_round_trip(objective):
    config = objective.get_config()
    assert config == {"name": objective.name, "direction": objective.direction}
    assert Objective.from_config(config) == objective
    assert Objective.from_config(json.loads(json.dumps(config))) == objective


def test_equality_and_repr():
    assert kh.Objective("val_auc", "max") == kh.Objective("val_auc", "max")
    assert kh.Objective("val_auc", "max") != kh.Objective("val_auc", "min")
    assert kh.Objective("val_auc", "max") != "val_auc"
    assert repr(kh.Objective("val_auc", "max")) == "Objective('val_auc', 'max')"


# -- measured objectives ----------------------------------------------------------
@pytest.mark.parametrize(
    "objective, config, text",
    [
        (
            kh.Objective.params(),
            {"name": "params", "direction": "min", "measure": "params"},
            "Objective.params('min')",
        ),
        (
            kh.Objective.size("min"),
            {"name": "size", "direction": "min", "measure": "size"},
            "Objective.size('min')",
        ),
        (
            kh.Objective.latency(batch_size=32),
            {
                "name": "latency",
                "direction": "min",
                "measure": "latency",
                "batch_size": 32,
                "warmup": 3,
                "repeats": 20,
            },
            "Objective.latency('min', batch_size=32)",
        ),
    ],
)
def test_measured_objectives_round_trip(objective, config, text):
    assert objective.get_config() == config
    assert not objective.is_metric
    restored = Objective.from_config(json.loads(json.dumps(config)))
    assert restored == objective and restored.options == objective.options
    assert repr(objective) == text


def test_an_objective_of_your_own_stores_that_it_has_a_function():
    objective = kh.Objective("gap", "min", measure=lambda model, history: 0.0)
    assert objective.get_config() == {
        "name": "gap",
        "direction": "min",
        "measure": "function",
    }
    assert repr(objective) == "Objective('gap', 'min', measure=...)"
    restored = Objective.from_config(objective.get_config())
    assert restored == objective
    with pytest.raises(RuntimeError, match="function that measures objective 'gap'"):
        restored.function(None, {})


@pytest.mark.parametrize("name", ["params", "latency", "size"])
def test_measure_names_as_strings_are_minimized(name):
    objective = Objective.from_argument(name)
    assert objective.measure == name and objective.direction == "min"


def test_measure_must_be_callable():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "For Objective('gap'), expected measure a function "
            "measure(model, history) -> float, or None. Received: 3."
        ),
    ):
        kh.Objective("gap", "min", measure=3)


@pytest.mark.parametrize(
    "argument, value, minimum",
    [("batch_size", 0, 1), ("warmup", -1, 0), ("repeats", 0, 1)],
)
def test_latency_options_are_checked(argument, value, minimum):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Objective.latency({argument}=...) expects an integer >= {minimum}. "
            f"Received: {value}."
        ),
    ):
        kh.Objective.latency(**{argument: value})

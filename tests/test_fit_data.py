"""Tests for keras_hparams/fit_data.py: search()'s data checks, reached through
fit_arguments.plan() as search() reaches them."""

import re

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import fit_arguments


def batched_dataset():
    import tensorflow as tf

    x, y = np.zeros((10, 2), "float32"), np.zeros(10)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            (np.zeros((300, 4)), np.zeros(200)),
            {},
            "search() received data of different lengths: x has 300 rows, y has 200 "
            "rows (as given, before any validation split). model.fit needs one row "
            "of y (and of sample_weight) for each row of x, and every input with the "
            "same number of rows.",
        ),
        (
            (),
            {"x": {"a": np.zeros((10, 2)), "b": np.zeros((9, 2))}, "y": np.zeros(10)},
            "x['a'] has 10 rows, x['b'] has 9 rows, y has 10 rows",
        ),
        (
            ([np.zeros((10, 2)), np.zeros((10, 3))], np.zeros(10)),
            {"sample_weight": np.ones(8)},
            "x[0] has 10 rows, x[1] has 10 rows, y has 10 rows, sample_weight has "
            "8 rows",
        ),
        (
            (np.zeros((10, 2)), np.zeros(10)),
            {"validation_data": (np.zeros((5, 2)), np.zeros(4))},
            "search(validation_data=...) received data of different lengths: "
            "validation_data x has 5 rows, validation_data y has 4 rows",
        ),
    ],
)
def test_data_of_different_lengths_is_refused_with_the_lengths_as_given(
    args, kwargs, message
):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_arguments.plan(args, kwargs, cv=None)


def test_cv_data_lengths_are_checked_before_the_folds():
    with pytest.raises(ValueError, match=r"x has 9 rows, y has 8 rows"):
        fit_arguments.plan((np.zeros((9, 1)), np.zeros(8)), {}, cv=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"validation_split": 0.2},
            "search(validation_split=0.2) splits in-memory arrays, and x is a "
            "tf.data.Dataset, which Keras cannot split. Pass validation_data= (a "
            "second pipeline, or arrays), or pass x and y as arrays.",
        ),
        (
            {"validation_split": kh.Float(0.1, 0.3)},
            "search(validation_split=Float(low=0.1, high=0.3",
        ),
        (
            {"batch_size": kh.Choice([16, 32])},
            "search(batch_size=Choice(values=[16, 32], default=16)) has no effect "
            "when x is a tf.data.Dataset: Keras trains on the batches it yields. "
            "Batch in the pipeline (dataset.batch(32)), or pass x and y as arrays to "
            "set or tune batch_size.",
        ),
        ({"batch_size": 8}, "search(batch_size=8) has no effect when x is"),
        (
            {"y": np.zeros(10)},
            "search() received x as a tf.data.Dataset, which yields its own targets "
            "and weights, and y too.",
        ),
    ],
)
def test_dataset_arguments_keras_would_refuse_or_ignore(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_arguments.plan((), {"x": batched_dataset(), **kwargs})


def test_a_generator_cannot_be_split_either():
    batches = ((np.zeros((2, 2)), np.zeros(2)) for _ in range(3))
    with pytest.raises(ValueError, match=r"x is a generator \(an iterator\)"):
        fit_arguments.plan((batches,), {"validation_split": 0.1})


def test_a_dataset_with_validation_data_passes():
    plan = fit_arguments.plan(
        (batched_dataset(),),
        {"validation_data": batched_dataset(), "epochs": 2},
        objective_name="val_loss",
    )
    assert set(plan.kwargs) == {"validation_data", "epochs"}


def test_data_given_as_a_function_is_checked_where_it_is_made():
    plan = fit_arguments.plan((batched_dataset,), {}, objective_name="loss")
    assert plan.args == (batched_dataset,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {},
            "The objective 'val_accuracy' is measured on validation data, and "
            "search() received none. Pass validation_split=0.2 or "
            "validation_data=(x_val, y_val) to search(), use Tuner(cv=k), or choose "
            "an objective without val_ (objective='accuracy').",
        ),
        ({"validation_split": 0.0}, "search() received none"),
        (
            {"validation_split": kh.Float(0.0, 0.3)},
            "search(validation_split=Float(low=0.0, high=0.3, step=None, log=False, "
            "default=0.0)) can give 0.0, which leaves none. Give the marker values "
            "above 0, or pass validation_data=.",
        ),
    ],
)
def test_a_validation_objective_needs_validation_data(kwargs, message):
    data = (np.zeros((10, 2)), np.zeros(10))
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_arguments.plan(data, kwargs, objective_name="val_accuracy")


@pytest.mark.parametrize(
    ("kwargs", "objective", "cv"),
    [
        ({"validation_split": 0.2}, "val_accuracy", None),
        ({"validation_split": kh.Choice([0.1, 0.2])}, "val_loss", None),
        ({"validation_data": (np.zeros((4, 2)), np.zeros(4))}, "val_loss", None),
        ({}, "val_loss", 2),
        ({}, "accuracy", None),
        ({}, None, None),
    ],
)
def test_validation_given_or_not_needed_passes(kwargs, objective, cv):
    data = (np.zeros((10, 2)), np.zeros(10))
    fit_arguments.plan(data, kwargs, objective_name=objective, cv=cv)


def test_cv_refuses_a_validation_split_marker_too():
    with pytest.raises(ValueError, match="cannot take validation_split too"):
        fit_arguments.plan(
            (np.zeros((9, 1)), np.zeros(9)),
            {"validation_split": kh.Float(0.1, 0.3)},
            cv=3,
        )

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import fit_arguments


def test_plan_splits_tuned_from_fixed_arguments():
    x, y = np.zeros((10, 2)), np.zeros(10)
    plan = fit_arguments.plan((x, y), {"epochs": 3, "batch_size": kh.Choice([8, 16])})
    assert plan.space.names == ["batch_size"]
    assert plan.kwargs == {"epochs": 3}
    ((args, kwargs),) = plan.calls({"batch_size": 16})
    assert args == (x, y) and kwargs == {"epochs": 3, "batch_size": 16}


def test_executions_repeat_each_call():
    plan = fit_arguments.plan((np.zeros((4, 1)),), {}, executions=3)
    assert plan.runs == 3 and len(plan.calls({})) == 3


def test_folds_partition_the_rows_the_same_way_each_time():
    x = np.arange(20).reshape(10, 2).astype("float32")
    y = np.arange(10)
    plan = fit_arguments.plan((x, y), {"epochs": 1}, cv=3, seed=0)
    again = fit_arguments.plan((x, y), {"epochs": 1}, cv=3, seed=0)
    held_out = [set(v) for _, v in plan.folds]
    assert sorted(len(s) for s in held_out) == [3, 3, 4]
    assert set().union(*held_out) == set(range(10))
    assert all(not a & b for a in held_out for b in held_out if a is not b)
    for (t1, v1), (_, v2) in zip(plan.folds, again.folds, strict=True):
        assert set(t1) | set(v1) == set(range(10)) and not set(t1) & set(v1)
        np.testing.assert_array_equal(v1, v2)
    calls = plan.calls({})
    assert len(calls) == 3
    (args, kwargs) = calls[0]
    assert args == ()
    train, validation = plan.folds[0]
    np.testing.assert_array_equal(kwargs["x"], x[train])
    np.testing.assert_array_equal(kwargs["validation_data"][1], y[validation])
    assert kwargs["epochs"] == 1


def test_folds_split_dict_inputs_and_sample_weights():
    x = {"a": np.zeros((6, 1)), "b": np.ones((6, 2))}
    y, w = np.arange(6), np.linspace(0, 1, 6)
    plan = fit_arguments.plan((), {"x": x, "y": y, "sample_weight": w}, cv=2, seed=1)
    (_, kwargs), _ = plan.calls({})
    assert kwargs["x"]["b"].shape == (3, 2)
    assert len(kwargs["validation_data"]) == 3  # x, y, sample_weight


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (
            (np.zeros((9, 1)), np.zeros(9)),
            {"validation_split": 0.2},
            r"cannot take validation_split too\. Received: validation_split=0\.2",
        ),
        (
            (np.zeros((9, 1)), np.zeros(9)),
            {"validation_data": (1, 2)},
            "cannot take validation_data",
        ),
        (([[1.0], [2.0]] * 5, np.zeros(10)), {}, "splits in-memory arrays.*list"),
        ((np.zeros((2, 1)), np.zeros(2)), {}, r"needs at least 3 rows\. Received: 2"),
    ],
)
def test_cv_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_arguments.plan(args, kwargs, cv=3)


def test_uncopyable_callback_is_refused():
    class Holder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.generator = (i for i in range(3))  # generators cannot be copied

    with pytest.raises(TypeError, match="copies each callback for every trial"):
        fit_arguments.plan((), {"callbacks": [Holder()]})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": kh.Choice("bs", [0, 32])}, r"batch_size.*can give 0"),
        ({"epochs": kh.Int(2, 5), "initial_epoch": 2}, r"initial_epoch.*below epochs"),
        ({"validation_split": kh.Float(0.1, 1.0)}, r"validation_split.*can give 1.0"),
        ({"shuffle": "yes"}, "shuffle"),
    ],
)
def test_fit_values_are_checked_by_every_value_a_marker_can_give(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_arguments.plan((), kwargs)


def test_good_fit_values_and_markers_pass():
    plan = fit_arguments.plan(
        (),
        {
            "epochs": kh.Int(2, 5),
            "initial_epoch": 1,
            "batch_size": kh.Choice("bs", [16, 32]),
            "validation_split": 0.2,
            "verbose": 0,
        },
    )
    assert plan.space.names == ["epochs", "bs"]

"""Tests of `kh.TunableModel` (keras_hparams/wrapper.py and its _wrapper_* helpers)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re

import keras
import numpy as np
import pytest

from keras_hparams.errors import FailedTrialError
from keras_hparams.space import Boolean, Choice, Fixed, Float, Int
from keras_hparams.tunable import BuildContext, as_builder, tunable
from keras_hparams.wrapper import TunableModel


def make_mlp(optimizer=None, units=8) -> keras.Model:
    """The kind of model a user already has: built and compiled by their own code."""
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(
                units,
                activation="relu",
                name="dense_1",
                kernel_regularizer=keras.regularizers.L2(0.01),
            ),
            keras.layers.Dropout(0.1, name="dropout_1"),
            keras.layers.Dense(8, activation="relu", name="dense_2"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ],
        name="mlp",
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_functional() -> keras.Model:
    """A Functional model with a nested Sequential block and two outputs."""
    head = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(6, activation="relu", name="inner_dense"),
            keras.layers.Dropout(0.2, name="inner_drop"),
            keras.layers.Dense(6, activation="relu", name="inner_last"),
        ],
        name="head",
    )
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(5, activation="relu", name="dense_a")(inputs)
    hidden = keras.layers.Dense(8, activation="relu", name="dense_b")(hidden)
    features = head(hidden)
    label = keras.layers.Dense(3, activation="softmax", name="label")(features)
    score = keras.layers.Dense(1, name="score")(features)
    model = keras.Model(inputs, {"label": label, "score": score}, name="two_heads")
    model.compile(
        optimizer="adam",
        loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
        loss_weights={"label": 1.0, "score": 0.5},
        metrics={"label": ["accuracy"]},
    )
    return model


def make_cnn() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_1"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ],
        name="cnn",
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def layer_config(model: keras.Model, name: str) -> dict:
    for layer in model.layers:
        if layer.name == name:
            return layer.get_config()
    raise AssertionError(
        f"no layer {name!r} in {[layer.name for layer in model.layers]}"
    )


def optimizer_config(model: keras.Model) -> dict:
    return model.get_compile_config()["optimizer"]["config"]


def without_build_configs(config):
    if isinstance(config, dict):
        return {
            k: without_build_configs(v)
            for k, v in config.items()
            if k not in ("build_config", "compile_config")
        }
    if isinstance(config, list):
        return [without_build_configs(v) for v in config]
    return config


class Snapshot:
    """The base model's configs, to check that tuning never changes them."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.config = model.get_config()
        self.compile_config = model.get_compile_config()

    def unchanged(self) -> bool:
        return (
            self.model.get_config() == self.config
            and self.model.get_compile_config() == self.compile_config
        )


# -- layer argument keys -------------------------------------------------------------


def test_units_key_makes_one_dimension_per_matched_layer():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(base, {"dense*.units": Int(4, 64, step=4)})
    assert tunable_model.space.names == ["dense_1.units", "dense_2.units"]
    model = tunable_model.build({"dense_1.units": 32, "dense_2.units": 12})
    assert layer_config(model, "dense_1")["units"] == 32
    assert layer_config(model, "dense_2")["units"] == 12
    assert model.output_shape == (None, 3)
    assert snapshot.unchanged()


def test_rate_activation_and_initializer_keys():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "dropout*.rate": Float(0.0, 0.5),
            "dense_2.activation": Choice(["relu", "tanh"]),
            "*.kernel_initializer": Choice(["glorot_uniform", "he_normal"]),
        },
    )
    # The glob reaches only the layers that have the argument: no dropout here.
    assert "dropout_1.kernel_initializer" not in tunable_model.space
    model = tunable_model.build(
        {
            "dropout_1.rate": 0.35,
            "dense_2.activation": "tanh",
            "out.kernel_initializer": "he_normal",
        }
    )
    assert layer_config(model, "dropout_1")["rate"] == 0.35
    assert layer_config(model, "dense_2")["activation"] == "tanh"
    assert layer_config(model, "out")["kernel_initializer"]["class_name"] == "HeNormal"
    assert layer_config(model, "dense_1")["kernel_initializer"]["class_name"] == (
        "GlorotUniform"
    )
    assert snapshot.unchanged()


def test_conv_filters_and_kernel_size_keys():
    base = make_cnn()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "conv_1.filters": Int(2, 16, step=2),
            "conv_1.kernel_size": Choice([3, 5]),
        },
    )
    assert tunable_model.space["conv_1.kernel_size"].default == 3  # base's (3, 3)
    model = tunable_model.build({"conv_1.filters": 6, "conv_1.kernel_size": 5})
    config = layer_config(model, "conv_1")
    assert config["filters"] == 6
    assert tuple(config["kernel_size"]) == (5, 5)
    assert model.predict(np.zeros((2, 8, 8, 1)), verbose=0).shape == (2, 10)
    assert snapshot.unchanged()


def test_nested_argument_reaches_regularizer_strength():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "dense*.kernel_regularizer.l2": Float(1e-4, 1e-1, log=True),
        },
    )
    # dense_2 has no regularizer, so the glob leaves it out.
    assert tunable_model.space.names == ["dense_1.kernel_regularizer.l2"]
    assert tunable_model.space["dense_1.kernel_regularizer.l2"].default == 0.01
    model = tunable_model.build({"dense_1.kernel_regularizer.l2": 0.003})
    regularizer = layer_config(model, "dense_1")["kernel_regularizer"]
    assert regularizer["config"]["l2"] == pytest.approx(0.003)
    assert snapshot.unchanged()


def test_object_argument_chosen_by_name():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base, {"dense_1.kernel_regularizer": Choice([None, "l2", "l1"])}
    )
    # The base's L2(0.01) is what "l2" names, so it is the default.
    assert tunable_model.space["dense_1.kernel_regularizer"].default == "l2"
    model = tunable_model.build({"dense_1.kernel_regularizer": None})
    assert layer_config(model, "dense_1")["kernel_regularizer"] is None
    model = tunable_model.build({"dense_1.kernel_regularizer": "l1"})
    assert layer_config(model, "dense_1")["kernel_regularizer"]["class_name"] == "L1"
    assert snapshot.unchanged()


def test_named_marker_is_shared_by_every_matched_layer():
    tunable_model = TunableModel(make_mlp(), {"dense*.units": Int("width", 4, 64)})
    assert tunable_model.space.names == ["width"]
    model = tunable_model.build({"width": 20})
    assert layer_config(model, "dense_1")["units"] == 20
    assert layer_config(model, "dense_2")["units"] == 20


def test_defaults_reproduce_the_base_model():
    base = make_mlp()
    tunable_model = TunableModel(
        base,
        {
            "dense*.units": Int(4, 64),
            "dropout_1.rate": Float(0.0, 0.5),
            "*.kernel_initializer": Choice(["he_normal", "glorot_uniform"]),
            "dense_2.activation": Choice(["tanh", "relu"]),
            "optimizer.learning_rate": Float(1e-4, 1e-1, log=True),
            "optimizer.momentum": Float(0.0, 0.99),
        },
    )
    defaults = tunable_model.space.defaults()
    assert defaults["dense_1.units"] == 8
    assert defaults["dropout_1.rate"] == 0.1
    assert defaults["dense_1.kernel_initializer"] == "glorot_uniform"
    assert defaults["dense_2.activation"] == "relu"
    assert defaults["optimizer.learning_rate"] == 0.05
    assert defaults["optimizer.momentum"] == 0.9
    model = tunable_model.build()
    assert without_build_configs(model.get_config()) == without_build_configs(
        base.get_config()
    )
    assert model.get_compile_config() == base.get_compile_config()


def test_explicit_default_is_kept():
    tunable_model = TunableModel(make_mlp(), {"dense_1.units": Int(4, 64, default=16)})
    assert tunable_model.space["dense_1.units"].default == 16
    assert layer_config(tunable_model.build(), "dense_1")["units"] == 16


def test_built_model_is_fresh_and_compiled_like_the_base():
    base = make_functional()
    snapshot = Snapshot(base)
    base_kernel = base.get_layer("dense_b").kernel.numpy().copy()
    tunable_model = TunableModel(base, {"dense_b.units": Int(4, 16)})
    model = tunable_model.build({"dense_b.units": 8})
    assert model is not base
    assert model.get_layer("dense_b") is not base.get_layer("dense_b")
    assert not np.allclose(model.get_layer("dense_b").kernel.numpy(), base_kernel)
    built_compile = dict(model.get_compile_config(), optimizer=None)
    base_compile = dict(base.get_compile_config(), optimizer=None)
    assert built_compile == base_compile  # same loss, loss weights and metrics
    np.testing.assert_array_equal(base.get_layer("dense_b").kernel.numpy(), base_kernel)
    assert snapshot.unchanged()


def test_functional_model_with_nested_sequential():
    base = make_functional()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "dense_a.units": Int(2, 16),
            "inner_*.units": Int(2, 16),
            "head/inner_drop.rate": Float(0.0, 0.5),
            "head/inner_drop.include": Boolean(),
            "head/inner_last.repeat": Int(1, 3),
        },
    )
    assert tunable_model.space.names == [
        "dense_a.units",
        "head/inner_dense.units",
        "head/inner_last.units",
        "head/inner_drop.rate",
        "head/inner_drop.include",
        "head/inner_last.repeat",
    ]
    model = tunable_model.build(
        {
            "dense_a.units": 12,
            "head/inner_dense.units": 3,
            "head/inner_last.units": 7,
            "head/inner_drop.include": False,
            "head/inner_last.repeat": 2,
        }
    )
    assert model.get_layer("dense_a").units == 12
    head = model.get_layer("head")
    assert [layer.name for layer in head.layers] == [
        "inner_dense",
        "inner_last",
        "inner_last_2",
    ]
    assert head.get_layer("inner_dense").units == 3
    assert head.get_layer("inner_last_2").units == 7
    outputs = model.predict(np.zeros((2, 4)), verbose=0)
    assert outputs["label"].shape == (2, 3)
    assert snapshot.unchanged()


def test_unregistered_custom_layer_is_rebuilt():
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    base = keras.Sequential(
        [keras.Input((3,)), Scale(name="scale"), keras.layers.Dense(1, name="out")]
    )
    base.compile(optimizer="sgd", loss="mse")
    model = TunableModel(base, {"scale.factor": Float(0.5, 4.0)}).build(
        {"scale.factor": 3.0}
    )
    assert model.get_layer("scale").factor == 3.0


# -- structure keys ------------------------------------------------------------------


def test_repeat_a_layer():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "dense_2.repeat": Int(1, 4),
            "dense_2.units": Int(4, 32),
        },
    )
    assert tunable_model.space["dense_2.repeat"].default == 1
    model = tunable_model.build({"dense_2.repeat": 3, "dense_2.units": 16})
    names = [layer.name for layer in model.layers]
    assert names == ["dense_1", "dropout_1", "dense_2", "dense_2_2", "dense_2_3", "out"]
    assert all(
        model.get_layer(n).units == 16 for n in ("dense_2", "dense_2_2", "dense_2_3")
    )
    assert model.predict(np.zeros((2, 6)), verbose=0).shape == (2, 3)
    assert snapshot.unchanged()


def test_repeat_a_block_of_layers():
    base = make_mlp()
    tunable_model = TunableModel(
        base, {"dense_1+dropout_1.repeat": Int("blocks", 1, 3)}
    )
    model = tunable_model.build({"blocks": 2})
    assert [layer.name for layer in model.layers] == [
        "dense_1",
        "dropout_1",
        "dense_1_2",
        "dropout_1_2",
        "dense_2",
        "out",
    ]
    assert [layer.name for layer in base.layers] == [
        "dense_1",
        "dropout_1",
        "dense_2",
        "out",
    ]


def test_include_leaves_a_layer_out_and_its_arguments_inactive():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "dropout_1.include": Boolean(),
            "dropout_1.rate": Float(0.0, 0.5),
        },
    )
    assert tunable_model.space["dropout_1.include"].default is True  # as in the base
    model = tunable_model.build({"dropout_1.include": False})
    assert [layer.name for layer in model.layers] == ["dense_1", "dense_2", "out"]
    context = BuildContext(tunable_model.space, {"dropout_1.include": False})
    tunable_model.build_in(context)
    assert "dropout_1.rate" not in context.active
    with pytest.raises(ValueError, match=r"\['dropout_1.rate'\], which are inactive"):
        tunable_model.build({"dropout_1.include": False, "dropout_1.rate": 0.2})
    assert snapshot.unchanged()


def test_repeat_zero_times_removes_the_layer():
    tunable_model = TunableModel(make_mlp(), {"dense_2.repeat": Int(0, 2)})
    assert tunable_model.space["dense_2.repeat"].default == 1
    model = tunable_model.build({"dense_2.repeat": 0})
    assert [layer.name for layer in model.layers] == ["dense_1", "dropout_1", "out"]


# -- optimizer keys ------------------------------------------------------------------


def test_optimizer_choice_and_inactive_argument():
    base = make_mlp()
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "optimizer": Choice(["adam", "sgd"]),
            "optimizer.momentum": Float(0.0, 0.99),
            "optimizer.beta_1": Float(0.8, 0.99),
        },
    )
    assert tunable_model.space["optimizer"].default == "sgd"
    sgd = tunable_model.build({"optimizer": "sgd", "optimizer.momentum": 0.5})
    assert type(sgd.optimizer) is keras.optimizers.SGD
    assert optimizer_config(sgd)["momentum"] == 0.5
    context = BuildContext(
        tunable_model.space, {"optimizer": "adam", "optimizer.beta_1": 0.85}
    )
    adam = tunable_model.build_in(context)
    assert type(adam.optimizer) is keras.optimizers.Adam
    assert optimizer_config(adam)["beta_1"] == 0.85
    assert "optimizer.momentum" not in context.active
    # The learning rate the model's author set carries over to the chosen optimizer.
    assert optimizer_config(adam)["learning_rate"] == pytest.approx(0.05)
    assert snapshot.unchanged()


def test_learning_rate_and_weight_decay_keys():
    base = make_mlp(optimizer=keras.optimizers.AdamW(0.002))
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "optimizer.learning_rate": Float(1e-4, 1e-1, log=True),
            "optimizer.weight_decay": Float(0.0, 0.1),
        },
    )
    assert tunable_model.space["optimizer.learning_rate"].default == 0.002
    model = tunable_model.build(
        {"optimizer.learning_rate": 0.01, "optimizer.weight_decay": 0.05}
    )
    config = optimizer_config(model)
    assert config["learning_rate"] == pytest.approx(0.01)
    assert config["weight_decay"] == pytest.approx(0.05)
    assert snapshot.unchanged()


def test_schedule_arguments_of_the_base_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)
    base = make_mlp(optimizer=keras.optimizers.SGD(schedule))
    snapshot = Snapshot(base)
    tunable_model = TunableModel(
        base,
        {
            "optimizer.learning_rate": Float(1e-4, 1e-1, log=True),
            "optimizer.learning_rate.decay_rate": Float(0.5, 0.99),
            "optimizer.learning_rate.decay_steps": Int(10, 1000),
        },
    )
    defaults = tunable_model.space.defaults()
    assert defaults == {
        "optimizer.learning_rate": 0.01,
        "optimizer.learning_rate.decay_rate": 0.9,
        "optimizer.learning_rate.decay_steps": 100,
    }
    model = tunable_model.build(
        {"optimizer.learning_rate": 0.02, "optimizer.learning_rate.decay_rate": 0.6}
    )
    rate = optimizer_config(model)["learning_rate"]
    assert rate["class_name"] == "ExponentialDecay"
    assert rate["config"]["initial_learning_rate"] == 0.02
    assert rate["config"]["decay_rate"] == 0.6
    assert rate["config"]["decay_steps"] == 100
    assert snapshot.unchanged()


def test_choose_constant_rate_or_decay_schedule():
    base = make_mlp()
    tunable_model = TunableModel(
        base,
        {
            "optimizer.learning_rate": Float(1e-4, 1e-1, log=True),
            "optimizer.learning_rate.schedule": Choice(
                ["constant", "exponential_decay", "cosine_decay"]
            ),
            "optimizer.learning_rate.decay_steps": Fixed(50),
            "optimizer.learning_rate.decay_rate": Float(0.5, 0.99),
        },
    )
    assert tunable_model.space["optimizer.learning_rate.schedule"].default == "constant"
    context = BuildContext(tunable_model.space, {"optimizer.learning_rate": 0.02})
    constant = tunable_model.build_in(context)
    assert optimizer_config(constant)["learning_rate"] == pytest.approx(0.02)
    assert "optimizer.learning_rate.decay_rate" not in context.active
    decaying = tunable_model.build(
        {
            "optimizer.learning_rate": 0.02,
            "optimizer.learning_rate.schedule": "exponential_decay",
            "optimizer.learning_rate.decay_rate": 0.7,
        }
    )
    rate = optimizer_config(decaying)["learning_rate"]
    assert rate["class_name"] == "ExponentialDecay"
    assert rate["config"] == {
        "initial_learning_rate": 0.02,
        "decay_steps": 50,
        "decay_rate": 0.7,
        "staircase": False,
        "name": "ExponentialDecay",
    }
    context = BuildContext(
        tunable_model.space, {"optimizer.learning_rate.schedule": "cosine_decay"}
    )
    cosine = tunable_model.build_in(context)
    assert optimizer_config(cosine)["learning_rate"]["class_name"] == "CosineDecay"
    assert "optimizer.learning_rate.decay_rate" not in context.active  # not Cosine's


def test_schedule_choice_can_turn_a_base_schedule_constant():
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.03, 10, 0.5)
    tunable_model = TunableModel(
        make_mlp(optimizer=keras.optimizers.Adam(schedule)),
        {
            "optimizer.learning_rate.schedule": Choice([None, "inverse_time_decay"]),
        },
    )
    assert tunable_model.space["optimizer.learning_rate.schedule"].default == (
        "inverse_time_decay"
    )
    model = tunable_model.build({"optimizer.learning_rate.schedule": None})
    assert optimizer_config(model)["learning_rate"] == pytest.approx(0.03)


# -- builders and the tuner ----------------------------------------------------------


def test_random_draws_stay_in_their_dimensions():
    tunable_model = TunableModel(
        make_mlp(),
        {
            "dense*.units": Int(2, 16),
            "dropout_1.include": Boolean(),
            "optimizer": Choice(["adam", "sgd", "rmsprop"]),
            "optimizer.momentum": Float(0.0, 0.9),
        },
    )
    rng = np.random.default_rng(0)
    for _ in range(3):
        context = BuildContext(tunable_model.space, rng=rng)
        model = tunable_model.build_in(context)
        assert all(
            tunable_model.space[n].contains(v) for n, v in context.active.items()
        )
        assert (
            layer_config(model, "dense_1")["units"] == context.active["dense_1.units"]
        )


def test_interchangeable_with_a_tunable_function():
    @tunable
    def build_model():
        return make_mlp(units=Int("dense_1.units", 4, 16, default=8))

    build_model()  # a plain call finds the function's dimensions
    tunable_model = TunableModel(make_mlp(), {"dense_1.units": Int(4, 16)})
    assert tunable_model.space == build_model.space
    configs = []
    for builder in (build_model, tunable_model):
        assert as_builder(builder) is builder
        context = BuildContext(builder.space, {"dense_1.units": 12})
        assert layer_config(builder.build_in(context), "dense_1")["units"] == 12
        assert context.active == {"dense_1.units": 12}
        configs.append([layer.get_config() for layer in builder.build().layers])
        with pytest.raises(ValueError, match=r"\['units'\]"):
            builder.build({"units": 8})
    assert configs[0] == configs[1]


def test_get_config_round_trip():
    tunable_model = TunableModel(
        make_mlp(),
        {
            "dense*.units": Int(4, 64),
            "dense_2.repeat": Int(1, 3),
            "optimizer": Choice(["sgd", "adam"]),
        },
    )
    config = tunable_model.get_config()
    restored = TunableModel.from_config(config)
    assert restored.space == tunable_model.space
    assert restored.get_config()["space"] == config["space"]
    model = restored.build({"dense_2.repeat": 2, "optimizer": "adam"})
    assert len(model.layers) == 5
    assert "TunableModel of 'mlp' with 4 dimensions" in repr(restored)


def test_search_with_the_tuner(tmp_path):
    tuner_module = pytest.importorskip("keras_hparams.tuner")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    tunable_model = TunableModel(
        make_mlp(),
        {
            "dense*.units": Int(4, 16),
            "dropout_1.include": Boolean(),
            "optimizer.learning_rate": Float(1e-3, 1e-1, log=True),
        },
    )
    tuner = tuner_module.Tuner(
        tunable_model,
        objective="val_accuracy",
        max_trials=2,
        directory=tmp_path,
        project_name="p",
        seed=0,
    )
    tuner.search(x, y, epochs=1, validation_split=0.2, verbose=0)
    assert set(tuner.best_params) >= {"dense_1.units", "optimizer.learning_rate"}


# -- layer names ---------------------------------------------------------------------


def make_unnamed_mlp() -> keras.Model:
    """A model whose layer names Keras makes: they move when the code runs again."""
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


UNNAMED_KEYS = {"dense*.units": Int(4, 16), "dropout*.rate": Float(0.0, 0.5)}


def test_keras_named_layers_keep_their_dimension_names_when_the_code_runs_again():
    first, second = make_unnamed_mlp(), make_unnamed_mlp()
    assert [layer.name for layer in second.layers[:3]] == [
        "dense_2",
        "dropout_1",
        "dense_3",
    ]
    names = ["dense.units", "dense_1.units", "dropout.rate"]
    assert TunableModel(first, UNNAMED_KEYS).space.names == names
    assert TunableModel(second, UNNAMED_KEYS).space.names == names
    exact = TunableModel(second, {"dense_1.units": Int(4, 16)})
    model = exact.build({"dense_1.units": 12})
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [
        8,
        12,
        3,
    ]


def test_names_given_by_hand_are_kept():
    for _ in range(3):
        keras.layers.Dense(1)  # Keras has now made dense, dense_1 and dense_2
    base = make_mlp()  # names dense_1, dropout_1, dense_2 by hand
    assert TunableModel(base, {"*.units": Int(4, 16)}).space.names == [
        "dense_1.units",
        "dense_2.units",
        "out.units",
    ]
    mixed = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2)]
    )
    mixed.compile("sgd", "mse")
    assert TunableModel(mixed, {"*.units": Int(1, 8)}).space.names == [
        "hidden.units",
        "dense.units",
    ]


def test_nested_keras_named_models_are_numbered_too():
    def make():
        inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(1)(inner(inputs)))
        model.compile("sgd", "mse")
        return model

    names = [TunableModel(make(), {"*.units": Int(1, 8)}).space.names for _ in "ab"]
    assert names[0] == names[1] == ["sequential/dense.units", "dense_1.units"]


def test_restored_tunable_model_keeps_the_names_in_a_fresh_session():
    make_unnamed_mlp()
    tunable_model = TunableModel(make_unnamed_mlp(), UNNAMED_KEYS)  # dense_2, dense_3
    config = tunable_model.get_config()
    keras.backend.clear_session()  # a new session: those names look given by hand
    restored = TunableModel.from_config(config)
    assert restored.space.names == ["dense.units", "dense_1.units", "dropout.rate"]
    assert restored.space == tunable_model.space


def test_key_matching_no_layer_says_how_keras_names_are_numbered():
    make_unnamed_mlp()
    with pytest.raises(
        ValueError,
        match=re.escape(
            "The key 'dense_2.units' matches no layer: 'dense_2' is not the name of a "
            "layer of the base model. Its layers: ['dense', 'dropout', 'dense_1', "
            "'out']. Layers that Keras named are numbered by their position in the "
            "model, as a fresh session names them: 'dense_2' is 'dense' here."
        ),
    ):
        TunableModel(make_unnamed_mlp(), {"dense_2.units": Int(4, 16)})


# -- errors --------------------------------------------------------------------------


def test_error_key_matches_no_layer():
    with pytest.raises(
        ValueError,
        match=r"'conv\*.filters' matches no layer.*"
        r"Its layers: \['dense_1', 'dropout_1', 'dense_2', 'out'\]",
    ):
        TunableModel(make_mlp(), {"conv*.filters": Int(4, 32)})


def test_error_layer_lacks_the_argument():
    with pytest.raises(
        ValueError,
        match=r"no matched layer has an argument 'units'\. "
        r"Layer 'dropout_1' \(Dropout\) takes: .*rate",
    ):
        TunableModel(make_mlp(), {"dropout_1.units": Int(4, 32)})


def test_error_nested_argument_under_none():
    with pytest.raises(
        ValueError,
        match=r"'dense_2.kernel_regularizer' in the base "
        r"model is None, which has no argument 'l2'",
    ):
        TunableModel(make_mlp(), {"dense_2.kernel_regularizer.l2": Float(0.0, 0.1)})


def test_error_nested_argument_unknown():
    with pytest.raises(
        ValueError,
        match=r"is a L2 with arguments \['l2'\], which has "
        r"no argument 'l1'",
    ):
        TunableModel(make_mlp(), {"dense_1.kernel_regularizer.l1": Float(0.0, 0.1)})


def test_error_subclassed_model():
    class Subclassed(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs)

    model = Subclassed()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        TypeError,
        match=r"subclassed keras.Model \(Subclassed\).*"
        r"@kh.tunable",
    ):
        TunableModel(model, {"dense.units": Int(2, 8)})


def test_error_layer_without_config():
    class Settings:
        factor = 2.0

    class Unserializable(keras.layers.Layer):
        def __init__(self, settings, **kwargs):
            super().__init__(**kwargs)
            self.settings = settings

        def call(self, inputs):
            return inputs * self.settings.factor

    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(Unserializable(Settings())(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        TypeError,
        match=r"has a layer without one \(Object Unserializable was "
        r"created by passing non-serializable.*\) Decorate .*@kh.tunable",
    ):
        TunableModel(model, {"dense*.units": Int(2, 8)})


def test_error_uncompiled_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(
        ValueError,
        match=r"model 'sequential.*' is not compiled\. "
        r"Call model.compile",
    ):
        TunableModel(model, {"dense.units": Int(2, 8)})


def test_error_not_a_model():
    with pytest.raises(
        TypeError,
        match=r"expects a compiled keras.Model.*"
        r"Received: model='model' of type str",
    ):
        TunableModel("model", {})


def test_error_value_rejected_by_the_layer_fails_the_trial():
    tunable_model = TunableModel(make_mlp(), {"dense_1.units": Int(0, 16)})
    with pytest.raises(
        FailedTrialError,
        match=r"\(dense_1.units=0\): ValueError: Received an invalid "
        r"value for `units`",
    ):
        tunable_model.build({"dense_1.units": 0})


def test_error_shape_rejected_at_build_time_fails_the_trial():
    base = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="conv_1"),
            keras.layers.Conv2D(4, 3, name="conv_2"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    base.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    tunable_model = TunableModel(base, {"conv*.kernel_size": Choice([3, 7])})
    # Two 7x7 "valid" convolutions do not fit in an 8x8 image.
    with pytest.raises(
        FailedTrialError,
        match=r"\(conv_1.kernel_size=7, conv_2.kernel_size=7\): "
        r"ValueError: Computed output size would be zero or negative",
    ):
        tunable_model.build({"conv_1.kernel_size": 7, "conv_2.kernel_size": 7})


def test_error_space_types():
    with pytest.raises(TypeError, match=r"space as a dict.*Received: space=\["):
        TunableModel(make_mlp(), [Int(1, 2)])
    with pytest.raises(
        TypeError,
        match=r"For the key 'dense_1.units', expected a "
        r"marker.*Received: 64",
    ):
        TunableModel(make_mlp(), {"dense_1.units": 64})
    with pytest.raises(TypeError, match=r"non-empty str\. Received: 3"):
        TunableModel(make_mlp(), {3: Int(1, 2)})


@pytest.mark.parametrize("key", ["units", "dense_1..units", "dense_1.", ".units"])
def test_error_malformed_key(key):
    with pytest.raises(ValueError, match=rf"The key '{key}' is not of the form"):
        TunableModel(make_mlp(), {key: Int(1, 2)})


def test_error_two_keys_tune_one_argument():
    with pytest.raises(
        ValueError,
        match=r"'dense\*.units' and 'dense_1.units' both "
        r"tune",
    ):
        TunableModel(
            make_mlp(), {"dense*.units": Int(2, 8), "dense_1.units": Int(2, 8)}
        )


def test_error_named_marker_defined_twice():
    with pytest.raises(ValueError, match=r"'width' is defined twice"):
        TunableModel(
            make_mlp(),
            {"dense_1.units": Int("width", 2, 8), "dense_2.units": Int("width", 2, 16)},
        )


def test_error_structure_key_on_functional_model():
    with pytest.raises(
        ValueError,
        match=r"'dense_a.repeat' changes the structure of a "
        r"Functional model.*@kh.tunable",
    ):
        TunableModel(make_functional(), {"dense_a.repeat": Int(1, 3)})


def test_error_block_not_consecutive():
    with pytest.raises(
        ValueError,
        match=r"must list consecutive layers.*"
        r"\['dense_1', 'dense_2'\]",
    ):
        TunableModel(make_mlp(), {"dense_1+dense_2.repeat": Int(1, 3)})


def test_error_block_part_matches_several_layers():
    with pytest.raises(
        ValueError,
        match=r"each part names one layer, but 'dense\*' "
        r"matches \['dense_1', 'dense_2'\]",
    ):
        TunableModel(make_mlp(), {"dense*+dropout_1.repeat": Int(1, 3)})


def test_error_structure_marker_types():
    with pytest.raises(
        TypeError,
        match=r"'dense_2.repeat', expected kh.Int with "
        r"low >= 0.*Received: Float",
    ):
        TunableModel(make_mlp(), {"dense_2.repeat": Float(1.0, 3.0)})
    with pytest.raises(
        TypeError, match=r"'dense_2.repeat', expected kh.Int with low >= 0"
    ):
        TunableModel(make_mlp(), {"dense_2.repeat": Int(-1, 3)})
    with pytest.raises(
        TypeError, match=r"'dropout_1.include', expected kh.Boolean\(\)"
    ):
        TunableModel(make_mlp(), {"dropout_1.include": Int(0, 1)})


def test_error_layer_in_two_structure_keys():
    with pytest.raises(ValueError, match=r"'dropout_1' is in two structure keys"):
        TunableModel(
            make_mlp(),
            {"dense_1+dropout_1.repeat": Int(1, 3), "dropout_1.include": Boolean()},
        )


def test_error_unknown_optimizer_name():
    with pytest.raises(
        ValueError,
        match=r"'adamm' is not the name of a Keras optimizer"
        r"\. Names: \[.*'adam'.*'sgd'",
    ):
        TunableModel(make_mlp(), {"optimizer": Choice(["adam", "adamm"])})


def test_error_optimizer_choice_not_names():
    with pytest.raises(
        TypeError,
        match=r"'optimizer', expected kh.Choice of optimizer "
        r"names",
    ):
        TunableModel(make_mlp(), {"optimizer": Float(0.0, 1.0)})


def test_error_optimizer_argument_unknown():
    with pytest.raises(
        ValueError,
        match=r"'optimizer.beta_1', no optimizer this search "
        r"can use takes an argument 'beta_1'\. SGD takes: .*momentum",
    ):
        TunableModel(make_mlp(), {"optimizer.beta_1": Float(0.8, 0.99)})


def test_error_optimizer_argument_has_no_sub_arguments():
    with pytest.raises(
        ValueError,
        match=r"'optimizer.momentum.value' reaches into the "
        r"optimizer argument 'momentum'",
    ):
        TunableModel(make_mlp(), {"optimizer.momentum.value": Float(0.0, 0.9)})


def test_error_schedule_argument_with_constant_rate():
    with pytest.raises(
        ValueError,
        match=r"uses a constant learning_rate \(0.05\)\. "
        r"Choose a schedule with the key "
        r"'optimizer.learning_rate.schedule'",
    ):
        TunableModel(
            make_mlp(), {"optimizer.learning_rate.decay_rate": Float(0.5, 0.9)}
        )


def test_error_schedule_argument_unknown():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)
    with pytest.raises(
        ValueError,
        match=r"no schedule this search can use takes an "
        r"argument 'decay_ratio'\. ExponentialDecay takes: ",
    ):
        TunableModel(
            make_mlp(optimizer=keras.optimizers.SGD(schedule)),
            {"optimizer.learning_rate.decay_ratio": Float(0.5, 0.9)},
        )


def test_error_unknown_schedule_name():
    with pytest.raises(
        ValueError,
        match=r"expected schedule names among \['constant', "
        r".*'exponential_decay'.*Received: 'step_decay'",
    ):
        TunableModel(
            make_mlp(),
            {"optimizer.learning_rate.schedule": Choice(["constant", "step_decay"])},
        )


def test_error_schedule_without_its_required_arguments():
    with pytest.raises(
        ValueError,
        match=r"the schedule 'exponential_decay' needs "
        r"decay_steps, decay_rate.*Add the keys "
        r"'optimizer.learning_rate.decay_steps' and",
    ):
        TunableModel(
            make_mlp(),
            {
                "optimizer.learning_rate.schedule": Choice(
                    ["constant", "exponential_decay"]
                )
            },
        )


def test_error_build_with_unknown_name_or_value():
    tunable_model = TunableModel(make_mlp(), {"dense_1.units": Int(4, 16)})
    with pytest.raises(
        ValueError,
        match=r"\['units'\], which are not dimensions of "
        r"this TunableModel\. Its dimensions: \['dense_1.units'\]\.",
    ):
        tunable_model.build({"units": 8})
    with pytest.raises(ValueError, match=r"100 given for Int\('dense_1.units'"):
        tunable_model.build({"dense_1.units": 100})

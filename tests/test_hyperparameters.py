"""Tests for keras_hparams/hyperparameters.py: KerasTuner's `hp` and hypermodels."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.errors import BuildError
from keras_hparams.hyperparameters import HyperParameters, hp
from keras_hparams.tunable import BuildContext, as_builder


def space_of(build):
    builder = as_builder(build)
    builder.build()
    return builder.space


# -- KerasTuner's signatures -----------------------------------------------------------


def test_each_method_takes_kerastuner_positional_order_and_keywords():
    def build(hp):
        hp.Int("units", 32, 128, 32)  # name, min_value, max_value, step
        hp.Int("filters", min_value=8, max_value=64, sampling="log", default=16)
        hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
        hp.Float("dropout", 0.0, 0.5, 0.1, "linear", 0.2)
        hp.Choice("activation", ["relu", "tanh"], ordered=False, default="tanh")
        hp.Choice("width", [8, 16, 32], True)
        hp.Boolean("batch_norm", True)
        hp.Fixed("seed", 3)

    assert list(space_of(build)) == [
        kh.Int("units", 32, 128, step=32),
        kh.Int("filters", 8, 64, log=True, default=16),
        kh.Float("lr", 1e-4, 1e-2, log=True),
        kh.Float("dropout", 0.0, 0.5, step=0.1, default=0.2),
        kh.Choice("activation", ["relu", "tanh"], default="tanh"),
        kh.Choice("width", [8, 16, 32]),
        kh.Boolean("batch_norm", default=True),
        kh.Fixed("seed", 3),
    ]


def test_log_sampling_with_a_step_multiplies_as_in_kerastuner():
    def build(hp):
        hp.Int("batch_size", min_value=2, max_value=32, step=2, sampling="log")
        hp.Float("rate", min_value=0.001, max_value=10, step=10, sampling="log")

    space = space_of(build)
    assert space["batch_size"] == kh.Choice("batch_size", [2, 4, 8, 16, 32])
    assert space["rate"].values() == pytest.approx([0.001, 0.01, 0.1, 1.0, 10.0])


def test_values_are_returned_as_kerastuner_returns_them():
    def build(hp):
        return (
            hp.Int("units", 32, 512, step=32),
            hp.Choice("act", ["relu", "tanh"]),
            hp.Boolean("dropout"),
            hp.Float("lr", 1e-4, 1e-2, sampling="log"),
        )

    assert build(HyperParameters()) == (32, "relu", False, 1e-4)
    given = HyperParameters(values={"units": 64, "dropout": True})
    assert build(given) == (64, "relu", True, 1e-4)
    builder = as_builder(build)
    assert builder.build({"act": "tanh", "lr": 0.005}) == (32, "tanh", False, 0.005)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda hp: hp.Float("lr", 1e-4, 1e-2, sampling="reverse_log"),
            ValueError,
            "For hp.Float('lr'), sampling='reverse_log' is not supported. Use "
            "sampling='log' or sampling='linear'.",
        ),
        (
            lambda hp: hp.Int("units", 8, 64, sampling="cubic"),
            ValueError,
            "For hp.Int('units'), expected sampling 'linear' or 'log'. "
            "Received: sampling='cubic'.",
        ),
        (
            lambda hp: hp.Int("units", 8, 64, step=1, sampling="log"),
            ValueError,
            "For hp.Int('units'), sampling='log' with a step needs 0 < min_value <= "
            "max_value and step > 1 (each value is the previous one times step). "
            "Received: min_value=8, max_value=64, step=1.",
        ),
        (
            lambda hp: hp.Choice("act", ["relu", "tanh"], ordered=True),
            ValueError,
            "For hp.Choice('act'), ordered=True needs numeric values. "
            "Received: values=['relu', 'tanh'].",
        ),
        (
            lambda hp: hp.Int("units", 64, 8),
            ValueError,
            "For Int('units'), expected low <= high. Received: low=64, high=8.",
        ),
        (
            lambda hp: hp.Boolean("bn", default="yes"),
            TypeError,
            "For Boolean('bn'), expected default True or False.",
        ),
    ],
)
def test_argument_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(HyperParameters())


# -- conditions ------------------------------------------------------------------------


def build_by_model_type(hp):
    """The conditional example of KerasTuner's conditional_scope docstring."""
    model = keras.Sequential([keras.Input((6, 6, 1))])
    model_type = hp.Choice("model_type", ["mlp", "cnn"])
    with hp.conditional_scope("model_type", ["mlp"]):
        if model_type == "mlp":
            model.add(keras.layers.Flatten())
            model.add(keras.layers.Dense(hp.Int("mlp_units", 4, 16), activation="relu"))
    with hp.conditional_scope("model_type", ["cnn"]):
        if model_type == "cnn":
            filters = hp.Int("filters", 2, 8, step=2)
            model.add(keras.layers.Conv2D(filters, 3, activation="relu"))
            model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(3, activation="softmax"))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_conditional_scope_makes_hyperparameters_active_with_their_parent():
    builder = as_builder(build_by_model_type)
    context = BuildContext(builder.space, {"model_type": "cnn", "filters": 6})
    model = builder.build_in(context)
    assert model.layers[0].filters == 6
    assert context.active == {"model_type": "cnn", "filters": 6}
    assert "mlp_units" not in builder.space  # learnt where it is active
    builder.build({"model_type": "mlp", "mlp_units": 12})
    assert builder.space.names == ["model_type", "filters", "mlp_units"]


def test_an_inactive_hyperparameter_returns_none_even_when_used():
    def build(hp):
        hp.Choice("kind", ["a", "b"])
        inactive = hp.Int("units", 1, 4, parent_name="kind", parent_values=["b"])
        active = hp.Int("width", 1, 4, parent_name="kind", parent_values="a")
        with hp.conditional_scope("kind", "a"):
            nested = hp.Boolean("wide", parent_name="width", parent_values=[1])
        return inactive, active, nested, hp.values

    assert build(HyperParameters()) == (
        None,
        1,
        False,
        {"kind": "a", "width": 1, "wide": False},
    )
    assert build(HyperParameters({"kind": "b"})) == (
        1,
        None,
        None,
        {"kind": "b", "units": 1},
    )
    builder = as_builder(build)
    context = BuildContext(builder.space, {"kind": "b"})
    builder.build_in(context)
    assert context.inactive == {"width", "wide"}
    assert builder.space.names == ["kind", "units"]


def test_get_values_and_membership():
    def build(hp):
        hp.Choice("kind", ["a", "b"])
        hp.Int("units", 1, 4, parent_name="kind", parent_values=["b"])
        with hp.name_scope("block"):
            hp.Int("depth", 1, 3, default=2)
        return hp

    built = build(HyperParameters({"kind": "a"}))
    assert built.get("kind") == "a" and built["block/depth"] == 2
    assert built.values == {"kind": "a", "block/depth": 2}
    assert "kind" in built and "units" not in built and "other" not in built
    with pytest.raises(
        ValueError, match=re.escape("hp.get('units'): 'units' is inactive")
    ):
        built.get("units")
    with pytest.raises(
        KeyError,
        match=re.escape(
            "hp.get('other'): no hyperparameter named 'other' has been declared. "
            "Declared: ['block/depth', 'kind']."
        ),
    ):
        built["other"]


def test_condition_errors():
    def undeclared_parent(hp):
        with hp.conditional_scope("model_type", ["cnn"]):
            hp.Int("filters", 2, 8)

    def child_named_as_parent(hp):
        hp.Choice("kind", ["a", "b"])
        with hp.conditional_scope("kind", ["a"]):
            hp.Choice("kind", ["a", "b"])

    with pytest.raises(
        BuildError,
        match=re.escape(
            "hp.conditional_scope('model_type', ...) names a hyperparameter that "
            "this build has not declared yet. Declare 'model_type' (hp.Choice(...), "
            "hp.Int(...)) before the scope."
        ),
    ):
        undeclared_parent(HyperParameters())
    with pytest.raises(
        BuildError,
        match="conditional hyperparameter 'kind' cannot have the name of its parent",
    ):
        child_named_as_parent(HyperParameters())


def test_the_module_level_hp_works_inside_a_tunable_function():
    @kh.tunable
    def build_model():
        units = hp.Int("units", min_value=4, max_value=16, step=4)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])

    assert build_model().layers[0].units == 4
    assert build_model.build({"units": 12}).layers[0].units == 12
    assert build_model.space["units"] == kh.Int("units", 4, 16, step=4)


def test_build_rejects_names_the_build_never_used():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "build_by_model_type.build() was given values for ['filters'], which this "
            "build never used. The names it used: ['mlp_units', 'model_type']."
        ),
    ):
        as_builder(build_by_model_type).build({"model_type": "mlp", "filters": 4})


# -- KerasTuner's "Getting started" guide, its data swapped for small arrays -----------
# The build functions and hypermodels below are the guide's, unchanged.

layers = keras.layers


def guide_build_model(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    # Tune the number of layers.
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(
            layers.Dense(
                # Tune number of units separately.
                units=hp.Int(f"units_{i}", min_value=32, max_value=512, step=32),
                activation=hp.Choice("activation", ["relu", "tanh"]),
            )
        )
    if hp.Boolean("dropout"):
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def call_existing_code(units, activation, dropout, lr):
    model = keras.Sequential()
    model.add(layers.Flatten())
    model.add(layers.Dense(units=units, activation=activation))
    if dropout:
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def guide_build_existing(hp):
    units = hp.Int("units", min_value=32, max_value=512, step=32)
    activation = hp.Choice("activation", ["relu", "tanh"])
    dropout = hp.Boolean("dropout")
    lr = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    # call existing model-building code with the hyperparameter values.
    model = call_existing_code(
        units=units, activation=activation, dropout=dropout, lr=lr
    )
    return model


def guide_build_regressor(hp):
    model = keras.Sequential(
        [
            layers.Dense(units=hp.Int("units", 32, 128, 32), activation="relu"),
            layers.Dense(units=1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mean_squared_error",
        # Objective is one of the metrics.
        metrics=[keras.metrics.MeanAbsoluteError()],
    )
    return model


class MyHyperModel:  # keras_tuner.HyperModel's shape: build(hp) and fit(hp, model, ...)
    def build(self, hp):
        image_size = hp.Int("image_size", 10, 28)
        inputs = keras.Input(shape=(image_size, image_size))
        outputs = layers.Flatten()(inputs)
        outputs = layers.Dense(
            units=hp.Int("units", min_value=32, max_value=512, step=32),
            activation="relu",
        )(outputs)
        outputs = layers.Dense(10, activation="softmax")(outputs)
        model = keras.Model(inputs, outputs)
        model.compile(
            optimizer="adam",
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, x, y, validation_data=None, **kwargs):
        if hp.Boolean("normalize"):
            x = layers.Normalization()(x)
        image_size = hp.get("image_size")
        cropped_x = x[:, :image_size, :image_size, :]
        if validation_data:
            x_val, y_val = validation_data
            cropped_x_val = x_val[:, :image_size, :image_size, :]
            validation_data = (cropped_x_val, y_val)
        return model.fit(
            cropped_x,
            y,
            # Tune whether to shuffle the data in each epoch.
            shuffle=hp.Boolean("shuffle"),
            validation_data=validation_data,
            **kwargs,
        )


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    x = rng.random((24, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 24), 10)
    return x, y


@pytest.mark.parametrize("build", [guide_build_model, guide_build_existing])
def test_guide_build_functions_build_and_train(build, images):
    x, y = images
    model = build(HyperParameters())  # the guide's check, with our hp
    assert model.compiled
    builder = as_builder(build)
    model = builder.build({"units" if build is guide_build_existing else "units_0": 64})
    history = model.fit(x[..., 0], y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert {"activation", "dropout", "lr"} <= set(builder.space.names)


def test_guide_regressor_positional_step():
    space = space_of(guide_build_regressor)
    assert space["units"] == kh.Int("units", 32, 128, step=32)


def test_hypermodel_fit_model_calls_the_users_fit_with_the_builds_values(images):
    x, y = images
    builder = as_builder(MyHyperModel())
    context = BuildContext(builder.space, {"image_size": 12, "shuffle": True})
    model = builder.build_in(context)
    assert model.input_shape == (None, 12, 12)
    with context.activate():  # as the trial runner keeps it while fitting
        history = builder.fit_model(
            model, x, y, validation_data=(x[:6], y[:6]), epochs=1, verbose=0
        )
    assert isinstance(history, keras.callbacks.History)
    assert set(history.history) >= {"loss", "val_loss"}
    assert context.active == {
        "image_size": 12,
        "units": 32,
        "normalize": False,
        "shuffle": True,
    }
    assert builder.space.names == ["image_size", "units", "normalize", "shuffle"]


def test_guide_quick_check_builds_and_fits_with_one_standalone_hp(images):
    x, y = images
    hp = HyperParameters()
    hypermodel = MyHyperModel()
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, x, y, epochs=1, verbose=0)
    assert model.input_shape == (None, 10, 10)
    assert len(history.history["loss"]) == 1
    assert hp.values == {
        "image_size": 10,
        "units": 32,
        "normalize": False,
        "shuffle": False,
    }


@pytest.mark.slow
def test_kerastuner_style_conditional_space_searched_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((60, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, 60)
    tuner = kh.Tuner(
        build_by_model_type,
        objective="val_accuracy",
        max_trials=5,
        directory=tmp_path,
        project_name="p",
        seed=0,
        verbose=0,
    )
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert [t.status for t in tuner.trials] == ["completed"] * 5
    for trial in tuner.trials:
        kind = trial.params["model_type"]
        own = {"mlp": "mlp_units", "cnn": "filters"}[kind]
        other = {"mlp": "filters", "cnn": "mlp_units"}[kind]
        assert own in trial.params and other not in trial.params
    assert {t.params["model_type"] for t in tuner.trials} == {"mlp", "cnn"}
    assert set(tuner.space.names) == {"model_type", "mlp_units", "filters"}
    assert isinstance(tuner.best_model(), keras.Model)


@pytest.mark.slow
def test_getting_started_search_runs_with_only_the_tuner_class_changed(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.random((40, 8, 8)).astype("float32")
    y_train = keras.utils.to_categorical(rng.integers(0, 10, 40), 10)
    x_val, y_val = x_train[:10], y_train[:10]
    tuner = kh.Tuner(  # keras_tuner.RandomSearch( in the guide
        hypermodel=guide_build_model,
        objective="val_accuracy",
        max_trials=2,
        executions_per_trial=2,
        overwrite=True,
        directory=tmp_path / "my_dir",
        project_name="helloworld",
        algorithm="random",
        verbose=0,
    )
    tuner.search(x_train, y_train, epochs=2, validation_data=(x_val, y_val), verbose=0)
    assert [t.status for t in tuner.trials] == ["completed", "completed"]
    assert len(tuner.trials[0].extra["scores"]) == 2  # executions_per_trial
    # The guide's Sequential has no Input: the best model still loads and predicts.
    assert tuner.best_model().predict(x_val, verbose=0).shape == (10, 10)
    best = tuner.best_params
    model = guide_build_model(HyperParameters(best))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == best["num_layers"] + 1
    assert [d.units for d in dense[:-1]] == [
        best[f"units_{i}"] for i in range(best["num_layers"])
    ]

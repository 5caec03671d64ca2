import re

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.errors import BuildError
from keras_hparams.hyperparameters import HyperModelBuilder, HyperModelFitBuilder
from keras_hparams.tunable import BuildContext, as_builder


def test_plain_call_returns_the_default_model(builder):
    model = builder()
    assert isinstance(model, keras.Model)
    assert model.compiled
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [8, 10]
    assert dense[0].activation.__name__ == "relu"
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)


def test_space_lists_the_dimensions_found(builder):
    assert len(builder.space) == 0
    builder()
    assert builder.space.names == ["layers", "units_0", "act", "lr"]
    assert builder.space["units_0"] == kh.Int("units_0", 4, 16, step=4, default=8)


def test_build_uses_given_values_and_discovers_conditional_dimensions(builder):
    model = builder.build({"layers": 2, "units_1": 12, "act": "tanh"})
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [8, 12, 10]
    assert dense[0].activation.__name__ == "tanh"
    assert "units_1" in builder.space


def test_build_rejects_values_outside_their_dimension(builder):
    with pytest.raises(ValueError, match=r"The value 5 given for Int\('units_0'"):
        builder.build({"units_0": 5})


def test_build_rejects_names_the_build_never_used(builder):
    with pytest.raises(
        ValueError, match=r"values for \['unit_0'\], which this build never used"
    ):
        builder.build({"unit_0": 8})


def test_arguments_pass_through():
    @kh.tunable
    def build_model(n_features, n_classes=3):
        model = keras.Sequential(
            [
                keras.Input((n_features,)),
                keras.layers.Dense(kh.Int("units", 2, 8, default=4)),
                keras.layers.Dense(n_classes),
            ]
        )
        model.compile("sgd", "mse")
        return model

    model = build_model(5, n_classes=2)
    assert model.input_shape == (None, 5)
    assert model.output_shape == (None, 2)
    assert build_model.build({"units": 6}, 5).layers[0].units == 6
    assert build_model.__name__ == "build_model"


def test_same_name_same_definition_is_one_dimension_with_one_value():
    @kh.tunable
    def build_model():
        a = kh.Int("units", 2, 64, default=8)
        b = kh.Int("units", 2, 64, default=8)
        return a, b

    assert build_model() == (8, 8)
    assert build_model.build({"units": 32}) == (32, 32)
    assert len(build_model.space) == 1


def test_same_name_different_definition_is_a_build_error():
    @kh.tunable
    def build_model():
        kh.Int("units", 2, 64)
        kh.Int("units", 2, 32)

    with pytest.raises(
        BuildError,
        match=re.escape(
            "Hyperparameter 'units' is defined twice with different definitions: "
            "Int('units', low=2, high=64, step=None, log=False, default=2) and "
            "Int('units', low=2, high=32, step=None, log=False, default=2). Use one "
            "definition for every use of a name, or give the second a name of its own."
        ),
    ):
        build_model()


def test_markers_in_helpers_and_model_subclasses_take_part():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(kh.Int("units", 2, 16, default=4))
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    def helper():
        return kh.Float("lr", 1e-3, 1e-1, log=True, default=1e-2)

    @kh.tunable
    def build_model():
        model = Net()
        model.compile(keras.optimizers.Adam(helper()), "mse")
        return model

    model = build_model.build({"units": 16, "lr": 0.05})
    assert model.hidden.units == 16
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert build_model.space.names == ["units", "lr"]


def test_nested_tunable_functions_share_the_outer_build():
    @kh.tunable
    def block():
        return kh.Int("units", 1, 8, default=2)

    @kh.tunable
    def build_model():
        return block() + kh.Int("extra", 0, 1, default=0)

    assert build_model.build({"units": 5, "extra": 1}) == 6
    assert build_model.space.names == ["units", "extra"]


def test_marker_outside_a_build_is_a_description():
    dimension = kh.Int("units", 1, 4)
    assert isinstance(dimension, kh.Int)
    assert dimension.name == "units"


def test_unnamed_marker_inside_a_build_is_a_build_error():
    @kh.tunable
    def build_model():
        return kh.Int(1, 4)

    with pytest.raises(
        BuildError,
        match=re.escape(
            "Int(low=1, high=4, step=None, log=False, default=1) is used inside a "
            "build without a name. A name may be left out only where the context "
            "names the dimension: a TunableModel key or a search() keyword argument. "
            "Give it one: kh.Int('name', ...)."
        ),
    ):
        build_model()
    assert issubclass(BuildError, kh.FatalError) and issubclass(BuildError, ValueError)


def test_a_build_error_stops_the_search_at_the_first_trial(digits, tmp_path):
    calls = []

    def build_model():
        calls.append(1)
        model = keras.Sequential([keras.Input((64,))])
        model.add(keras.layers.Dense(kh.Int(4, 16), activation="relu"))  # no name
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile("adam", "sparse_categorical_crossentropy")
        return model

    tuner = kh.Tuner(
        build_model, "val_loss", max_trials=4, directory=tmp_path, verbose=0
    )
    x, y = digits
    with pytest.raises(BuildError, match="used inside a build without a name"):
        tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert len(calls) == 1
    assert [t.status for t in tuner.trials] == ["failed"]


def test_context_draws_values_for_new_dimensions_with_its_rng():
    space = kh.SearchSpace()
    context = BuildContext(space, {}, rng=np.random.default_rng(0))
    with context.activate():
        values = {kh.Int(f"u{i}", 0, 1000) for i in range(5)}
    assert len(values) > 1
    assert set(context.active) == {f"u{i}" for i in range(5)}


def test_as_builder_wraps_plain_functions_and_rejects_models():
    def build_model():
        return kh.Int("units", 1, 4, default=2)

    assert as_builder(build_model).build() == 2
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(TypeError, match="kh.TunableModel"):
        as_builder(model)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Tuner expects a @kh.tunable function, a kh.TunableModel, a KerasTuner "
            "hypermodel (a function of hp, or an object with build(hp)), or a "
            "function that builds a compiled keras.Model. Received: 42."
        ),
    ):
        as_builder(42)


def test_as_builder_takes_kerastuner_hypermodels():
    def build_hp(hp):
        return hp.Int("units", min_value=1, max_value=4, default=3)

    def build_with_options(hp, n_features=8):
        return hp.Int("units", 1, 4) + n_features

    class HyperModel:
        def build(self, hp):
            return hp.Choice("act", ["relu", "tanh"])

    class FitHyperModel(HyperModel):
        def fit(self, hp, model, *args, **kwargs):
            return model

    assert isinstance(as_builder(build_hp), HyperModelBuilder)
    assert as_builder(build_hp).build({"units": 2}) == 2
    assert as_builder(build_with_options).build() == 9
    assert as_builder(HyperModel()).build({"act": "tanh"}) == "tanh"
    assert not hasattr(as_builder(HyperModel()), "fit_model")
    assert isinstance(as_builder(FitHyperModel()), HyperModelFitBuilder)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Tuner received the class HyperModel, not a builder. Pass an instance: "
            "HyperModel()."
        ),
    ):
        as_builder(HyperModel)


def test_tunable_rejects_a_non_callable():
    with pytest.raises(TypeError, match="expects a function"):
        kh.tunable(3)

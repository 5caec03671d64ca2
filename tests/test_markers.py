"""Tests for keras_hparams/markers.py and dimension.py: how markers take their
arguments, what they show to inspect and help(), and what a description refuses."""

from __future__ import annotations

import inspect
import pydoc
import re
from pathlib import Path

import keras
import pytest

import keras_hparams as kh
from keras_hparams.errors import BuildError, MarkerOutsideBuildError


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (lambda: kh.Int("units", low=32, high=512), kh.Int("units", 32, 512)),
        (lambda: kh.Int(name="units", low=32, high=512), kh.Int("units", 32, 512)),
        (lambda: kh.Int(32, 512, name="units"), kh.Int("units", 32, 512)),
        (
            lambda: kh.Int("units", 32, high=512, step=32),
            kh.Int("units", 32, 512, step=32),
        ),
        (lambda: kh.Int(low=1, high=4), kh.Int(1, 4)),
        (
            lambda: kh.Float(name="lr", low=1e-4, high=1e-2, log=True),
            kh.Float("lr", 1e-4, 1e-2, log=True),
        ),
        (
            lambda: kh.Choice(["relu", "tanh"], name="act"),
            kh.Choice("act", ["relu", "tanh"]),
        ),
        (
            lambda: kh.Choice(name="act", values=["relu", "tanh"]),
            kh.Choice("act", ["relu", "tanh"]),
        ),
        (
            lambda: kh.Choice("act", values=["a", "b"], default="b"),
            kh.Choice("act", ["a", "b"], default="b"),
        ),
        (lambda: kh.Boolean(name="bn", default=True), kh.Boolean("bn", default=True)),
        (lambda: kh.Fixed(name="seed", value=0), kh.Fixed("seed", 0)),
        (lambda: kh.Fixed("seed", value=0), kh.Fixed("seed", 0)),
        (lambda: kh.Fixed(0, name="seed"), kh.Fixed("seed", 0)),
    ],
)
def test_every_argument_also_by_keyword(made, expected):
    dimension = made()
    assert dimension == expected
    assert dimension.get_config() == expected.get_config()


def test_a_lone_string_is_a_fixed_value_and_a_leading_string_is_a_name():
    assert kh.Fixed("adam").get_config() == {
        "kind": "Fixed",
        "name": None,
        "value": "adam",
    }
    assert kh.Fixed("optimizer", "adam").name == "optimizer"
    assert kh.Int(32, 512).name is None
    assert kh.Choice(["a", "b"]).name is None


@pytest.mark.parametrize(
    ("sampling", "log"),
    [("log", True), ("LOG", True), ("linear", False), (None, False)],
)
def test_kerastuner_sampling_spelling(sampling, log):
    assert kh.Float("lr", 1e-4, 1e-2, sampling=sampling).log is log
    assert kh.Int("units", 8, 512, sampling=sampling).log is log
    # Stored as log: the config (and a resumed search) does not see the spelling.
    assert "sampling" not in kh.Float("lr", 1e-4, 1e-2, sampling=sampling).get_config()


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: kh.Float("lr", 1e-4, 1e-2, sampling="reverse_log"),
            ValueError,
            "For Float('lr'), sampling='reverse_log' is not supported. Use "
            "sampling='log' (the same as log=True) or sampling='linear'.",
        ),
        (
            lambda: kh.Int("units", 8, 64, sampling="exp"),
            ValueError,
            "For Int('units'), expected sampling 'linear' or 'log'. "
            "Received: sampling='exp'.",
        ),
        (
            lambda: kh.Float("lr", 1e-4, 1e-2, log=True, sampling="linear"),
            ValueError,
            "For Float('lr'), log=True and sampling='linear' disagree.",
        ),
        (
            lambda: kh.Int("units", min_value=32, max_value=512),
            TypeError,
            "Int() got an unexpected keyword argument 'min_value' (min_value= is "
            "KerasTuner's spelling; here it is low=). Int() takes: name, low, high, "
            "step, log, default, sampling.",
        ),
        (
            lambda: kh.Choice("act", choices=["relu"]),
            TypeError,
            "Choice() got an unexpected keyword argument 'choices' (choices= is "
            "Optuna's spelling; here it is values=). Choice() takes: name, values, "
            "default.",
        ),
        (
            lambda: kh.Float("lr", 0.1, 1.0, stepp=0.1),
            TypeError,
            "Float() got an unexpected keyword argument 'stepp'. Float() takes: name, "
            "low, high, step, log, default, sampling.",
        ),
        (
            lambda: kh.Boolean("bn", ordered=True),
            TypeError,
            "Boolean() got an unexpected keyword argument 'ordered'. Boolean() takes: "
            "name, default.",
        ),
        (
            lambda: kh.Fixed("seed", 0, default=1),
            TypeError,
            "Fixed() got an unexpected keyword argument 'default'. Fixed() takes: "
            "name, value.",
        ),
        (
            lambda: kh.Int("units", 1, 4, name="width"),
            TypeError,
            "Int() got two values for name: 'units' and name='width'.",
        ),
        (
            lambda: kh.Choice(["a"], values=["b"]),
            TypeError,
            "Choice() got two values for values: ['a'] and values=['b'].",
        ),
        (
            lambda: kh.Int("units", low=32),
            TypeError,
            "Int() takes an optional name then low, high. Received: 'units', low=32.",
        ),
        (
            lambda: kh.Boolean("bn", True),
            TypeError,
            "Boolean() takes an optional name (default= by keyword). "
            "Received: 'bn', True.",
        ),
    ],
)
def test_argument_errors(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    ("marker", "shown"),
    [
        (
            kh.Int,
            "(name: str, low: int, high: int, *, step: int | None = None, "
            "log: bool = False, default: int | None = None, "
            "sampling: str | None = None)",
        ),
        (
            kh.Float,
            "(name: str, low: float, high: float, *, step: float | None = None, "
            "log: bool = False, default: float | None = None, "
            "sampling: str | None = None)",
        ),
        (
            kh.Choice,
            "(name: str, values: list, *, default: Any = <the first value>)",
        ),
        (kh.Boolean, "(name: str | None = None, *, default: bool = False)"),
        (kh.Fixed, "(name: str, value: Any)"),
    ],
)
def test_inspect_and_help_show_the_real_parameters(marker, shown):
    assert str(inspect.signature(marker)) == shown
    assert f"{marker.__name__}{shown}" in pydoc.render_doc(
        marker, renderer=pydoc.plaintext
    )


def test_the_signature_accepts_what_the_marker_accepts():
    # Every keyword the signature shows is one the marker takes.
    for marker, args in [(kh.Int, (1, 4)), (kh.Float, (0.1, 0.9))]:
        options = inspect.signature(marker).parameters
        keywords = {
            name: p.default for name, p in options.items() if p.kind is p.KEYWORD_ONLY
        }
        assert marker("x", *args, **keywords) == marker("x", *args)


def test_the_package_ships_py_typed():
    package = Path(kh.__file__).parent
    assert (package / "py.typed").exists()
    pyproject = (package.parent / "pyproject.toml").read_text()
    assert 'keras_hparams = ["py.typed"]' in pyproject


# -- a description is not a value -----------------------------------------------------

RATE = kh.Float("rate", 0.0, 0.5)  # made once at module level: stays a description
LAYERS = kh.Int("layers", 1, 3)


@pytest.mark.parametrize(
    ("use", "words"),
    [
        (lambda: 0 <= RATE <= 1, "in a comparison (>= 0)"),
        (lambda: RATE < 0.3, "in a comparison (< 0.3)"),
        (lambda: RATE * 2, "in arithmetic (* 2)"),
        (lambda: 1 - RATE, "in arithmetic (1 -)"),
        (lambda: -RATE, "in arithmetic (-x)"),
        (lambda: float(RATE), "as a number (float())"),
        (lambda: int(LAYERS), "as a number (int())"),
        (lambda: round(RATE), "as a number (round())"),
        (lambda: range(LAYERS), "as an integer (range(), an index)"),
        (lambda: [1, 2, 3][LAYERS], "as an integer (range(), an index)"),
        (lambda: bool(kh.Boolean("bn")), "as a truth value (if, and, or, not)"),
    ],
)
def test_a_description_refuses_to_act_as_a_number(use, words):
    with pytest.raises(MarkerOutsideBuildError, match=re.escape(words)) as raised:
        use()
    message = str(raised.value)
    assert "it is a marker's description, not a value" in message
    assert "Call it inside the build function" in message
    assert isinstance(raised.value, TypeError)  # what Python raises for a bad operand


def test_descriptions_still_compare_and_hash_as_dimensions():
    assert kh.Float("rate", 0.0, 0.5) == RATE
    assert kh.Float("rate", 0.0, 0.4) != RATE
    assert RATE != 0.25 and RATE is not None
    assert len({RATE, kh.Float("rate", 0.0, 0.5), LAYERS}) == 2
    assert RATE in [LAYERS, RATE]
    assert kh.SearchSpace([RATE, LAYERS]).names == ["rate", "layers"]


def test_module_level_marker_used_in_a_build_fails_with_the_fix():
    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        model.add(keras.layers.Dropout(RATE))  # Keras checks 0 <= rate <= 1
        return model

    with pytest.raises(
        MarkerOutsideBuildError, match=r"Float\('rate'.*in a comparison"
    ):
        build_model()
    assert issubclass(MarkerOutsideBuildError, kh.FatalError)  # stops a search


def test_module_level_marker_quoted_in_a_keras_error_is_explained():
    units = kh.Int("units", 4, 16)

    @kh.tunable
    def build_model():
        # Dense checks isinstance(units, int) and quotes what it received.
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])

    with pytest.raises(
        MarkerOutsideBuildError,
        match=r"(?s)ValueError: Received an invalid value for `units`.*Int\('units'.*"
        r"The value there is a marker's description.*Call the marker inside",
    ) as raised:
        build_model.build({})
    assert isinstance(raised.value.__cause__, ValueError)


def test_an_error_without_a_description_passes_through_unchanged():
    @kh.tunable
    def build_model():
        return keras.layers.Dense(kh.Int("units", -4, -1))  # Keras: units > 0

    with pytest.raises(ValueError, match="expected a positive integer") as raised:
        build_model()
    assert not isinstance(raised.value, BuildError)


def test_markers_called_inside_the_build_give_values():
    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((4,))])
        for _ in range(kh.Int("layers", 1, 3, default=2)):
            model.add(keras.layers.Dense(kh.Int(name="units", low=2, high=8)))
        model.add(keras.layers.Dropout(kh.Float("rate", 0.0, 0.5, default=0.25)))
        return model

    model = build_model.build({"layers": 3, "units": 6})
    assert [layer.units for layer in model.layers[:3]] == [6, 6, 6]
    assert model.layers[-1].rate == 0.25

"""Fuzzing what users type: marker arguments, TunableModel keys, search() arguments.

Every case either works or raises the library's documented error: a `TypeError` or
`ValueError` whose message names what was wrong (raised before any training, with no
trial written, for `search()`), or a `kh.FatalError` with its message once trials
ran. Never an unrelated error from deep inside Keras, scikit-optimize or numpy.

Examples per test are few by default and many under `KH_FAULTS=full`. The tests at
the end pin down what the fuzzing found, each fixed case as a plain test.
"""

from __future__ import annotations

import functools
import math
import tempfile

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import keras_hparams as kh
from keras_hparams.algorithms import BayesianOptimization, RandomSearch
from keras_hparams.space import from_config
from keras_hparams.trial import Trial
from keras_hparams.tunable import BuildContext
from tests.conftest import make_builder
from tests.faults import FULL, TALLY, scaled

pytestmark = pytest.mark.faults


def fuzz(fast: int, full: int):
    """Hypothesis settings: `fast` examples, or `full` under KH_FAULTS=full."""
    return settings(
        max_examples=scaled(fast, full),
        deadline=None,
        database=None,
        derandomize=not FULL,  # the default run is the same every time
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def tried(test: str) -> None:
    TALLY[f"fuzz cases: {test}"] += 1


def check_documented(error: Exception, *names: str) -> None:
    """A TypeError or ValueError whose message names one of `names`."""
    assert isinstance(error, (TypeError, ValueError)), repr(error)
    message = str(error)
    assert any(name in message for name in names), (names, message)


# -- markers ----------------------------------------------------------------------
NAMES = st.one_of(st.none(), st.text(max_size=6), st.integers(-2, 2), st.just(""))
GARBAGE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
)
# Mostly plausible numbers, so that many cases are accepted and then exercised.
NUMBERS = st.one_of(
    st.integers(-10, 100),
    st.integers(-1000, 1000),
    st.floats(-10, 100),
    st.floats(-1e4, 1e4),
    st.sampled_from([0, 1, -1, 0.5, 1e-9, np.int64(3), np.float32(0.25), np.nan]),
    GARBAGE,
)
FLAGS = st.one_of(st.booleans(), st.none(), st.integers(0, 1), st.text(max_size=2))
VALUES = st.one_of(
    st.lists(st.integers(-5, 5), max_size=4),
    st.lists(st.sampled_from(["relu", "tanh", "", "gelu"]), max_size=4),
    st.lists(st.floats(allow_nan=True), max_size=3),
    st.lists(st.one_of(st.none(), st.booleans(), st.integers(0, 2)), max_size=3),
    st.lists(st.one_of(st.text(max_size=2), st.integers(0, 2)), max_size=3),
    st.sampled_from(["relu", 3, None, {"a": 1}, (1, 2), range(3), np.arange(3)]),
)


def check_dimension(dimension: kh.Dimension) -> None:
    """What every dimension a marker accepted must do."""
    assert dimension.contains(dimension.default), dimension
    assert from_config(dimension.get_config()) == dimension
    repr(dimension)
    assert dimension.cardinality() >= 1
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert dimension.contains(dimension.sample(rng)), dimension
    if dimension.cardinality() <= 1000:
        values = dimension.values()
        assert len(values) == dimension.cardinality()
        assert all(dimension.contains(v) for v in values)


def call_marker(marker, args, kwargs):
    try:
        dimension = marker(*args, **kwargs)
    except (TypeError, ValueError) as error:
        check_documented(error, marker.__name__, "hyperparameter name")
        event(f"{marker.__name__}: {type(error).__name__}")
        return None
    event(f"{marker.__name__}: accepted")
    check_dimension(dimension)
    return dimension


def realistic(value) -> bool:
    """Bounds a user could mean; the extreme ones have their own test below."""
    return not isinstance(value, float) or not math.isfinite(value) or abs(value) < 1e6


@fuzz(200, 3000)
@given(
    marker=st.sampled_from([kh.Int, kh.Float]),
    name=NAMES,
    low=NUMBERS,
    high=NUMBERS,
    options=st.fixed_dictionaries(
        {}, optional={"step": NUMBERS, "log": FLAGS, "default": NUMBERS}
    ),
)
def test_int_and_float_markers(marker, name, low, high, options):
    tried("markers")
    small_step = isinstance(options.get("step"), float) and 0 < options["step"] < 1e-6
    if not (realistic(low) and realistic(high)) or small_step:
        return
    args = ([] if name is None else [name]) + [low, high]
    call_marker(marker, args, options)


@fuzz(150, 2000)
@given(
    name=NAMES,
    values=VALUES,
    options=st.fixed_dictionaries({}, optional={"default": NUMBERS}),
)
def test_choice_markers(name, values, options):
    tried("markers")
    args = ([] if name is None else [name]) + [values]
    call_marker(kh.Choice, args, options)


@fuzz(60, 600)
@given(
    marker=st.sampled_from([kh.Boolean, kh.Fixed]),
    name=NAMES,
    value=st.one_of(NUMBERS, VALUES),
)
def test_boolean_and_fixed_markers(marker, name, value):
    tried("markers")
    if marker is kh.Boolean:
        args, kwargs = ([] if name is None else [name]), {"default": value}
    else:
        args, kwargs = ([] if name is None else [name]) + [value], {}
    call_marker(marker, args, kwargs)


@fuzz(15, 200)
@given(
    marker=st.sampled_from([kh.Int, kh.Float]),
    low=st.integers(-50, 50) | st.floats(-50, 50),
    span=st.integers(0, 100) | st.floats(0, 100),
    step=st.none() | st.integers(1, 10) | st.floats(0.01, 10),
    log=st.booleans(),
    algorithm=st.sampled_from([RandomSearch, BayesianOptimization]),
)
def test_accepted_markers_are_searchable(marker, low, span, step, log, algorithm):
    """A dimension a marker accepted goes through the algorithms, surrogate included."""
    tried("markers")
    dimension = call_marker(marker, ["x", low, low + span], {"step": step, "log": log})
    if dimension is None:
        return
    space = kh.SearchSpace([dimension, kh.Choice("c", ["a", "b"])])
    rng = np.random.default_rng(0)
    trials = [
        Trial(
            id=i + 1,
            params={"x": dimension.sample(rng), "c": "ab"[i % 2]},
            status="completed",
            score=float(i % 3),
        )
        for i in range(3)
    ]
    chosen = (
        RandomSearch(0)
        if algorithm is RandomSearch
        else algorithm(0, n_initial_points=2)
    )
    for proposal in chosen.propose(space, trials, 1, direction="max"):
        assert dimension.contains(proposal["x"]), (dimension, proposal)


# -- TunableModel keys ------------------------------------------------------------
@functools.cache
def base_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(4, activation="relu", name="dense"),
            keras.layers.Dropout(0.1, name="dropout"),
            keras.layers.Dense(
                3, name="dense_1", kernel_regularizer=keras.regularizers.L2(0.01)
            ),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ],
        name="base",
    )
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.5),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


GLOBS = st.sampled_from(
    ["dense", "dense*", "*", "d?nse", "[do]*", "out", "nope", "dense_1", "dropout"]
    + ["base/dense", "dense+dropout", "dense_1+out", "dropout+dense", "*+*", "."]
) | st.text(alphabet="abcdenos*?_[]+/", min_size=1, max_size=6)
ARGUMENTS = st.sampled_from(
    ["units", "rate", "activation", "kernel_initializer", "use_bias", "filters"]
    + ["kernel_regularizer.l2", "kernel_regularizer.l1", "bias_regularizer.l2"]
    + ["repeat", "include", "bogus", "units.x", "name", "dtype", "trainable"]
)
OPTIMIZER_KEYS = st.sampled_from(
    ["optimizer", "optimizer.learning_rate", "optimizer.momentum", "optimizer.beta_1"]
    + ["optimizer.learning_rate.schedule", "optimizer.learning_rate.decay_rate"]
    + ["optimizer.learning_rate.decay_steps", "optimizer.nonsense", "optimizer."]
    + ["optimizer.clipnorm", "optimizer.weight_decay", "optimizer.nesterov"]
)
KEYS = (
    st.builds(lambda glob, argument: f"{glob}.{argument}", GLOBS, ARGUMENTS)
    | OPTIMIZER_KEYS
    | st.text(max_size=8)
    | st.sampled_from([3, None, ("dense", "units")])
)
MARKER_NAMES = st.none() | st.sampled_from(["shared", "units", "dense.units"])


def markers() -> st.SearchStrategy:
    def named(name, make):
        return make(*([] if name is None else [name]))

    return st.one_of(
        st.builds(
            lambda n, lo, span: named(n, lambda *a: kh.Int(*a, lo, lo + span)),
            MARKER_NAMES,
            st.integers(-2, 8),
            st.integers(0, 8),
        ),
        st.builds(
            lambda n, lo, span, log: named(
                n, lambda *a: kh.Float(*a, lo, lo + span, log=log)
            ),
            MARKER_NAMES,
            st.sampled_from([1e-4, 0.01, 0.5]),
            st.sampled_from([0.0, 0.1, 1.0, 5.0]),
            st.booleans(),
        ),
        st.builds(
            lambda n, values: named(n, lambda *a: kh.Choice(*a, values)),
            MARKER_NAMES,
            st.sampled_from(
                [
                    ["relu", "tanh"],
                    ["glorot_uniform", "he_normal", "bogus_init"],
                    ["sgd", "adam", "rmsprop"],
                    ["sgd", "no_such_optimizer"],
                    ["constant", "exponential_decay", "cosine_decay"],
                    [1, 2, 3],
                    [0.1, 0.5],
                    [True, False],
                    [None, "relu"],
                ]
            ),
        ),
        st.builds(lambda n: named(n, kh.Boolean), MARKER_NAMES),
        st.builds(
            lambda n, value: named(n, lambda *a: kh.Fixed(*a, value)),
            MARKER_NAMES,
            st.sampled_from([100, 0.9, "relu", None, True, 0]),
        ),
        st.sampled_from([3, "relu", None]),  # not markers
    )


@fuzz(40, 500)
@given(data=st.data())
def test_tunable_model_keys(data):
    tried("TunableModel keys")
    keys = data.draw(st.lists(KEYS, min_size=1, max_size=3, unique_by=repr))
    space = {key: data.draw(markers(), label=repr(key)) for key in keys}
    try:
        tunable = kh.TunableModel(base_model(), space)
    except (TypeError, ValueError) as error:
        check_documented(error, *[str(k) for k in keys], "space", "key")
        event(f"TunableModel: {type(error).__name__}")
        return
    event("TunableModel: accepted")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    for values in ({}, None):
        context = BuildContext(tunable.space, values, rng if values is None else None)
        try:
            model = tunable.build_in(context)
        except kh.FailedTrialError as error:  # Keras refused these values
            assert str(error), "a FailedTrialError without a message"
            event("build: FailedTrialError")
            continue
        assert isinstance(model, keras.Model) and model.compiled
        event("build: model")


# -- search() arguments -----------------------------------------------------------
class NotCopyable(keras.callbacks.Callback):
    def __deepcopy__(self, memo):
        raise RuntimeError("no copies")


def fit_values(x, y) -> dict[str, st.SearchStrategy]:
    """Per fit argument: valid values, invalid ones, markers, wrong types."""
    fields = st.sampled_from
    return {
        "epochs": fields([1, 2, kh.Int(1, 2), kh.Choice([1, 2]), kh.Fixed(1)]),
        "batch_size": fields(
            [None, 8, 32, kh.Choice([16, 32]), kh.Int(8, 64, step=8), kh.Boolean()]
            + [kh.Choice("bs", [16, 32]), kh.Int("lr", 8, 16)]  # named markers
        ),
        "validation_split": fields([0.25, 0.5, kh.Float(0.1, 0.3), kh.Fixed(0.2)]),
        "verbose": fields([0, "auto", 5, "loud"]),
        "shuffle": fields([True, False, "batch", kh.Boolean()]),
        "callbacks": fields(
            [
                None,
                [],
                [keras.callbacks.EarlyStopping(patience=1)],
                keras.callbacks.TerminateOnNaN(),
                [object()],
                ["callback"],
                [NotCopyable()],
                kh.Choice([1, 2]),
                5,
                keras.callbacks.Callback,
                "early_stopping",
            ]
        ),
        "validation_data": fields([None, (x[:20], y[:20]), kh.Choice([1, 2])]),
        "sample_weight": fields([None, np.ones(len(x)), kh.Float(0.0, 1.0)]),
        "class_weight": fields([None, {i: 1.0 for i in range(10)}, kh.Choice([1])]),
        "initial_epoch": fields([0]),
        "steps_per_epoch": fields([None, 2, kh.Int(1, 3)]),
        "validation_freq": fields([1, 2]),
        "epoch": fields([1, kh.Int(1, 2)]),  # unknown: a typo for epochs
        "learning_rate": fields([0.1]),  # unknown: not a fit argument
        "callback": fields([[]]),  # unknown: a typo for callbacks
    }


def classify_search_error(error: Exception, tuner: kh.Tuner, kwargs: dict) -> None:
    """Before any trial row: a TypeError or ValueError (fatal input errors such as
    SearchSpaceMismatchError are ValueErrors too) naming an argument or a marker.
    After trial rows: a kh.FatalError with a message (too many failures, ...)."""
    if not tuner.trials:
        markers = [v.name for v in kwargs.values() if isinstance(v, kh.Dimension)]
        named = [*kwargs, *filter(None, markers), "positional argument", "search()"]
        check_documented(error, *named)
        event(f"search: {type(error).__name__} before training")
    else:
        assert isinstance(error, kh.FatalError) and str(error), repr(error)
        event(f"search: {type(error).__name__} after a trial")


@fuzz(20, 300)
@given(data=st.data())
def test_search_arguments(digits, data):
    tried("search() arguments")
    x, y = digits
    strategies = fit_values(x, y)
    names = data.draw(st.lists(st.sampled_from(sorted(strategies)), max_size=4))
    kwargs = {name: data.draw(strategies[name], label=name) for name in names}
    kwargs.setdefault("epochs", 1)
    kwargs.setdefault("verbose", 0)
    if "validation_data" not in kwargs:
        kwargs.setdefault("validation_split", 0.25)
    positional = data.draw(st.sampled_from([(x, y), (x, y, kh.Int(1, 4))]))
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            make_builder(),
            "val_accuracy",
            max_trials=1,
            directory=directory,
            max_consecutive_failures=1,
            verbose=0,
        )
        try:
            tuner.search(*positional, **kwargs)
        except Exception as error:
            classify_search_error(error, tuner, kwargs)
            return
        (trial,) = tuner.trials
        assert trial.status in ("completed", "failed"), trial
        assert trial.status == "completed" or trial.error
        event(f"search: trial {trial.status}")


# -- what the fuzzing found, now refused -------------------------------------------
@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(("Int", 0, 10**30, {}), id="Int-beyond-int64"),
        pytest.param(("Float", -1e308, 1e308, {}), id="Float-range-overflows"),
        pytest.param(("Float", 0.0, 1.0, {"step": 1e-300}), id="Float-tiny-step"),
    ],
)
def test_extreme_bounds_are_refused_or_sampled(arguments):
    kind, low, high, options = arguments
    try:
        dimension = getattr(kh, kind)("x", low, high, **options)
    except (TypeError, ValueError) as error:
        check_documented(error, kind)
        return
    check_dimension(dimension)


@pytest.mark.parametrize(
    "callbacks",
    [5, keras.callbacks.Callback, "early_stopping"],
    ids=["int", "class", "str"],
)
def test_callbacks_that_are_not_a_list_are_named_in_the_error(
    digits, tmp_path, callbacks
):
    tuner = kh.Tuner(make_builder(), "val_accuracy", directory=tmp_path, verbose=0)
    with pytest.raises(
        TypeError, match=r"callbacks=.*Received: .*(5|Callback|early_stopping)"
    ):
        tuner.search(*digits, epochs=1, callbacks=callbacks)
    assert tuner.trials == []


def test_a_named_marker_tunes_the_fit_argument_it_is_given_to(digits, tmp_path):
    tuner = kh.Tuner(
        make_builder(), "val_accuracy", max_trials=1, directory=tmp_path, verbose=0
    )
    tuner.search(
        *digits, epochs=1, validation_split=0.25, batch_size=kh.Choice("bs", [16, 32])
    )
    (trial,) = tuner.trials
    assert trial.status == "completed", trial.error
    assert trial.params["bs"] in (16, 32)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("epochs", "1"),
        ("epochs", kh.Int(0, 2)),
        ("epochs", kh.Float(1.0, 2.0)),
        ("batch_size", -1),
        ("batch_size", "8"),
        ("batch_size", kh.Choice(["a", "b"])),
        ("validation_split", 1.0),
        ("validation_split", -0.1),
        ("initial_epoch", 5),
        ("validation_freq", 0),
        ("class_weight", "balanced"),
    ],
)
def test_invalid_fit_values_are_refused_before_training(digits, tmp_path, name, value):
    kwargs = {"epochs": 1, "validation_split": 0.25, "verbose": 0, name: value}
    tuner = kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=1,
        directory=tmp_path,
        max_consecutive_failures=1,
        verbose=0,
    )
    with pytest.raises((TypeError, ValueError), match=name) as raised:
        tuner.search(*digits, **kwargs)
    assert not isinstance(raised.value, kh.FatalError), raised.value
    assert tuner.trials == []


def test_boolean_with_a_name_that_is_not_a_string_names_boolean():
    with pytest.raises(TypeError, match=r"Boolean.*name.*Received: 0"):
        kh.Boolean(0)


def test_a_float_grid_stays_inside_its_bounds():
    dimension = kh.Float("x", 1 / 3, 1.0, step=0.1)
    assert all(dimension.contains(v) for v in dimension.values())


@pytest.mark.parametrize(
    ("marker", "args"),
    [(kh.Fixed, ("x", float("nan"))), (kh.Choice, ("x", [0.0, float("nan")]))],
    ids=["Fixed", "Choice"],
)
def test_a_nan_value_is_refused_or_contained(marker, args):
    try:
        dimension = marker(*args)
    except (TypeError, ValueError) as error:
        check_documented(error, marker.__name__)
        return
    assert all(dimension.contains(v) for v in dimension.values())


def test_a_single_value_log_float_samples_that_value():
    dimension = kh.Float("x", 3.0, 3.0, log=True)
    assert dimension.contains(dimension.sample(np.random.default_rng(0)))

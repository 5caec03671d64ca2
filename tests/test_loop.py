"""The search loop: how a search ends, and what its progress lines and errors say."""

import keras
import pytest

import keras_hparams as kh
from keras_hparams.loop import errors_by_trial
from keras_hparams.progress import first_line
from keras_hparams.trial import Trial
from tests.test_tuner import make_tuner, search


def _build_failing(message):
    """A builder whose every build fails with `message` after meeting `units`."""

    def build_model():
        units = kh.Choice("units", [4, 8])
        raise ValueError(message.format(units=units))

    return build_model


def test_a_search_that_completes_no_trial_says_why(digits, tmp_path):
    # Both values fail, and the space is exhausted before the failure streak
    # stops the search: it must not end quietly.
    tuner = make_tuner(
        _build_failing("{units} units break this model"),
        tmp_path,
        max_trials=5,
        max_consecutive_failures=5,
    )
    with pytest.raises(
        kh.NoCompletedTrialError,
        match=r"ended with no completed trial \(2 trials: 2 failed\)\. The errors:\n"
        r"  trial 1: ValueError: 4 units break this model\n"
        r"  trial 2: ValueError: 8 units break this model$",
    ):
        search(tuner, digits, epochs=1)
    assert [t.status for t in tuner.trials] == ["failed", "failed"]


def test_a_builder_without_markers_that_fails_is_not_a_quiet_end(digits, tmp_path):
    def build_model():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        model.compile("sgd", "mse")
        raise RuntimeError("the data pipeline is not ready")

    tuner = make_tuner(build_model, tmp_path, max_trials=3)
    with pytest.raises(
        kh.NoCompletedTrialError,
        match="trial 1: RuntimeError: the data pipeline is not ready",
    ):
        search(tuner, digits, epochs=1)


def test_a_builder_that_returns_no_model_stops_at_the_first_trial(digits, tmp_path):
    def build_model():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        return model.compile  # a mistake: the method, not the model

    tuner = make_tuner(build_model, tmp_path, max_trials=3)
    with pytest.raises(kh.BuildError, match="returned method, not a keras.Model"):
        search(tuner, digits, epochs=1)
    assert [t.status for t in tuner.trials] == ["failed"]


def test_progress_shows_an_errors_first_line_and_the_store_keeps_it_all(
    digits, tmp_path, capsys
):
    message = "the first line says what broke\n" + "details\n" * 50
    tuner = make_tuner(
        _build_failing(message + "{units}"), tmp_path, max_trials=1, verbose=1
    )
    with pytest.raises(kh.NoCompletedTrialError):
        search(tuner, digits, epochs=1)
    out = capsys.readouterr().out
    assert "FAILED: ValueError: the first line says what broke [...]" in out
    assert "details" not in out
    (trial,) = tuner.trials
    assert trial.error.count("details") == 50


def test_errors_are_grouped_by_message():
    trials = [
        Trial(1, {}, "failed", error="A"),
        Trial(2, {}, "failed", error="B"),
        Trial(3, {}, "failed", error="A"),
    ]
    assert errors_by_trial(trials) == "  trials 1, 3: A\n  trial 2: B"


def test_first_line_is_cut_at_the_limit():
    assert first_line("  \nabc\n") == "abc"
    assert first_line("x" * 10, limit=4) == "xxxx [...]"
    assert first_line("") == ""

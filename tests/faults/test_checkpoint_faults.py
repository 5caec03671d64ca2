"""A trial's outcome and its checkpoint are separate records.

A trained trial whose model file cannot be written (a full disk, a model Keras
cannot save) keeps its score and says why it has no file; no half-written file is
left. The best model comes from the checkpoint itself (`keras.models.load_model`),
not from the builder as it is now; only a checkpoint Keras cannot load as a model
is rebuilt, with a warning.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_hparams as kh
from tests.faults import TALLY, invariants, launch
from tests.real_code_layers import Unsaveable

pytestmark = pytest.mark.faults

ACTIVATION = {"hidden": "relu"}  # a global the builder reads: not a marker


@kh.tunable
def build_with_a_global():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(kh.Int("units", 4, 16, step=4), ACTIVATION["hidden"]),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@kh.tunable
def build_unsaveable():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(kh.Int("units", 4, 16, step=4)),
            Unsaveable(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@kh.tunable
def build_with_a_lambda():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(kh.Int("units", 4, 16, step=4)),
            keras.layers.Lambda(lambda t: t * 2.0),  # safe mode refuses to load it
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(builder, tmp_path, digits, max_trials=2, **options):
    tuner = kh.Tuner(
        builder,
        "val_accuracy",
        max_trials=max_trials,
        directory=tmp_path,
        project_name="p",
        algorithm="random",
        seed=0,
        verbose=0,
        **options,
    )
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    return tuner


def test_a_model_that_cannot_be_saved_keeps_its_score(tmp_path, digits):
    tuner = run(build_unsaveable, tmp_path, digits)
    assert [t.status for t in tuner.trials] == ["completed"] * 2
    for trial in tuner.trials:
        assert np.isfinite(trial.score)
        assert trial.extra["no_checkpoint"].startswith(
            "its model file could not be written: NotImplementedError: this layer "
            "cannot be saved"
        ), trial.extra
    assert not list((tmp_path / "p").rglob("*.keras"))  # no half-written file
    with pytest.raises(
        FileNotFoundError,
        match=r"The best trial \(\d\) has no checkpoint: its model file could not "
        r"be written: .*retrain=True",
    ):
        tuner.best_model()
    TALLY["faults injected: checkpoint that cannot be saved"] += 2


def test_best_model_is_the_checkpoint_s_own_model(tmp_path, digits):
    tuner = run(build_with_a_global, tmp_path, digits)
    ACTIVATION["hidden"] = "tanh"  # a notebook cell edited after the search
    try:
        model = tuner.best_model()
        exported = keras.models.load_model(tuner.export(tmp_path / "best.keras"))
    finally:
        ACTIVATION["hidden"] = "relu"
    for loaded in (model, exported):
        assert loaded.layers[0].activation.__name__ == "relu"
    x, y = digits
    _, accuracy = model.evaluate(x[225:], y[225:], verbose=0)
    assert accuracy == pytest.approx(tuner.best_score, abs=1e-6)


def test_a_checkpoint_keras_cannot_load_is_rebuilt_with_a_warning(tmp_path, digits):
    tuner = run(build_with_a_lambda, tmp_path, digits)
    with pytest.warns(UserWarning, match=r"could not be loaded as a model .*rebuilt"):
        model = tuner.best_model()
    x, y = digits
    _, accuracy = model.evaluate(x[225:], y[225:], verbose=0)
    assert accuracy == pytest.approx(tuner.best_score, abs=1e-6)
    with (
        kh.load(tmp_path / "p") as search,
        pytest.raises(ValueError, match=r"is whole, but Keras could not load it"),
    ):
        search.best_model()  # no builder to rebuild with: the reason, and a hint


def test_a_full_disk_under_the_checkpoints_keeps_every_score(tmp_path, digits):
    # The trial folders on a 4 KiB tmpfs: each model file (~30 KiB) fills it.
    with launch.tmpfs(tmp_path / "p" / "trials", "4k") as trials:
        tuner = run(build_with_a_global, tmp_path, digits, max_trials=3)
        left = sorted(p.name for p in trials.rglob("*") if p.is_file())
    assert left == []  # no partial file left behind
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["completed"] * 3
    for trial in tuner.trials:
        assert "[Errno 28] No space left on device" in trial.extra["no_checkpoint"]
    with pytest.raises(FileNotFoundError, match="No space left on device"):
        tuner.best_model()
    TALLY["faults injected: full disk at a checkpoint write"] += 3

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.loaded import load
from tests.test_results import digits_200, make_tuner, shared_search

# Loads each export in a process that never imports keras_hparams.
LOAD_ALL = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np, tensorflow as tf
    x = np.load(sys.argv[1])
    for path in sys.argv[2:]:
        if path.endswith(".keras"):
            predictions = keras.models.load_model(path).predict(x, verbose=0)
        else:
            loaded = tf.saved_model.load(path)  # kept: serve() needs its variables
            predictions = loaded.serve(x).numpy()
        np.save(path + ".npy", predictions)
    assert "keras_hparams" not in sys.modules
    """
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


@pytest.fixture(scope="module")
def tuner(root):
    return make_tuner(root)


class FitSettings(keras.callbacks.Callback):
    """Records the settings Keras reports at the start of training."""

    def on_train_begin(self, logs=None):
        self.settings = dict(self.params)


def test_each_format_loads_in_a_fresh_process_with_the_same_predictions(
    root, tuner, tmp_path
):
    x, y = digits_200()
    out = tmp_path / "out"
    with load(root) as search:
        keras_file = search.export(out / "best.keras")
        saved_model = search.export(out / "serving" / "1")
    from_tuner = tuner.export(out / "tuner_model", format="saved_model")
    retrained = tuner.export(out / "final.keras", x, y, retrain=True, verbose=0)
    assert (saved_model / "saved_model.pb").is_file()
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "load.py").write_text(LOAD_ALL)
    paths = [keras_file, saved_model, from_tuner, retrained]
    result = subprocess.run(
        [sys.executable, "load.py", "x.npy", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # the repository's keras_hparams is not importable from here
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = tuner.best_model().predict(x, verbose=0)
    for path in paths[:3]:
        np.testing.assert_allclose(np.load(f"{path}.npy"), best, rtol=1e-5, atol=1e-6)
    expected = keras.models.load_model(retrained).predict(x, verbose=0)
    np.testing.assert_allclose(np.load(f"{retrained}.npy"), expected, rtol=1e-5)
    assert not np.allclose(expected, best, atol=1e-3)  # trained again, from scratch


def test_export_writes_the_best_values_beside_the_model(root, tuner, tmp_path):
    with load(root) as search:
        search.export(tmp_path / "best.keras")
        search.export(tmp_path / "serve", format="saved_model")
    trial = tuner.best_trial
    for name, format in (("best", "keras"), ("serve", "saved_model")):
        details = json.loads((tmp_path / f"{name}.params.json").read_text())
        assert details == {
            "trial": trial.id,
            "objective": {"name": "val_accuracy", "direction": "max"},
            "score": pytest.approx(trial.score),
            "params": trial.params,
            "best_epoch": trial.best_epoch,
            "epochs_trained": len(trial.history),
            "retrained": False,
            "model_epochs": trial.best_epoch + 1,
            "format": format,
        }
    # The values reproduce the model: the builder builds it from them.
    model = make_tuner(root).builder.build(
        {k: v for k, v in details["params"].items() if k != "batch_size"}
    )
    assert model.count_params() == tuner.best_model().count_params()


def test_retrain_uses_the_best_values_and_epochs_unless_told_otherwise(tuner, tmp_path):
    x, y = digits_200()
    trial = tuner.best_trial
    settings = FitSettings()
    tuner.export(
        tmp_path / "a.keras", x, y, retrain=True, verbose=0, callbacks=[settings]
    )
    batch_size = trial.params["batch_size"]
    assert settings.settings["epochs"] == trial.best_epoch + 1
    assert settings.settings["steps"] == -(-len(x) // batch_size)  # all the rows
    details = json.loads((tmp_path / "a.params.json").read_text())
    assert details["retrained"] is True
    assert details["model_epochs"] == trial.best_epoch + 1

    tuner.export(
        tmp_path / "b.keras",
        x=x,
        y=y,
        retrain=True,
        epochs=3,
        batch_size=50,
        verbose=0,
        callbacks=[settings],
    )
    assert (settings.settings["epochs"], settings.settings["steps"]) == (3, 4)
    assert json.loads((tmp_path / "b.params.json").read_text())["model_epochs"] == 3
    model = keras.models.load_model(tmp_path / "b.keras")
    assert model.count_params() == tuner.best_model().count_params()


def test_export_errors_name_the_argument_and_what_is_accepted(root, tuner, tmp_path):
    x, y = digits_200()
    with pytest.raises(ValueError, match=r"writes a \.keras file. Received: path="):
        tuner.export(tmp_path / "best.h5")
    with pytest.raises(
        ValueError,
        match=r"format=\.\.\.\) expects one of \('keras', 'saved_model'\)\. "
        r"Received: format='onnx'",
    ):
        tuner.export(tmp_path / "m", format="onnx")
    with pytest.raises(ValueError, match=r"format='keras'\) writes a \.keras file"):
        tuner.export(tmp_path / "m", format="keras")
    with pytest.raises(TypeError, match=r"only with retrain=True\. Received: 2 posi"):
        tuner.export(tmp_path / "m.keras", x, y)
    with pytest.raises(ValueError, match=r"trains on the data passed .* no x"):
        tuner.export(tmp_path / "m.keras", retrain=True, epochs=1)
    with pytest.raises(TypeError, match=r"Received unknown: \['epoch'\]"):
        tuner.export(tmp_path / "m.keras", x, y, retrain=True, epoch=1)
    with pytest.raises(ValueError, match=r"takes no markers. Received: batch_size="):
        tuner.export(
            tmp_path / "m.keras", x, y, retrain=True, batch_size=kh.Choice([8, 16])
        )
    with load(root) as search:
        with pytest.raises(ValueError, match=r"needs the function that builds it"):
            search.export(tmp_path / "m.keras", x, y, retrain=True)
    assert not list(tmp_path.iterdir())  # no error left a file behind

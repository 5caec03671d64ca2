"""Real model code, as Keras's examples write it, searched, exported, and loaded back
in a fresh process that never imports keras_hparams.

Each case runs a small real search (2 trials of 2 epochs) with its own kind of model and
data: Sequential, Functional with two inputs, a subclassed model, a custom layer, a
custom `train_step`, preprocessing layers (TextVectorization, Normalization,
StringLookup), a tf.data pipeline, class and sample weights, and the usual callbacks.
The searches run once for the module; one subprocess then loads every exported file.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_hparams as kh
from tests import real_code_models as models

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Case:
    tuner: Any = None
    exported: Path | None = None
    inputs: Any = None
    error: BaseException | None = None


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:300] / 16).astype("float32"), y[:300].astype("int32")


def _search(folder, name, build, *fit_args, objective="val_accuracy", **fit_kwargs):
    """Searches `build` (2 trials, 2 epochs), exports the best model; the error of a
    case that fails is kept for its test, so one broken case fails one test."""
    case = Case()
    try:
        case.tuner = kh.Tuner(
            build,
            objective,
            max_trials=2,
            directory=folder / "searches",
            project_name=name,
            seed=0,
            verbose=0,
        )
        fit_kwargs.setdefault("epochs", 2)
        case.tuner.search(*fit_args, verbose=0, **fit_kwargs)
        case.exported = case.tuner.export(folder / "exported" / f"{name}.keras")
    except Exception as error:  # noqa: BLE001 - reported by the case's own test
        case.error = error
    return case


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_code")
    x, y = _digits()
    texts, labels = models.text_data()
    table, table_labels = models.tabular_data()
    # Keras takes strings as tensors (a numpy str array gives "Invalid dtype").
    text_tensor = tf.constant(texts)
    table_tensors = {k: tf.constant(v) for k, v in table.items()}
    halves = {"left": x[:, :32], "right": x[:, 32:]}
    train = tf.data.Dataset.from_tensor_slices((x[:225], y[:225])).batch(32)
    held_out = tf.data.Dataset.from_tensor_slices((x[225:], y[225:])).batch(32)
    callbacks = [
        keras.callbacks.EarlyStopping(patience=1),
        keras.callbacks.ReduceLROnPlateau(patience=1),
        keras.callbacks.ModelCheckpoint(str(folder / "ckpt" / "best.keras")),
        keras.callbacks.TensorBoard(str(folder / "logs")),
        keras.callbacks.CSVLogger(str(folder / "log.csv")),
    ]
    split = {"validation_split": 0.25}
    found = {
        "sequential": _search(
            folder, "sequential", models.sequential, x, y, callbacks=callbacks, **split
        ),
        "functional_two_inputs": _search(
            folder,
            "functional_two_inputs",
            models.functional_two_inputs,
            halves,
            y,
            **split,
        ),
        "subclassed": _search(folder, "subclassed", models.subclassed, x, y, **split),
        "custom_layer": _search(
            folder, "custom_layer", models.custom_layer, x, y, **split
        ),
        "custom_train_step": _search(
            folder, "custom_train_step", models.custom_train_step, x, y, **split
        ),
        "text": _search(
            folder,
            "text",
            lambda: models.text_classifier(texts),
            text_tensor,
            labels,
            **split,
        ),
        "tabular": _search(
            folder,
            "tabular",
            lambda: models.tabular(table["number"], table["color"]),
            table_tensors,
            table_labels,
            **split,
        ),
        "dataset": _search(
            folder, "dataset", models.sequential, train, validation_data=held_out
        ),
        "class_weight": _search(
            folder,
            "class_weight",
            models.sequential,
            x,
            y,
            class_weight={c: 2.0 if c == 3 else 1.0 for c in range(10)},
            **split,
        ),
        "sample_weight": _search(
            folder,
            "sample_weight",
            models.sequential,
            x,
            y,
            sample_weight=np.linspace(0.5, 1.5, len(y)).astype("float32"),
            **split,
        ),
    }
    inputs = {
        "functional_two_inputs": {k: v[:5] for k, v in halves.items()},
        "text": texts[:5],
        "tabular": {k: v[:5] for k, v in table.items()},
    }
    for name, case in found.items():
        case.inputs = inputs.get(name, x[:5])
    return folder, found


def _tensors(inputs):
    """Numpy string arrays as tensors, which Keras takes (see `cases`)."""
    return keras.tree.map_structure(
        lambda a: tf.constant(a) if a.dtype.kind == "U" else a, inputs
    )


def _check(case: Case) -> None:
    if case.error is not None:
        raise case.error
    assert [t.status for t in case.tuner.trials] == ["completed", "completed"]
    assert case.exported.is_file()


@pytest.mark.parametrize(
    "name",
    [
        "sequential",
        "functional_two_inputs",
        "subclassed",
        "custom_layer",
        "custom_train_step",
        "text",
        "tabular",
        "dataset",
        "class_weight",
        "sample_weight",
    ],
)
def test_real_model_code_searches_and_exports(cases, name):
    _check(cases[1][name])


def test_the_usual_callbacks_work_per_trial(cases):
    folder, found = cases
    case = found["sequential"]
    _check(case)
    for trial in case.tuner.trials:
        trial_folder = f"trial_{trial.id:04d}"
        assert (folder / "ckpt" / trial_folder / "best.keras").is_file()
        assert (folder / trial_folder / "log.csv").is_file()
        assert any((folder / "logs" / trial_folder).rglob("events.out.tfevents.*"))
        # EarlyStopping and ReduceLROnPlateau ran: lr is in the logs Keras reported.
        assert "learning_rate" in trial.history[-1]


def test_exported_files_load_in_a_fresh_process_without_keras_hparams(cases, tmp_path):
    _, found = cases
    expected = {}
    for name, case in found.items():
        _check(case)
        model = keras.models.load_model(case.exported)
        expected[name] = (
            str(case.exported),
            case.inputs,
            model.predict(_tensors(case.inputs), verbose=0),
        )
    with open(tmp_path / "cases.pkl", "wb") as handle:
        pickle.dump({n: (p, i) for n, (p, i, _) in expected.items()}, handle)
    script = textwrap.dedent(
        f"""
        import pickle, sys
        import keras
        import tensorflow as tf
        import tests.real_code_layers  # the custom classes, registered
        assert "keras_hparams" not in sys.modules
        with open({str(tmp_path / "cases.pkl")!r}, "rb") as handle:
            cases = pickle.load(handle)
        def tensors(inputs):
            return keras.tree.map_structure(
                lambda a: tf.constant(a) if a.dtype.kind == "U" else a, inputs
            )
        predictions = {{
            name: keras.models.load_model(path).predict(tensors(inputs), verbose=0)
            for name, (path, inputs) in cases.items()
        }}
        assert "keras_hparams" not in sys.modules
        with open({str(tmp_path / "out.pkl")!r}, "wb") as handle:
            pickle.dump(predictions, handle)
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as handle:
        loaded = pickle.load(handle)
    assert sorted(loaded) == sorted(expected)
    for name, (_, _, predicted) in expected.items():
        np.testing.assert_allclose(loaded[name], predicted, rtol=1e-5, atol=1e-6)


def test_a_subclassed_model_without_get_config_searches_and_says_what_export_needs(
    tmp_path,
):
    # Keras saves such a model with the constructor arguments it guessed (here
    # units=32, whatever the trial used), so the file does not rebuild it.
    x, y = _digits()
    tuner = kh.Tuner(
        models.bare_subclassed,
        max_trials=2,
        directory=tmp_path,
        project_name="bare",
        seed=0,
        verbose=0,
    )
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert [t.status for t in tuner.trials] == ["completed", "completed"]
    best = tuner.best_trial
    with pytest.warns(UserWarning, match="rebuilt from the builder"):
        model = tuner.best_model()
    assert model.hidden.units == best.params["units"]
    # The weights are the trial's: the model scores what the trial recorded.
    val_x, val_y = x[-75:], y[-75:]
    loss = model.evaluate(val_x, val_y, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(best.history[-1]["val_loss"], rel=1e-4)
    with pytest.warns(UserWarning, match=r"BareMLP has no get_config\(\) of its own"):
        tuner.export(tmp_path / "bare.keras")


@pytest.mark.parametrize("executor", [None, "processes"])
def test_a_model_keras_cannot_save_whole_keeps_its_weights(tmp_path, executor):
    # Head takes a layer object and has no get_config: model.save raises
    # NotImplementedError. Each trial's file then holds the weights alone.
    x, y = _digits()
    tuner = kh.Tuner(
        models.layer_argument_subclassed,
        max_trials=2,
        directory=tmp_path,
        project_name="head",
        seed=0,
        verbose=0,
        executor=executor,
        n_workers=1 if executor else None,
    )
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert [t.status for t in tuner.trials] == ["completed", "completed"]
    assert not any("no_checkpoint" in t.extra for t in tuner.trials)
    best = tuner.best_trial
    model = tuner.best_model()  # no warning: the builder rebuilds it, as designed
    assert model.hidden.units == best.params["units"]
    loss = model.evaluate(x[-75:], y[-75:], verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(best.history[-1]["val_loss"], rel=1e-4)
    with kh.load(tuner.project_directory) as loaded:
        with pytest.raises(ValueError, match="holds the model's weights alone"):
            loaded.best_model()
    message = r"Cannot export .*: Keras cannot save Head whole .*Head has no get_config"
    with pytest.raises(ValueError, match=message):
        tuner.export(tmp_path / "head.keras")
    assert not (tmp_path / "head.keras").exists()

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import export
from tests.conftest import make_builder

LOAD = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np
    model = keras.models.load_model(sys.argv[1])
    np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
    assert "keras_hparams" not in sys.modules
    """
)


def test_exported_model_loads_in_a_fresh_process_with_the_same_predictions(
    digits, tmp_path
):
    x, y = digits
    tuner = kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=2,
        directory=tmp_path,
        project_name="p",
        seed=0,
        verbose=0,
    )
    tuner.search(x, y, epochs=2, validation_split=0.25, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Keras skipping optimizer state
        path = tuner.export(tmp_path / "best.keras")
    assert path.exists()

    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    # Run from tmp_path so the repository's keras_hparams is not importable by path.
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(path),
            str(tmp_path / "x.npy"),
            str(tmp_path / "pred.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Skipping variable loading" not in result.stderr
    expected = tuner.best_model().predict(x, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected, rtol=1e-6)

    details = json.loads((tmp_path / "best.params.json").read_text())
    assert details["params"] == tuner.best_params
    assert details["score"] == pytest.approx(tuner.best_score)
    assert details["objective"] == {"name": "val_accuracy", "direction": "max"}


def test_export_needs_a_keras_path(digits, tmp_path):
    tuner = kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=1,
        directory=tmp_path,
        project_name="p",
        verbose=0,
    )
    with pytest.raises(ValueError, match=r"writes a \.keras file. Received: path="):
        tuner.export(tmp_path / "best.h5")


# -- what a .keras file needs to load elsewhere ----------------------------------------


class MarkerBlock(keras.layers.Layer):
    """The pattern to avoid: a marker inside a custom layer's __init__."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(kh.Int("units", 2, 8, default=4))

    def call(self, x):
        return self.dense(x)


class Forgetful(keras.layers.Layer):
    """A custom layer whose get_config leaves out a constructor argument."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return super().get_config()


def model_with(layer: keras.layers.Layer) -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_markers_run_when_keras_rebuilds_the_model_refuse_the_export(tmp_path):
    build = kh.tunable(lambda: model_with(MarkerBlock()))
    model = build.build({"units": 8})
    path = tmp_path / "best.keras"
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Cannot export {path}: Keras rebuilds the model from the file by running "
            "MarkerBlock.__init__, which calls markers (Int('units', low=2, high=8, "
            "step=None, log=False, default=4)). Outside a search a marker has no "
            "trial value, so the file would not load (or would load with other "
            "values). Make each value a constructor argument: call the marker where "
            "the layer is made (`MarkerBlock(units=kh.Int('units', 8, 64))` in the "
            "build function), take it as an argument of MarkerBlock.__init__, and "
            "return it from get_config()."
        ),
    ):
        export.save(model, path, "keras")
    assert not path.exists()


def test_a_file_that_does_not_load_back_warns(tmp_path):
    path = tmp_path / "best.keras"
    with pytest.warns(
        UserWarning,
        match=re.escape(
            f"export() wrote {path}, but keras.models.load_model could not read it "
            "back in this process: TypeError:"
        ),
    ):
        export.save(model_with(Forgetful(4)), path, "keras")
    assert path.exists()


BLOCKS = textwrap.dedent(
    """
    import keras

    class Block(keras.layers.Layer):
        # The fix: the value is a constructor argument that get_config returns.
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = keras.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    """
)

LOAD_BLOCK = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    from blocks import Block
    model = keras.models.load_model(sys.argv[1], custom_objects={"Block": Block})
    print("units", model.layers[0].units)
    assert "keras_hparams" not in sys.modules
    """
)


@pytest.mark.slow
def test_values_passed_as_constructor_arguments_export_and_load_elsewhere(tmp_path):
    (tmp_path / "blocks.py").write_text(BLOCKS)
    spec = importlib.util.spec_from_file_location("blocks", tmp_path / "blocks.py")
    blocks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blocks)
    build = kh.tunable(lambda: model_with(blocks.Block(kh.Int("units", 2, 8))))
    path = tmp_path / "best.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        export.save(build.build({"units": 6}), path, "keras")
    (tmp_path / "load.py").write_text(LOAD_BLOCK)
    result = subprocess.run(
        [sys.executable, "load.py", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "units 6" in result.stdout


SCRIPT_WITH_MAIN_CLASS = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from pathlib import Path
    import keras
    import keras_hparams as kh
    from keras_hparams import export

    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = keras.Sequential([keras.Input((3,)), Scale(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    export.save(model, Path(sys.argv[1]), "keras")
    """
)


@pytest.mark.slow
def test_a_class_from_main_warns_at_export_and_indeed_loads_nowhere_else(tmp_path):
    (tmp_path / "search.py").write_text(SCRIPT_WITH_MAIN_CLASS)
    path = tmp_path / "best.keras"
    exported = subprocess.run(
        [sys.executable, "search.py", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(kh.__file__).parents[1])},
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert (
        f"UserWarning: The model exported to {path} uses Scale, defined in __main__ "
        "(the script that ran the search), so keras.models.load_model finds it in no "
        "other program. Move the class to a module, decorate it with "
        "@keras.saving.register_keras_serializable(), and import that module before "
        "loading the file." in exported.stderr
    )
    (tmp_path / "load.py").write_text(
        "import sys, keras\nkeras.models.load_model(sys.argv[1])\n"
    )
    loaded = subprocess.run(
        [sys.executable, "load.py", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert loaded.returncode != 0
    assert "Scale" in loaded.stderr

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import keras_hparams as kh
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

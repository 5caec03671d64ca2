import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import keras_hparams as kh
from keras_hparams.cli import main
from keras_hparams.loaded import load
from tests.test_results import PROJECT, shared_search, write_search

INSTALLED = Path(sys.executable).parent / "keras-hparams"
MODULE = [sys.executable, "-m", "keras_hparams.cli"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


@pytest.fixture(scope="module")
def runs(root, tmp_path_factory):
    """Each subcommand run as a console command, all at once (each loads Keras, about
    5 s of CPU)."""
    out = tmp_path_factory.mktemp("cli")
    project = str(root / PROJECT)
    commands = {
        "show": [str(INSTALLED), "show", project],
        "best": [*MODULE, "best", str(root)],  # a folder holding one project
        "plot": [*MODULE, "plot", project, "--out", str(out / "search.png")],
        "export": [*MODULE, "export", project, str(out / "best.keras")],
    }
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = {
        name: subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=out,
            env=env,
        )
        for name, command in commands.items()
    }
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = (process.returncode, stdout, stderr)
    return out, results


def test_the_installed_command_shows_the_summary_table(runs, root):
    assert INSTALLED.is_file()
    code, stdout, stderr = runs[1]["show"]
    assert code == 0, stderr[-2000:]
    assert stdout.startswith(f"Search in {root / PROJECT}\n")
    assert "Objective: val_accuracy, maximized. Trials: 4 (4 completed)." in stdout
    assert "Top 4 of 4 completed trials" in stdout


def test_best_prints_the_best_values_as_json(runs, root):
    code, stdout, stderr = runs[1]["best"]
    assert code == 0, stderr[-2000:]
    with load(root) as search:
        trial = search.best_trial
    assert json.loads(stdout) == {
        "trial": trial.id,
        "objective": {"name": "val_accuracy", "direction": "max"},
        "score": trial.score,
        "params": trial.params,
        "best_epoch": trial.best_epoch,
        "epochs_trained": len(trial.history),
    }


def test_plot_writes_the_png(runs):
    out, results = runs
    code, stdout, stderr = results["plot"]
    assert code == 0, stderr[-2000:]
    assert stdout.strip() == f"Wrote {out / 'search.png'}"
    assert (out / "search.png").stat().st_size > 50_000


def test_export_writes_a_keras_file_with_the_values_beside_it(runs, root):
    out, results = runs
    code, stdout, stderr = results["export"]
    assert code == 0, stderr[-2000:]
    model, details = out / "best.keras", out / "best.params.json"
    assert stdout.strip() == f"Wrote {model} (keras) and {details}"
    assert model.is_file()
    with load(root) as search:
        assert json.loads(details.read_text())["params"] == search.best_params


def test_export_writes_a_saved_model_folder(root, tmp_path, capsys):
    # In process: the console path is the same as for .keras, tested above.
    model = tmp_path / "serving" / "1"
    assert main(["export", str(root), str(model)]) == 0
    details = tmp_path / "serving" / "1.params.json"
    assert capsys.readouterr().out.strip() == (
        f"Wrote {model} (saved_model) and {details}"
    )
    assert (model / "saved_model.pb").is_file() and details.is_file()
    assert main(["export", str(root), str(tmp_path / "m"), "--format", "keras"]) == 1
    assert "export(format='keras') writes a .keras file" in capsys.readouterr().err


def test_a_folder_without_a_search_is_a_clear_error(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"keras-hparams show: error: No search in {tmp_path}: expected trials.db "
        "in it (a project folder) or in one of its subfolders (a folder of "
        "projects).\n"
    )
    assert main(["best", str(tmp_path / "missing")]) == 1
    assert "No search at" in capsys.readouterr().err


def test_errors_in_process(root, tmp_path, capsys):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    write_search(tmp_path / "a", [], space)
    write_search(tmp_path / "b", [], space)
    assert main(["best", str(tmp_path)]) == 1
    assert "holds 2 searches: ['a', 'b']" in capsys.readouterr().err
    assert main(["best", str(tmp_path / "a")]) == 1
    assert "No completed trial in" in capsys.readouterr().err
    assert main(["plot", str(root), "--out", str(tmp_path / "x.jpg")]) == 1
    assert (
        "plot --out expects a file ending in .png, .svg, .pdf. Received: --out '"
        in (capsys.readouterr().err)
    )
    assert main(["plot", str(root), "--out", str(tmp_path / "x.svg"),
                 "--kind", "partial_dependence"]) == 1  # fmt: skip
    assert "Partial dependence needs at least 7 completed trials" in (
        capsys.readouterr().err
    )
    assert main(["export", str(root), str(tmp_path / "m.h5")]) == 1
    assert "writes a .keras file. Received: path=" in capsys.readouterr().err
    for argv in ([], ["show", str(root), "--trials", "0"], ["plot", str(root)]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2
    assert "expected a positive integer. Received: '0'" in capsys.readouterr().err


def test_plot_writes_svg_and_pdf_of_each_kind_and_scale(root, tmp_path, capsys):
    # In process: the console path is the one tested with the PNG above.
    for argv in (
        ["--out", str(tmp_path / "curves.svg"), "--kind", "learning_curves"],
        ["--out", str(tmp_path / "log.pdf"), "--kind", "convergence",
         "--yscale", "log"],
    ):  # fmt: skip
        assert main(["plot", str(root), *argv]) == 0
        assert capsys.readouterr().out.strip() == f"Wrote {argv[1]}"
    assert "<svg" in (tmp_path / "curves.svg").read_text()
    assert (tmp_path / "log.pdf").read_bytes()[:5] == b"%PDF-"


def test_show_limits_the_trials_listed(root, capsys):
    assert main(["show", str(root / PROJECT), "--trials", "2"]) == 0
    assert "Top 2 of 4 completed trials" in capsys.readouterr().out


CUSTOM_LAYERS = """
import keras


class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
"""


@pytest.mark.slow
def test_export_imports_the_module_that_defines_a_custom_layer(tmp_path, monkeypatch):
    import importlib

    import keras
    import numpy as np

    (tmp_path / "my_layers.py").write_text(CUSTOM_LAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    my_layers = importlib.import_module("my_layers")

    @kh.tunable
    def build_model():
        model = keras.Sequential(
            [
                keras.Input((4,)),
                my_layers.Scale(kh.Float("factor", 0.5, 2.0)),
                keras.layers.Dense(1),
            ]
        )
        model.compile("sgd", "mse")
        return model

    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    tuner = kh.Tuner(
        build_model, "val_loss", max_trials=1, directory=tmp_path / "h", verbose=0
    )
    tuner.search(x, x.sum(1), epochs=1, validation_split=0.25, verbose=0)
    project = str(tuner.project_directory)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def export(*options):
        command = [str(INSTALLED), "export", project, "best.keras", *options]
        return subprocess.run(
            command, capture_output=True, text=True, cwd=tmp_path, env=env
        )

    plain = export()
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last.startswith("keras-hparams export: error: The best model uses 'Scale'")
    assert "--import MODULE" in last
    imported = export("--import", "my_layers")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert (tmp_path / "best.keras").is_file()
    missing = export("--import", "no_such_module")
    assert missing.returncode == 1
    last = missing.stderr.strip().splitlines()[-1]
    assert "--import no_such_module: the module could not be imported" in last

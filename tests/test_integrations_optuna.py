import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.cli import main
from keras_hparams.loaded import load
from keras_hparams.trial import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    TIMED_OUT,
    Trial,
)
from tests.test_results import PROJECT, shared_search, write_search

optuna = pytest.importorskip("optuna")
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

from keras_hparams.integrations import to_optuna  # noqa: E402

DASHBOARD = Path(sys.executable).parent / "optuna-dashboard"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


def conditional_search(directory):
    """Every status, a conditional hyperparameter, a tuned fit argument the space
    lacks, and numpy values, as a search can store them."""
    space = kh.SearchSpace(
        [
            kh.Int("layers", 1, 2),
            kh.Int("units_0", 32, 128, step=32),
            kh.Float("lr", 1e-4, 1e-1, log=True),
            kh.Float("dropout", 0.0, 0.5, step=0.1),
            kh.Choice("act", ["relu", "tanh"]),
            kh.Boolean("bn"),
            kh.Fixed("seed", 7),
            kh.Int("units_1", 32, 128, step=32),
        ]
    )
    base = {"layers": 1, "units_0": 64, "lr": 0.01, "dropout": 0.2, "act": "relu",
            "bn": False, "seed": 7}  # fmt: skip
    two = {**base, "layers": 2, "units_1": np.int64(96), "batch_size": 32}
    curve = [{"val_loss": 0.9, "loss": 1.0}, {"val_loss": 0.5, "loss": 0.6}]
    trials = [
        Trial(1, base, COMPLETED, 0.5, 1, curve, 10.0, 20.0),
        Trial(2, two, PRUNED, 0.9, 0, curve[:1], 21.0, 22.0, extra={"pruned_at": 0}),
        Trial(3, base, FAILED, None, None, [{"val_loss": float("nan")}], 23.0, 24.0,
              error="ValueError: boom", extra={"scores": [float("nan")]}),
        Trial(4, two, TIMED_OUT, 0.7, 1, curve, 25.0, 26.0, extra={"timeout": 1}),
        Trial(5, base, INTERRUPTED, None, None, curve[:1], 27.0, None),
        Trial(6, two, RUNNING, None, None, [], 28.0, None),
    ]  # fmt: skip
    return load(write_search(directory, trials, space))


def test_a_real_search_reads_back_as_an_optuna_study(root, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with load(root) as search:
        study = to_optuna(search, storage)
        trials, best, names = search.trials, search.best_trial, search.space.names
    loaded = optuna.load_study(study_name=PROJECT, storage=storage)
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert loaded.metric_names == ["val_accuracy"]
    assert loaded.user_attrs["keras_hparams_project"] == str(root / PROJECT)
    assert len(loaded.trials) == len(trials) == len(study.trials)
    for ours, theirs in zip(trials, loaded.trials, strict=True):
        assert theirs.number == ours.id - 1
        assert theirs.state == TrialState.COMPLETE
        assert theirs.value == pytest.approx(ours.score)
        assert theirs.params == pytest.approx(ours.params)
        assert theirs.intermediate_values == pytest.approx(
            {e: logs["val_accuracy"] for e, logs in enumerate(ours.history)}
        )
        assert theirs.user_attrs["keras_hparams_trial_id"] == ours.id
        assert theirs.user_attrs["best_epoch"] == ours.best_epoch
        assert theirs.user_attrs["epochs_trained"] == len(ours.history)
        at_best = ours.history[ours.best_epoch]
        assert theirs.user_attrs["metrics_at_best_epoch"] == pytest.approx(
            {k: v for k, v in at_best.items() if k != "val_accuracy"}
        )
        assert theirs.datetime_start.timestamp() == pytest.approx(ours.started)
        assert theirs.datetime_complete.timestamp() == pytest.approx(ours.ended)
        distributions = theirs.distributions
        assert distributions["lr"] == FloatDistribution(1e-3, 1e-1, log=True)
        assert distributions["units_0"] == IntDistribution(4, 16, step=4)
        assert distributions["act"] == CategoricalDistribution(["relu", "tanh"])
        assert distributions["batch_size"] == CategoricalDistribution([16, 32])
    assert loaded.best_trial.number == best.id - 1
    # Optuna's own analysis runs on it.
    importances = optuna.importance.get_param_importances(loaded)
    assert set(importances) <= set(names)


def test_statuses_conditional_values_and_extra_fields_map_to_optuna(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with conditional_search(tmp_path / "p") as search:
        to_optuna(search, storage, study_name="cond")
    study = optuna.load_study(study_name="cond", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = study.trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.PRUNED,
        TrialState.FAIL, TrialState.RUNNING,
    ]  # fmt: skip
    assert [t.value for t in trials] == [0.5, 0.9, None, 0.7, None, None]
    assert [t.user_attrs["keras_hparams_status"] for t in trials] == [
        COMPLETED, PRUNED, FAILED, TIMED_OUT, INTERRUPTED, RUNNING,
    ]  # fmt: skip
    one, two = trials[0], trials[1]
    assert "units_1" not in one.params and two.params["units_1"] == 96
    assert two.params["batch_size"] == 32  # a value the space does not know
    distributions = two.distributions
    assert distributions["units_1"] == IntDistribution(32, 128, step=32)
    assert distributions["dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert distributions["bn"] == CategoricalDistribution([False, True])
    assert distributions["seed"] == CategoricalDistribution([7])
    assert distributions["batch_size"] == CategoricalDistribution([32])
    assert one.intermediate_values == {0: 0.9, 1: 0.5}
    assert trials[2].intermediate_values == {}  # NaN is left out
    assert trials[2].user_attrs["error"] == "ValueError: boom"
    assert trials[2].user_attrs["extra"] == {"scores": [None]}
    assert trials[5].datetime_complete is None
    assert study.best_trial.number == 0


def test_a_study_of_that_name_is_not_overwritten(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with conditional_search(tmp_path / "p") as search:
        to_optuna(search, storage)
        with pytest.raises(
            ValueError,
            match=r"to_optuna: a study named 'p' already exists in 'sqlite:///.*'\. "
            r"Pass another study_name, or delete it first with "
            r"optuna\.delete_study\(study_name='p', storage=\.\.\.\)\.",
        ):
            to_optuna(search, storage)


def test_the_console_command_writes_the_study(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    conditional_search(tmp_path / "p").close()
    argv = ["export-optuna", str(tmp_path / "p"), storage, "--study-name", "cli"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == (
        f"Wrote 6 trials to the Optuna study 'cli' in {storage}"
    )
    assert main(argv) == 1
    assert "a study named 'cli' already exists" in capsys.readouterr().err
    assert len(optuna.load_study(study_name="cli", storage=storage).trials) == 6


def test_without_optuna_the_export_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with conditional_search(tmp_path / "p") as search:
        with pytest.raises(ImportError, match=r'pip install "keras-hparams\[optuna\]"'):
            to_optuna(search, f"sqlite:///{tmp_path / 'optuna.db'}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url, deadline):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_optuna_dashboard_serves_the_exported_study(tmp_path):
    if not DASHBOARD.is_file():
        pytest.skip("optuna-dashboard is not installed")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with conditional_search(tmp_path / "p") as search:
        to_optuna(search, storage, study_name="served")
    port = free_port()
    server = subprocess.Popen(
        [str(DASHBOARD), storage, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/studies"
        studies = get_json(base, time.monotonic() + 120)["study_summaries"]
        (study,) = studies
        assert study["study_name"] == "served"
        detail = get_json(f"{base}/{study['study_id']}", time.monotonic() + 30)
        assert len(detail["trials"]) == 6
        first = detail["trials"][0]
        assert first["state"] == "Complete" and first["values"] == [0.5]
        steps = [(v["step"], v["value"]) for v in first["intermediate_values"]]
        assert steps == [(0, 0.9), (1, 0.5)]
    finally:
        server.terminate()
        server.wait(timeout=30)

import dataclasses
import sys

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import checkpoints
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, FAILED, PRUNED, RUNNING, Trial
from tests.test_results import PROJECT, digits_200, shared_search, write_search

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from keras_hparams.integrations import MLflowCallback  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One MLflow SQLite store for the module (creating its tables takes seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def replay(callback, search):
    """Calls the hooks as the search loop does: begin, each trial, end."""
    callback.on_search_begin(search)
    for trial in search.trials:
        started = Trial(trial.id, trial.params, RUNNING, started=trial.started)
        callback.on_trial_begin(search, started)
        callback.on_trial_end(search, trial)
    callback.on_search_end(search)


def runs_by_name(client, experiment_name):
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id])
    return {run.info.run_name: run for run in runs}


@pytest.mark.slow
def test_each_trial_is_an_mlflow_run_under_the_search_run(root, tracking, tmp_path):
    uri, artifacts = tracking
    callback = MLflowCallback(uri, "digits", artifact_location=artifacts)
    with load(root) as search:
        replay(callback, search)
        trials, best = search.trials, search.best_trial
    client = MlflowClient(uri)
    runs = runs_by_name(client, "digits")
    assert sorted(runs) == ["digits search"] + [f"trial_{t.id:04d}" for t in trials]
    parent = runs["digits search"]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["keras_hparams.best_trial"] == str(best.id)
    assert parent.data.metrics == {"best_val_accuracy": pytest.approx(best.score)}
    assert parent.data.params == {f"best.{k}": str(v) for k, v in best.params.items()}
    for trial in trials:
        run = runs[f"trial_{trial.id:04d}"]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        assert run.data.tags["keras_hparams.status"] == COMPLETED
        assert run.data.tags["keras_hparams.best_epoch"] == str(trial.best_epoch)
        assert run.info.start_time == int(trial.started * 1000)
        assert run.info.end_time == int(trial.ended * 1000)
        for metric in ("loss", "val_accuracy"):
            points = client.get_metric_history(run.info.run_id, metric)
            assert [p.step for p in points] == [0, 1]
            assert [p.value for p in points] == pytest.approx(
                [logs[metric] for logs in trial.history]
            )
        score = run.data.metrics["best_val_accuracy"]
        assert score == pytest.approx(trial.score)
        assert ("keras_hparams.best" in run.data.tags) == (trial.id == best.id)
    # The best model, as the best trial's checkpoint, loads from the artifact.
    (artifact,) = client.list_artifacts(parent.info.run_id, "best_model")
    assert artifact.path == "best_model/model.keras"
    local = client.download_artifacts(parent.info.run_id, artifact.path, tmp_path)
    checkpoint = checkpoints.path(root / PROJECT, best.id)
    assert open(local, "rb").read() == checkpoint.read_bytes()
    model = keras.models.load_model(local)
    assert model.count_params() > 0


def test_failed_and_pruned_trials_keep_their_status_and_error(tracking, tmp_path):
    uri, artifacts = tracking
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1), kh.Int("units", 8, 16)])
    history = [{"val_loss": 0.5}, {"val_loss": float("nan")}]
    trials = [
        Trial(1, {"lr": 0.05, "units": 8}, COMPLETED, 0.4, 0, [{"val_loss": 0.4}],
              started=100.0, ended=101.0),
        Trial(2, {"lr": 0.02}, FAILED, history=history, started=102.0, ended=103.0,
              error="ValueError: " + "x" * 6000),
        Trial(3, {"lr": 0.03, "units": 16}, PRUNED, 0.6, 0, [{"val_loss": 0.6}],
              started=104.0, ended=105.0),
    ]  # fmt: skip
    with load(write_search(tmp_path / "p", trials, space)) as search:
        replay(MLflowCallback(uri, "statuses", artifact_location=artifacts), search)
    client = MlflowClient(uri)
    runs = runs_by_name(client, "statuses")
    failed = runs["trial_0002"]
    assert failed.info.status == "FAILED"
    assert failed.data.params == {"lr": "0.02"}  # no units: conditional
    assert failed.data.tags["keras_hparams.error"].endswith("x" * 100)
    assert "best_val_loss" not in failed.data.metrics
    nan_free = client.get_metric_history(failed.info.run_id, "val_loss")
    assert [(p.step, p.value) for p in nan_free] == [(0, 0.5)]
    assert runs["trial_0003"].info.status == "FINISHED"
    assert runs["trial_0003"].data.tags["keras_hparams.status"] == PRUNED
    # No checkpoint was kept: the search run says which trial won, with no model.
    parent = runs["p search"]
    assert parent.data.tags["keras_hparams.best_trial"] == "1"
    assert client.list_artifacts(parent.info.run_id) == []


def test_a_trial_begun_before_the_callback_still_gets_its_run(tracking, tmp_path):
    uri, artifacts = tracking
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trial = Trial(1, {"lr": 0.05}, COMPLETED, 0.4, 0, [{"val_loss": 0.4}], 1.0, 2.0)
    with load(write_search(tmp_path / "p", [trial], space)) as search:
        callback = MLflowCallback(uri, "resumed", artifact_location=artifacts)
        callback.on_search_begin(search)
        callback.on_trial_end(search, dataclasses.replace(trial))
        callback.on_search_end(search)
    runs = runs_by_name(MlflowClient(uri), "resumed")
    assert runs["trial_0001"].data.params == {"lr": "0.05"}
    assert runs["trial_0001"].data.metrics["best_val_loss"] == np.float64(0.4)


def test_without_mlflow_the_callback_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r'pip install "keras-hparams\[mlflow\]"'):
        MLflowCallback("sqlite:///never.db")


@pytest.mark.slow
def test_a_tuner_logs_each_trial_through_its_trial_callbacks(tracking, tmp_path):
    from tests.conftest import make_builder
    from tests.test_tuner import make_tuner, search

    uri, artifacts = tracking
    callback = MLflowCallback(uri, "live", artifact_location=artifacts)
    x, y = digits_200()
    tuner = make_tuner(
        make_builder(), tmp_path, max_trials=2, trial_callbacks=[callback]
    )
    search(tuner, (x, y), epochs=2)
    client = MlflowClient(uri)
    runs = runs_by_name(client, "live")
    assert sorted(runs) == ["p search", "trial_0001", "trial_0002"]  # the project
    for trial in tuner.trials:
        run = runs[f"trial_{trial.id:04d}"]
        assert run.info.status == "FINISHED"
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        assert run.data.metrics["best_val_accuracy"] == pytest.approx(trial.score)
    best = runs[f"trial_{tuner.best_trial.id:04d}"]
    assert "keras_hparams.best" in best.data.tags

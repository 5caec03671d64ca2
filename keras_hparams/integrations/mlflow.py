"""Logs a search to MLflow: one run per trial, under one run for the search.

Needs the mlflow package (`pip install "keras-hparams[mlflow]"`, which installs
mlflow-skinny; a full `mlflow` install works too). It is imported when the callback
is made, so a missing package is reported before any training.
"""

from __future__ import annotations

import math
import time
from typing import Any

from keras_hparams import checkpoints
from keras_hparams.trial import COMPLETED, FAILED, INTERRUPTED, RUNNING, Trial
from keras_hparams.trial_callbacks import TrialCallback

# MLflow's run statuses for ours: a pruned or timed-out trial finished normally.
_STATUSES = {FAILED: "FAILED", INTERRUPTED: "KILLED", RUNNING: "RUNNING"}
_BATCH = 1000  # MLflow's limit on metrics per log_batch call
_TAG_LIMIT = 5000  # characters MLflow keeps in a tag value
TRIAL_TAG = "keras_hparams.trial_id"


class MLflowCallback(TrialCallback):
    """Logs each trial as an MLflow run, nested under a run for the search.

    Each trial's run holds its values as params, its per-epoch metrics (from
    `trial.history`, with `step` the 0-based epoch), its score as the metric
    `best_<objective>`, and its status, best epoch and error as tags. At the end of
    the search, the parent run gets the best values, score and trial, and the best
    trial's checkpoint (`model.keras`, with the weights of its best epoch) as the
    artifact `best_model/model.keras`; the best trial's run is tagged
    `keras_hparams.best=true`.

    Args:
        tracking_uri: str, where MLflow stores runs, such as
            `"sqlite:///mlflow.db"` or `"http://localhost:5000"`. Defaults to
            `None`: MLflow's default (`MLFLOW_TRACKING_URI`, else its own).
        experiment_name: str, the MLflow experiment, created if needed. Defaults
            to `None`: the project folder's name.
        artifact_location: str, where a new experiment stores artifacts. Defaults
            to `None`: the tracking server's default.
        log_best_model: bool, log the best trial's checkpoint at the end. Defaults
            to `True`.

    Raises:
        ImportError: mlflow is not installed.

    Example:

    ```python
    from keras_hparams.integrations import MLflowCallback

    tracker = MLflowCallback("sqlite:///mlflow.db", experiment_name="digits")
    tuner = kh.Tuner(build_model, trial_callbacks=[tracker])
    tuner.search(x, y, epochs=10, validation_split=0.2)
    ```
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        *,
        artifact_location: str | None = None,
        log_best_model: bool = True,
    ) -> None:
        _mlflow()
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.log_best_model = log_best_model
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.run_ids: dict[int, str] = {}

    def on_search_begin(self, search: Any) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        name = self.experiment_name or search.project_directory.name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            self.experiment_id = self.client.create_experiment(
                name, artifact_location=self.artifact_location
            )
        else:
            self.experiment_id = experiment.experiment_id
        objective = search.objective
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{search.project_directory.name} search",
            tags={
                "keras_hparams.project": str(search.project_directory),
                "keras_hparams.objective": f"{objective.name} ({objective.direction})",
            },
        )
        self.parent_run_id = run.info.run_id

    def on_trial_begin(self, search: Any, trial: Trial) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id,
            start_time=_milliseconds(trial.started),
            run_name=f"trial_{trial.id:04d}",
            tags={"mlflow.parentRunId": self.parent_run_id, TRIAL_TAG: str(trial.id)},
        )
        self.run_ids[trial.id] = run.info.run_id
        params = [Param(name, str(value)) for name, value in trial.params.items()]
        self.client.log_batch(run.info.run_id, params=params)

    def on_trial_end(self, search: Any, trial: Trial) -> None:
        from mlflow.entities import Metric, RunTag

        if trial.id not in self.run_ids:  # begun before this callback was attached
            self.on_trial_begin(search, trial)
        run_id = self.run_ids[trial.id]
        now = _milliseconds(trial.ended) or int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), now, epoch)
            for epoch, logs in enumerate(trial.history)
            for name, value in logs.items()
            if _finite(value)
        ]
        if _finite(trial.score):
            best = trial.best_epoch or 0
            name = f"best_{search.objective.name}"
            metrics.append(Metric(name, float(trial.score), now, best))
        tags = {
            "keras_hparams.status": trial.status,
            "keras_hparams.best_epoch": str(trial.best_epoch),
            "keras_hparams.epochs_trained": str(len(trial.history)),
        }
        if trial.error:
            tags["keras_hparams.error"] = trial.error[-_TAG_LIMIT:]
        for start in range(0, len(metrics), _BATCH):
            self.client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
        tag_list = [RunTag(k, v) for k, v in tags.items()]
        self.client.log_batch(run_id, tags=tag_list)
        status = _STATUSES.get(trial.status, "FINISHED")
        self.client.set_terminated(run_id, status=status, end_time=now)

    def on_search_end(self, search: Any) -> None:
        from mlflow.entities import Metric, Param

        completed = [t for t in search.trials if t.status == COMPLETED]
        if completed:
            best = search.best_trial
            now = int(time.time() * 1000)
            params = [Param(f"best.{k}", str(v)) for k, v in best.params.items()]
            score = Metric(f"best_{search.objective.name}", float(best.score), now, 0)
            self.client.log_batch(self.parent_run_id, metrics=[score], params=params)
            self.client.set_tag(self.parent_run_id, "keras_hparams.best_trial", best.id)
            if best.id in self.run_ids:
                self.client.set_tag(self.run_ids[best.id], "keras_hparams.best", "true")
            checkpoint = checkpoints.path(search.project_directory, best.id)
            if self.log_best_model and checkpoint.is_file():
                self.client.log_artifact(self.parent_run_id, checkpoint, "best_model")
        self.client.set_terminated(self.parent_run_id, status="FINISHED")


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ImportError(
            'MLflowCallback needs mlflow: pip install "keras-hparams[mlflow]"'
        ) from None
    return mlflow


def _milliseconds(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)

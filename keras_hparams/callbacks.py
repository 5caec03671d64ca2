"""The user's callbacks, prepared for one trial.

Each trial gets fresh copies. A `keras.callbacks.TensorBoard` copy logs into its own
`trial_NNNN` subfolder of the user's `log_dir`, beside a record of the trial's values
and score that TensorBoard's HParams dashboard reads. Without the tensorboard package
the TensorBoard callback is left out (Keras would fail at the first epoch), with a
warning, and the search goes on.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import warnings
from pathlib import Path
from typing import Any

import keras

from keras_hparams import hparams_domains
from keras_hparams.checkpoints import trial_folder
from keras_hparams.objective import Objective
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.trial import Trial

MISSING_TENSORBOARD = (
    "keras.callbacks.TensorBoard needs the tensorboard package, which is not "
    'installed: pip install "keras-hparams[tensorboard]". This search runs without '
    "the TensorBoard callback."
)


def for_trial(
    callbacks: list[keras.callbacks.Callback],
    trial: Trial,
    objective: Objective,
    space: SearchSpace | None = None,
) -> list[keras.callbacks.Callback]:
    """Fresh copies of `callbacks` for `trial`, so no state leaks between trials.

    A `keras.callbacks.TensorBoard` copy gets `log_dir=<its log_dir>/trial_NNNN`, and
    an `HParamsLogger` writing into the same folder follows it (with `space`, the
    search space, it declares each dimension's domain). Callbacks that write
    files (`ModelCheckpoint`, `CSVLogger`, `BackupAndRestore`) get their own path in a
    `trial_NNNN` folder too (see `per_trial_paths`), so that trials running at once
    never write one file, and one trial never restores another's backup.
    """
    prepared = []
    for callback in callbacks:
        callback = copy.deepcopy(callback)
        if not isinstance(callback, keras.callbacks.TensorBoard):
            _give_own_path(callback, trial_folder(trial.id))
            prepared.append(callback)
            continue
        if not tensorboard_installed():
            warnings.warn(MISSING_TENSORBOARD, UserWarning, stacklevel=2)
            continue
        callback.log_dir = os.path.join(callback.log_dir, trial_folder(trial.id))
        logger = HParamsLogger(callback.log_dir, trial, objective, space)
        prepared += [callback, logger]
    return prepared


def per_trial_paths(callbacks: list[keras.callbacks.Callback]) -> list[str]:
    """Where each file-writing callback writes, one sentence each, for the search's
    first lines: `ModelCheckpoint` of `ckpt/best.keras` writes
    `ckpt/trial_NNNN/best.keras`."""
    described = []
    for callback in callbacks:
        for kind, attribute in _PATHS.items():
            if isinstance(callback, kind):
                path = getattr(callback, attribute)
                where = (
                    os.path.join(path, "trial_NNNN")
                    if attribute in _FOLDERS
                    else _in_trial_folder(path, "trial_NNNN")
                )
                described.append(
                    f"{kind.__name__}({attribute}={path!r}) writes each trial's "
                    f"files to {where}"
                )
    return described


_PATHS = {
    keras.callbacks.ModelCheckpoint: "filepath",
    keras.callbacks.CSVLogger: "filename",
    keras.callbacks.BackupAndRestore: "backup_dir",
    keras.callbacks.TensorBoard: "log_dir",
}
_FOLDERS = ("backup_dir", "log_dir")  # folders of files, not files


def _give_own_path(callback: keras.callbacks.Callback, folder: str) -> None:
    if isinstance(callback, keras.callbacks.ModelCheckpoint):
        callback.filepath = _in_trial_folder(callback.filepath, folder)
    elif isinstance(callback, keras.callbacks.CSVLogger):
        callback.filename = _in_trial_folder(callback.filename, folder)
        os.makedirs(os.path.dirname(callback.filename) or ".", exist_ok=True)
    elif isinstance(callback, keras.callbacks.BackupAndRestore):
        backup_dir = os.path.join(callback.backup_dir, folder)
        # Keras derives its file paths from backup_dir once, in __init__.
        callback.backup_dir = backup_dir
        callback._weights_path = os.path.join(backup_dir, "latest.weights.h5")
        callback._training_metadata_path = os.path.join(
            backup_dir, "training_metadata.json"
        )
        callback._prev_weights_path = callback._weights_path + ".bkp"
        callback._prev_training_metadata_path = (
            callback._training_metadata_path + ".bkp"
        )


def _in_trial_folder(path: str, folder: str) -> str:
    head, tail = os.path.split(str(path))
    return os.path.join(head, folder, tail)


def tensorboard_installed() -> bool:
    try:
        from tensorboard.plugins.hparams import summary_v2  # noqa: F401
    except ImportError:
        return False
    return True


class HParamsLogger(keras.callbacks.Callback):
    """Writes a trial's values and score for TensorBoard's HParams dashboard.

    At the start of training it writes the values (the dashboard's session start);
    at the end, the score as a scalar named after the objective, and the session's
    end. The score is the objective's best epoch, as the trial's score is: with
    cross-validation or several executions, the mean of each run's best (one point
    per run, the last being the trial's score). A run whose loss or objective
    became NaN or infinite ends the session as failed, without a score. The
    dashboard lists each trial folder of a `log_dir` as one session with its values,
    its score and the metrics Keras's TensorBoard callback logged there. A trial
    that continues from its saved progress (resumed, or promoted by a
    multi-fidelity search) keeps its session: its values are not written again, and
    each run's score is the next point of the objective's scalar.

    Given the search `space`, it also writes the experiment's configuration into
    the parent of `log_dir` (the `log_dir` that holds every trial folder): each
    hyperparameter's whole domain (its bounds, every choice, ints as ints), so the
    dashboard offers values no trial tried yet, and the metrics, the objective
    first, then those Keras's TensorBoard callback logs (`epoch_<name>` in the
    `train` and `validation` subfolders). Each trial rewrites it, so it follows a
    space that grows as conditional hyperparameters appear.

    Args:
        log_dir: str, the trial's folder.
        trial: the `Trial`, for its id, values and start time (the runs of one
            trial share it).
        objective: the search's `Objective`.
        space: the `SearchSpace`, or `None` (the default) to write no experiment
            configuration: the dashboard then infers the domains from the values
            tried.

    Example:

    ```python
    logger = HParamsLogger("logs/trial_0001", trial, kh.Objective("val_loss", "min"))
    model.fit(x, y, validation_split=0.2, callbacks=[logger])
    ```
    """

    def __init__(
        self,
        log_dir: str,
        trial: Trial,
        objective: Objective,
        space: SearchSpace | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.trial_id = trial_folder(trial.id)
        self.started = trial.started
        self.space = space
        self.values = {
            name: _value(v, _dimension(space, name)) for name, v in trial.params.items()
        }
        self.continued = bool(trial.history)  # an earlier run wrote the values
        self.earlier_runs = len(trial.extra.get("budget_scores", []))
        self.objective = objective
        self.metric_names: list[str] = []
        self.history: list[dict[str, float]] = []
        self.diverged = False
        self._log: _TrialLog | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from tensorboard.plugins.hparams import summary_v2

        self._log = log = _TrialLog.open(self.log_dir, self.started)
        if not log.scores and not self.continued:
            with log.writer.as_default():
                summary_v2.hparams(self.values, trial_id=self.trial_id)
            log.writer.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.metric_names += [k for k in logs if k not in self.metric_names]
        name = self.objective.name
        value = logs.get(name)
        self.history.append({} if value is None else {name: float(value)})
        for key in (name, "loss"):
            if key in logs and not math.isfinite(float(logs[key])):
                self.diverged = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api_pb2, summary

        log = self._log
        if log is None:
            return
        best = self.objective.best_epoch(self.history)
        status = api_pb2.STATUS_SUCCESS
        with log.writer.as_default():
            if best is None or self.diverged:
                status = api_pb2.STATUS_FAILURE
            else:
                log.scores.append(self.history[best][self.objective.name])
                tf.summary.scalar(
                    self.objective.name,
                    sum(log.scores) / len(log.scores),
                    step=self.earlier_runs + len(log.scores) - 1,
                    description="The trial's score: its best epoch's value (the "
                    "mean over runs, with cross-validation or several executions).",
                )
            end = summary.session_end_pb(status).SerializeToString()
            tf.summary.experimental.write_raw_pb(end, step=0)
        log.writer.flush()
        if self.space is not None:
            hparams_domains.write_config(
                Path(self.log_dir).parent,
                self.space,
                self.values,
                self.objective.name,
                self.metric_names,
            )
        if self.started is None:  # not a tuner's trial: no other run will follow
            log.close()


@dataclasses.dataclass
class _TrialLog:
    """The event file of a trial folder, open for all the runs of the trial.

    One writer for every run keeps the runs' points in one file, in order
    (TensorBoard reads the files of a folder in name order, which is not the order
    they were made in). It is closed when a later trial's logger opens its own.
    """

    log_dir: str
    started: float | None
    writer: Any
    scores: list[float] = dataclasses.field(default_factory=list)

    @classmethod
    def open(cls, log_dir: str, started: float | None) -> _TrialLog:
        import tensorflow as tf

        log = _OPEN_LOGS.get(log_dir)
        if log is not None and started is not None and log.started == started:
            return log
        for other in list(_OPEN_LOGS.values()):
            if other.started != started or other.log_dir == log_dir:
                other.close()
        log = cls(log_dir, started, tf.summary.create_file_writer(log_dir))
        _OPEN_LOGS[log_dir] = log
        return log

    def close(self) -> None:
        self.writer.close()
        _OPEN_LOGS.pop(self.log_dir, None)


# The open trial logs by folder: those of the trial being trained.
_OPEN_LOGS: dict[str, _TrialLog] = {}


def _dimension(space: SearchSpace | None, name: str) -> Dimension | None:
    return space[name] if space is not None and name in space else None


def _value(value: Any, dimension: Dimension | None = None) -> bool | int | float | str:
    """A value the HParams summary accepts (bool, int, float or str), written as
    its dimension's domain lists it."""
    if dimension is not None:
        return hparams_domains.as_domain_value(dimension, value)
    return hparams_domains.plain(value)

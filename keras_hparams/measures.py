"""Measuring a trial's objectives and constraints on its model.

Runs where the trial runs (`runner.py`), with the model at hand: the parameter count
and the inference latency on the built model before training (so a model over a
limit is not trained), the saved size, your own measures and the metrics of the
best epoch after training. What it finds goes into `trial.extra` (see
`objectives.py`); a trial outside a constraint gets status `"infeasible"`.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from typing import Any

import keras
import numpy as np

from keras_hparams.checkpoints import trial_folder
from keras_hparams.errors import FailedTrialError, FatalError, ObjectiveNotFoundError
from keras_hparams.objective import FUNCTION, LATENCY, PARAMS, SIZE, Objective
from keras_hparams.objectives import Objectives
from keras_hparams.trial import INFEASIBLE, Trial

# Measured on the built model: the weights do not change them.
BEFORE_TRAINING = (PARAMS, LATENCY)


def before_training(
    objectives: Objectives, trial: Trial, model: keras.Model
) -> dict[str, float]:
    """The parameter count and latency the search needs, measured on the built
    model. If they break a constraint, `trial` is recorded as infeasible (status
    `"infeasible"`): it is not to be trained.

    A model that is not built yet (a subclassed model without an input shape) is
    measured after training instead.
    """
    if not model.built:
        return {}
    values = {
        name: measure(quantity, model, {})
        for name, quantity in objectives.quantities().items()
        if quantity.measure in BEFORE_TRAINING
    }
    violations = objectives.violations(values)
    if violations:
        _record(objectives, trial, values, violations)
        trial.status, trial.score = INFEASIBLE, None
        trial.error = "Not trained: " + "; ".join(violations) + "."
    return values


def after_training(
    objectives: Objectives,
    trial: Trial,
    model: keras.Model,
    measured: dict[str, float],
) -> None:
    """Records every objective and constrained quantity of the trained `trial`
    (metrics at its best epoch, `measured` before training, measures of `model`)
    and, if one breaks a constraint, marks it infeasible."""
    history = _history(trial.history)
    values = {}
    for name, quantity in objectives.quantities().items():
        if name == objectives.primary.name:
            values[name] = trial.score  # the mean over folds and executions
        elif quantity.is_metric:
            values[name] = _metric(trial, name)
        elif name in measured:
            values[name] = measured[name]
        else:
            values[name] = measure(quantity, model, history)
    violations = objectives.violations(values)
    _record(objectives, trial, values, violations)
    if violations:
        trial.status = INFEASIBLE
        trial.error = "; ".join(violations) + "."


def measure(quantity: Objective, model: keras.Model, history: dict) -> float:
    """One measure of `model`: its parameter count, latency, saved size (counts
    as ints), or the value of your function."""
    if quantity.measure == PARAMS:
        return int(model.count_params())
    if quantity.measure == LATENCY:
        return latency(model, **quantity.options)
    if quantity.measure == SIZE:
        return saved_size(model)
    if quantity.measure == FUNCTION:
        value = quantity.function(model, history)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise FailedTrialError(
                f"The measure of objective {quantity.name!r} returned {value!r}; "
                "expected a number."
            )
        return float(value)
    raise ValueError(f"Unknown measure {quantity.measure!r}.")


def latency(model: keras.Model, batch_size: int, warmup: int, repeats: int) -> float:
    """Seconds per sample: the median of `repeats` timed `predict_on_batch` calls
    on a batch of zeros, after `warmup` untimed ones, divided by `batch_size`."""
    batch = _zeros(model, batch_size)
    for _ in range(warmup):
        model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch_size


def saved_size(model: keras.Model) -> int:
    """The bytes of `model`'s `.keras` file, as `model.save` writes it."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return os.path.getsize(path)


def log_to_tensorboard(callbacks: list[Any], trial: Trial, first: str) -> None:
    """Writes each objective but the first (the HParams logger writes that one) as
    a scalar into the trial's folder of every `keras.callbacks.TensorBoard` in
    `callbacks`, so TensorBoard's HParams dashboard shows every objective."""
    values = trial.extra.get("objectives", {})
    folders = [
        os.path.join(c.log_dir, trial_folder(trial.id))
        for c in callbacks
        if isinstance(c, keras.callbacks.TensorBoard)
    ]
    if not folders or len(values) < 2:
        return
    from keras_hparams.callbacks import tensorboard_installed

    if not tensorboard_installed():
        return  # the trial's callbacks warned already
    import tensorflow as tf

    for folder in folders:
        writer = tf.summary.create_file_writer(folder, filename_suffix=".objectives")
        with writer.as_default():
            for name, value in values.items():
                if name != first:
                    tf.summary.scalar(name, value, step=0)
        writer.close()


def _record(objectives: Objectives, trial: Trial, values: dict, violations) -> None:
    trial.extra["objectives"] = {n: values[n] for n in objectives.names if n in values}
    trial.extra["constraints"] = {
        c.name: values[c.name] for c in objectives.constraints if c.name in values
    }
    if violations:
        trial.extra["violations"] = list(violations)


def _metric(trial: Trial, name: str) -> float:
    """The metric `name` at the trial's best epoch."""
    logs = trial.history[trial.best_epoch] if trial.best_epoch is not None else {}
    if name not in logs:
        raise ObjectiveNotFoundError(
            f"The objective or constraint {name!r} is not among the metrics the "
            f"model reports: {sorted(logs)}. Choose one of these, or pass "
            "validation_data or validation_split to get the val_ metrics."
        )
    value = logs[name]
    if not math.isfinite(value):
        raise FailedTrialError(f"{name} was {value} at the best epoch.")
    return float(value)


def _history(history: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per-epoch logs as `model.fit(...).history` gives them: a list per metric."""
    names = dict.fromkeys(name for logs in history for name in logs)
    return {name: [logs.get(name, math.nan) for logs in history] for name in names}


def _zeros(model: keras.Model, batch_size: int) -> Any:
    """A batch of zeros for each of `model`'s inputs."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise FatalError(
            "Objective.latency() times predictions on zeros of the model's input "
            "shape, and this model has no inputs yet: start it with keras.Input "
            "(a Sequential or Functional model), or build it before returning it."
        )
    batch = []
    for tensor in inputs:
        shape = tuple(tensor.shape)[1:]
        if any(size is None for size in shape):
            raise FatalError(
                "Objective.latency() times predictions on zeros of the model's "
                f"input shape, and an input has a dimension of unknown size: "
                f"{tuple(tensor.shape)}. Give keras.Input a full shape."
            )
        batch.append(np.zeros((batch_size, *shape), dtype=tensor.dtype))
    return batch[0] if len(batch) == 1 else batch

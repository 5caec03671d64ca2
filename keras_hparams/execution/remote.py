"""What travels between the driver and workers that share no objects with it
(worker processes, Dask workers): the Job once, a Task and an Outcome per trial."""

from __future__ import annotations

import dataclasses
import pickle
import time

from keras_hparams.pickling import check_picklable
from keras_hparams.runner import Job, Outcome, Task
from keras_hparams.trial import FAILED


def worker_job(job: Job) -> bytes:
    """`job` pickled for workers that share no objects with the driver."""
    job = dataclasses.replace(job, model_bytes=True)
    return check_picklable("builder with the arguments of search()", job)


def load_job(payload: bytes) -> Job:
    """The Job a worker received, its data made (functions called) once."""
    job = pickle.loads(payload)
    job.plan = job.plan.materialized()  # data given as functions, made once here
    return job


def dumps_outcome(outcome: Outcome) -> bytes:
    """`outcome` pickled for the driver; a failed one if it cannot be pickled."""
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - e.g. a metric value pickle refuses
        trial = outcome.trial
        trial.status, trial.extra = FAILED, {}
        trial.error = f"The trial's result could not be sent back: {error}"
        failed = Outcome(trial, outcome.dimensions)
        return pickle.dumps(failed, protocol=pickle.HIGHEST_PROTOCOL)


def failed(task: Task, error: str, started: float | None = None) -> Outcome:
    """The Outcome of a trial whose worker could not report one."""
    trial = task.trial
    trial.status, trial.error, trial.ended = FAILED, error, time.time()
    trial.started = started or trial.started
    return Outcome(trial, [])

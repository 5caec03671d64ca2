"""Trials as tasks on a Dask cluster's workers (`Tuner(executor=<Client>)`).

The search's `Job` is scattered to every worker once; each trial sends its `Task`,
runs with `runner.run_trial` there, and comes back as a pickled `Outcome`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import pickle
import threading
import time
from typing import Any

from keras_hparams.execution.remote import (
    dumps_outcome,
    failed,
    load_job,
    worker_job,
)
from keras_hparams.runner import Job, OnBuilt, Outcome, Task, error_message, run_trial

_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()
# Keras's session and seeds are per process: one trial at a time in a worker.
_TRIAL_LOCK = threading.Lock()


def _dask_run(job: bytes, digest: str, task: bytes) -> bytes:
    """A Dask task: runs one trial on the worker, the Job unpickled once there."""
    with _JOBS_LOCK:
        if digest not in _JOBS:
            _JOBS.clear()
            _JOBS[digest] = load_job(job)
        loaded = _JOBS[digest]
    with _TRIAL_LOCK:
        return dumps_outcome(run_trial(loaded, pickle.loads(task)))


class DaskExecutor:
    """Runs trials as tasks on a `dask.distributed.Client`'s workers.

    The Job is scattered to every worker once; each trial sends its Task. With
    `resources` (e.g. `{"GPU": 1}`) each trial asks the scheduler for them.
    """

    def __init__(
        self, client: Any, n_workers: int | None, resources: dict | None
    ) -> None:
        self.client = client
        self.resources = resources
        threads = sum(client.nthreads().values())
        self.n_workers = n_workers or max(1, threads)
        self.futures: dict[Any, Task] = {}
        self.job: Any = None
        self.digest = ""

    builds_here = False
    shares_files = False
    """Workers may run on other machines: a trial's saved progress travels with it."""

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: Job, on_built: OnBuilt | None = None) -> None:
        # Dask workers share no files with this process: no progress files there.
        payload = worker_job(dataclasses.replace(job, project_directory=None))
        self.digest = hashlib.sha1(payload).hexdigest()
        self.job = self.client.scatter(payload, broadcast=True, hash=False)

    def idle(self) -> int:
        return self.n_workers - len(self.futures)

    def submit(self, task: Task) -> None:
        future = self.client.submit(
            _dask_run,
            self.job,
            self.digest,
            pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL),
            pure=False,
            resources=self.resources,
            key=f"keras-hparams-trial-{task.trial.id}-{time.time_ns()}",
        )
        self.futures[future] = task

    def wait(self) -> list[Outcome]:
        from distributed import wait

        if not self.futures:
            return []
        done = wait(list(self.futures), return_when="FIRST_COMPLETED").done
        outcomes = []
        for future in done:
            task = self.futures.pop(future)
            try:
                outcomes.append(pickle.loads(future.result()))
            except Exception as error:  # noqa: BLE001 - e.g. KilledWorker
                message = "The Dask task running this trial failed: "
                outcomes.append(failed(task, message + error_message(error)))
        return outcomes

    def shutdown(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures.clear()
        if self.job is not None:
            with contextlib.suppress(Exception):
                self.client.cancel(self.job)
        self.job = None

"""Trials as tasks on a Dask cluster's workers (`Tuner(executor=<Client>)`).

The search's `Job` travels in a worker plugin: the scheduler keeps it and gives it
to every worker, those that join later included, so the search outlives every
worker it started with. Each trial sends its `Task`, runs with `runner.run_trial`
there, and comes back as a pickled `Outcome`.

What a cluster does to a search:

- a worker dies under a trial (killed, preempted): the trial is recorded as failed
  (or runs again, up to `lost_trial_retries` times); Dask's own retry of it
  elsewhere is refused at its start, so it is never trained again silently;
- the client loses its scheduler for less than its reconnection timeout
  (`Client(timeout=...)`): Dask cancels the running tasks, and they are sent again
  once the client is back;
- for longer: `SchedulerLostError`, which names the scheduler; the running
  trials are recorded as interrupted, and `search()` resumes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import pickle
import threading
import time
from typing import Any

from distributed import WorkerPlugin

from keras_hparams.errors import SchedulerLostError
from keras_hparams.execution.remote import (
    dumps_outcome,
    failed,
    load_job,
    worker_job,
)
from keras_hparams.runner import Job, OnBuilt, Outcome, Task, error_message, run_trial

PLUGIN = "keras-hparams-job"
_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()
# Keras's session and seeds are per process: one trial at a time in a worker.
_TRIAL_LOCK = threading.Lock()
# Times a cancelled trial is sent again before it is recorded as failed.
_RESUBMITS = 3


class JobPlugin(WorkerPlugin):
    """Holds the search's pickled Job on every worker, present and future."""

    idempotent = False

    def __init__(self, payload: bytes, digest: str) -> None:
        self.payload = payload
        self.digest = digest


def _dask_run(task: bytes, retries: int) -> bytes:
    """A Dask task: runs one trial on the worker, the Job unpickled once there."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins[PLUGIN]
    with _JOBS_LOCK:
        if plugin.digest not in _JOBS:
            _JOBS.clear()
            _JOBS[plugin.digest] = load_job(plugin.payload)
        loaded = _JOBS[plugin.digest]
    task = pickle.loads(task)
    lost = _workers_lost(worker.get_current_task())
    if lost > retries:
        return dumps_outcome(
            failed(
                task,
                f"The Dask worker running this trial died or was lost ({lost} "
                f"time{'s' * (lost > 1)}), so it is recorded as failed rather than "
                "trained again from the start by Dask's retry "
                f"(Tuner(lost_trial_retries={retries})).",
            )
        )
    with _TRIAL_LOCK:
        return dumps_outcome(run_trial(loaded, task))


def _workers_lost(key: str) -> int:
    """How many workers died while running task `key`, as the scheduler counts."""
    from distributed import get_client

    try:
        return int(
            get_client().run_on_scheduler(
                lambda dask_scheduler: getattr(
                    dask_scheduler.tasks.get(key), "suspicious", 0
                )
            )
        )
    except Exception:  # noqa: BLE001 - an unknown count: the trial runs
        return 0


@dataclasses.dataclass
class _Running:
    task: Task
    resubmits: int = 0


class DaskExecutor:
    """Runs trials as tasks on a `dask.distributed.Client`'s workers.

    With `resources` (e.g. `{"GPU": 1}`) each trial asks the scheduler for them;
    `retries` is the Tuner's `lost_trial_retries`.
    """

    def __init__(
        self,
        client: Any,
        n_workers: int | None,
        resources: dict | None,
        *,
        retries: int = 0,
    ) -> None:
        self.client = client
        self.resources = resources
        self.retries = retries
        threads = sum(client.nthreads().values())
        self.n_workers = n_workers or max(1, threads)
        self.futures: dict[Any, _Running] = {}
        self.plugin: JobPlugin | None = None
        self.address = client.scheduler.address

    builds_here = False
    shares_files = False
    """Workers may run on other machines: a trial's saved progress travels with it."""

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: Job, on_built: OnBuilt | None = None) -> None:
        # Dask workers share no files with this process: no progress files there.
        payload = worker_job(dataclasses.replace(job, project_directory=None))
        self.plugin = JobPlugin(payload, hashlib.sha1(payload).hexdigest())
        self.client.register_plugin(self.plugin, name=PLUGIN)

    def idle(self) -> int:
        return self.n_workers - len(self.futures)

    def submit(self, task: Task, resubmits: int = 0) -> None:
        future = self.client.submit(
            _dask_run,
            pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL),
            self.retries,
            pure=False,
            resources=self.resources,
            key=f"keras-hparams-trial-{task.trial.id}-{time.time_ns()}",
        )
        self.futures[future] = _Running(task, resubmits)

    def wait(self) -> list[Outcome]:
        """Blocks until at least one trial has ended; their Outcomes. Trials that
        Dask cancelled (a lost connection to the scheduler) are sent again once
        the client is back."""
        from distributed import wait

        while self.futures:
            try:
                done = wait(list(self.futures), return_when="FIRST_COMPLETED").done
            except Exception:  # FuturesCancelledError: the connection was lost
                done = [f for f in self.futures if f.status != "pending"]
                if not done:
                    raise
            outcomes, cancelled = [], []
            for future in done:
                running = self.futures.pop(future)
                if future.status == "cancelled":
                    cancelled.append(running)
                    continue
                try:
                    outcomes.append(pickle.loads(future.result()))
                except Exception as error:  # noqa: BLE001 - e.g. KilledWorker
                    message = "The Dask task running this trial failed: "
                    outcomes.append(
                        failed(running.task, message + error_message(error))
                    )
            if cancelled:
                self._reconnected()
            for running in cancelled:
                if running.resubmits >= _RESUBMITS:
                    outcomes.append(
                        failed(
                            running.task,
                            f"Dask cancelled the task running this trial "
                            f"{running.resubmits + 1} times.",
                        )
                    )
                else:
                    self.submit(running.task, running.resubmits + 1)
            if outcomes:
                return outcomes
        return []

    def _reconnected(self) -> None:
        """Waits while the client reconnects to its scheduler; `SchedulerLostError`
        if it gives up. The Job plugin is given again (a restarted scheduler)."""
        timeout = float(getattr(self.client, "_timeout", None) or 30)
        deadline = time.monotonic() + timeout + 10
        while self.client.status != "running":
            if self.client.status in ("closing", "closed", "failed") or (
                time.monotonic() > deadline
            ):
                raise SchedulerLostError(
                    f"The Dask scheduler at {self.address} could not be reached for "
                    f"{timeout:g} s (the client's reconnection timeout, "
                    "Client(timeout=...)), so the search stopped. The trials that "
                    "were running are recorded as interrupted: start the scheduler "
                    "again (or connect a Client to another one) and run search() "
                    "again to resume them."
                )
            time.sleep(0.1)
        self.client.register_plugin(self.plugin, name=PLUGIN)

    def shutdown(self) -> None:
        running = self.client.status == "running"
        for future in self.futures:
            if running:
                future.cancel()
        self.futures.clear()
        if self.plugin is not None and running:
            with contextlib.suppress(Exception):
                self.client.unregister_worker_plugin(PLUGIN)
        self.plugin = None

"""Where trials run: in this process (the default), in worker processes on this
machine (`processes.py`), or on a Dask cluster (`dask.py`).

Every executor runs the same trial body, `runner.run_trial(job, task)`, and the search
loop drives them all through the `Executor` interface: it submits a `Task` while a slot
is idle, then waits for `Outcome`s. The driver alone proposes values and writes the
trial store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from typing import Any, Protocol

from keras_hparams.checks import check_int
from keras_hparams.memory import flat_memory
from keras_hparams.runner import Job, OnBuilt, Outcome, Task, run_trial


class Executor(Protocol):
    """Runs trials somewhere; the search loop's only view of where.

    Attributes:
        slots: int, how many trials run at once.
        builds_here: bool, whether trials are built in this process, so that
            `on_built` is called before each trial trains.
    """

    slots: int
    builds_here: bool

    def start(self, job: Job, on_built: OnBuilt) -> None:
        """Gets ready to run the search's trials (workers start meanwhile)."""

    def idle(self) -> int:
        """How many more trials may be submitted now."""

    def submit(self, task: Task) -> None:
        """Starts `task` (or, in this process, queues it for `wait`)."""

    def wait(self) -> list[Outcome]:
        """Blocks until at least one submitted trial has ended; their Outcomes."""

    def shutdown(self) -> None:
        """Stops the workers; trials still running are abandoned."""


class InProcessExecutor:
    """Runs one trial at a time in this process, inside `wait()`.

    The search's memory stays flat across trials (`memory.flat_memory`) while it is
    started.
    """

    slots = 1
    builds_here = True

    def __init__(self) -> None:
        self.job: Job | None = None
        self.task: Task | None = None
        self.on_built: OnBuilt | None = None
        self._memory = contextlib.ExitStack()

    def start(self, job: Job, on_built: OnBuilt) -> None:
        self.job = dataclasses.replace(job, plan=job.plan.materialized())
        self.on_built = on_built
        self._memory.enter_context(flat_memory())

    def idle(self) -> int:
        return int(self.task is None)

    def submit(self, task: Task) -> None:
        self.task = task

    def wait(self) -> list[Outcome]:
        if self.task is None:
            return []
        task, self.task = self.task, None
        return [run_trial(self.job, task, self.on_built)]

    def shutdown(self) -> None:
        self.task = None
        self._memory.close()


def configure(
    executor: Any = None,
    *,
    n_workers: int | None = None,
    devices: list[str] | None = None,
    resources: dict[str, float] | None = None,
    strategy: Any = None,
    worker_timeout: float = 60,
    retries: int = 0,
) -> Callable[[], Executor]:
    """Checks the `Tuner`'s execution arguments; returns what makes the executor.

    `worker_timeout` and `retries` (the Tuner's `lost_trial_retries`) apply to
    workers: a silent or overdue worker process is killed after `worker_timeout`
    seconds, and a trial whose worker died runs again up to `retries` times.

    Raises:
        ValueError: an argument, or a combination, that cannot be honoured.
    """
    if n_workers is not None:
        check_int("Tuner", "n_workers", n_workers, 1)
    if devices is not None:
        from keras_hparams.execution.processes import check_devices

        devices = check_devices(devices)
        if executor is None:
            executor = "processes"
        if n_workers is not None and n_workers != len(devices):
            raise ValueError(
                "Tuner(devices=...) runs one worker per device, so n_workers must be "
                f"left out or equal len(devices). Received: n_workers={n_workers!r}, "
                f"devices={devices!r}."
            )
    _check_resources(resources)
    if executor is None:
        if n_workers is not None or resources is not None:
            raise ValueError(
                "Tuner(n_workers=..., worker_resources=...) need an executor: pass "
                "executor='processes' or executor=<dask.distributed.Client>."
            )
        return InProcessExecutor
    if strategy is not None:
        raise ValueError(
            "Tuner(distribution_strategy=...) runs each trial across this process's "
            "devices, so it cannot be combined with executor=. To run one trial "
            "per GPU, pass devices=['GPU:0', 'GPU:1'] without a strategy."
        )
    if executor == "processes":
        return _processes(n_workers, devices, resources, worker_timeout, retries)
    if _is_dask_client(executor):
        return _dask(executor, n_workers, devices, resources, retries)
    raise ValueError(
        "Tuner(executor=...) expects None (trials in this process), 'processes', or "
        f"a dask.distributed.Client. Received: {executor!r}."
    )


def _processes(
    n_workers, devices, resources, worker_timeout, retries
) -> Callable[[], Executor]:
    if resources is not None:
        raise ValueError(
            "Tuner(worker_resources=...) is for a Dask client; worker "
            "processes are pinned with devices=[...] instead."
        )
    from keras_hparams.execution.processes import ProcessExecutor

    workers = len(devices) if devices else n_workers or (os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // workers)
    return lambda: ProcessExecutor(
        workers, devices, threads, worker_timeout=worker_timeout, retries=retries
    )


def _dask(client, n_workers, devices, resources, retries) -> Callable[[], Executor]:
    if devices is not None:
        raise ValueError(
            "Tuner(devices=...) pins worker processes on this machine; with a "
            "Dask client, ask for GPUs with worker_resources={'GPU': 1}."
        )
    from keras_hparams.execution.dask import DaskExecutor

    return lambda: DaskExecutor(client, n_workers, resources, retries=retries)


def _check_resources(resources: Any) -> None:
    if resources is not None and not (
        isinstance(resources, dict)
        and all(
            isinstance(k, str) and isinstance(v, (int, float)) and v > 0
            for k, v in resources.items()
        )
    ):
        raise ValueError(
            "Tuner(worker_resources=...) expects a dict of Dask resource amounts "
            f"such as {{'GPU': 1}}. Received: {resources!r}."
        )


def _is_dask_client(value: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(value, Client)

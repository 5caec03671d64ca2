"""Trials in worker processes on this machine, one per device or CPU share.

Each worker is a spawned process that imports TensorFlow once, receives the search's
`Job` once, then runs one `Task` at a time with `runner.run_trial` and sends back its
`Outcome` through a pipe. A worker dies with its driver and beats while it lives
(`lifeline.py`). The driver kills a worker that stops beating, or whose trial runs
`worker_timeout` past `trial_timeout`; a worker that dies or is killed fails only
its trial (a died one runs again with `lost_trial_retries`), and another takes its
place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import signal
import sys
import threading
import time
from multiprocessing import connection
from typing import Any

from keras_hparams.execution import lifeline
from keras_hparams.execution.remote import dumps_outcome, failed, load_job, worker_job
from keras_hparams.memory import flat_memory
from keras_hparams.runner import Job, OnBuilt, Outcome, Task, run_trial
from keras_hparams.space import from_config as dimension_from_config

# A worker's messages: a trial built (its values and dimensions, before it trains),
# and a trial's Outcome.
BUILT, OUTCOME = b"B", b"O"


def _worker_main(
    conn: connection.Connection, threads: int | None, driver: int, heartbeat: Any
) -> None:
    """A worker process: loads the Job once, then runs Tasks until told to stop."""
    # Ctrl-C and a batch scheduler's SIGTERM reach the whole process group: the
    # driver decides what stops, and stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lifeline.start(driver, heartbeat)
    if threads:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # TF already started: env applies
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
    job = load_job(conn.recv_bytes())
    with flat_memory():
        _serve(conn, job)


def _serve(conn: connection.Connection, job: Job) -> None:
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if not message:  # the search is over
            _exit_now()

        def built(trial, dimensions) -> None:
            configs = [d.get_config() for d in dimensions]
            conn.send_bytes(BUILT + pickle.dumps((trial.params, configs)))

        try:
            outcome = run_trial(job, pickle.loads(message), on_built=built)
            conn.send_bytes(OUTCOME + dumps_outcome(outcome))
        except OSError:  # the driver is gone: nobody to report to
            return


def _exit_now() -> None:
    """Ends a worker at once: its results are sent, and the interpreter's teardown
    with TensorFlow loaded takes 1.5 to 2 s that the driver would wait for."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


@dataclasses.dataclass
class _Worker:
    process: Any
    conn: connection.Connection
    device: str | None
    heartbeat: Any
    """`time.monotonic()` at the worker's last beat; 0 until its first."""
    sender: threading.Thread | None = None
    """Sends the Job while the worker starts; joined before the first Task."""
    task: Task | None = None
    started: float = 0.0
    trained: float | None = None
    """`time.monotonic()` when its trial was built (its training began)."""
    finished: int = 0
    """Trials this worker has sent back."""

    @property
    def where(self) -> str:
        return f" on {self.device}" if self.device else ""


class ProcessExecutor:
    """Runs trials in `n_workers` processes, each pinned to one of `devices`.

    Args:
        n_workers: int, how many trials run at once.
        devices: None, or one device per worker such as `"GPU:0"` or `"CPU"`: a GPU
            worker sees only its GPU (`CUDA_VISIBLE_DEVICES`), a CPU one sees none.
        threads: CPU threads per worker for TensorFlow and BLAS; None leaves them.
        worker_timeout: seconds without a heartbeat, or past the Job's
            `timeout`, after which a busy worker is killed. Defaults to `60`.
        retries: times a trial whose worker died runs again. Defaults to `0`.
    """

    def __init__(
        self,
        n_workers: int,
        devices: list[str] | None,
        threads: int | None,
        *,
        worker_timeout: float = 60,
        retries: int = 0,
    ) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.n_workers = n_workers
        self.devices = devices or [None] * n_workers
        self.threads = threads
        self.worker_timeout = worker_timeout
        self.retries = retries
        self.trial_timeout: float | None = None
        self.workers: list[_Worker] = []
        self.lost: dict[int, int] = {}
        """Workers each trial lost, by trial id."""
        self.job: bytes = b""
        self.on_built: OnBuilt | None = None

    builds_here = False

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: Job, on_built: OnBuilt | None = None) -> None:
        self.job = worker_job(job)
        self.on_built = on_built
        self.trial_timeout = job.timeout
        self.workers = [self._spawn(device) for device in self.devices]

    def idle(self) -> int:
        return sum(w.task is None for w in self.workers)

    def submit(self, task: Task) -> None:
        index = next(i for i, w in enumerate(self.workers) if w.task is None)
        message = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        for _ in range(2):
            worker = self.workers[index]
            worker.sender.join()
            worker.task, worker.started = task, time.time()
            worker.trained = None
            try:
                worker.conn.send_bytes(message)
                return
            except OSError:  # it died while idle: replace it, then send again
                worker.conn.close()
                self.workers[index] = self._spawn(worker.device)
        # The replacement died too: wait() reports the trial as failed.
        self.workers[index].task = task

    def wait(self) -> list[Outcome]:
        """Blocks until at least one running task ends; their Outcomes. A worker
        that stops beating or overruns `trial_timeout` ends its task as failed."""
        poll = min(1.0, self.worker_timeout / 4)
        while True:
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                return []
            waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = set(connection.wait(waitables, timeout=poll))
            outcomes = []
            for index, worker in enumerate(self.workers):
                if worker.task is None:
                    continue
                if worker.conn in ready or worker.process.sentinel in ready:
                    outcome = self._receive(index, worker)
                else:
                    outcome = self._check_alive(index, worker)
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                return outcomes

    def shutdown(self) -> None:
        """Stops the workers: idle ones when told, busy ones (their trials are
        recorded interrupted) and starting ones at once."""
        for worker in self.workers:
            if worker.task is not None or worker.sender.is_alive():
                worker.process.kill()
                continue
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(b"")
        deadline = time.monotonic() + 5
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers = []

    def _receive(self, index: int, worker: _Worker) -> Outcome | None:
        """The Outcome the worker sent; None for a message that its trial was
        built (its values are recorded before it trains)."""
        try:
            message = worker.conn.recv_bytes()
        except (EOFError, OSError):
            return self._replace(index, self._died(worker), retry=True)
        if message[:1] == BUILT:
            worker.trained = time.monotonic()
            params, configs = pickle.loads(message[1:])
            worker.task.trial.params = params
            if self.on_built is not None:
                dimensions = [dimension_from_config(c) for c in configs]
                self.on_built(worker.task.trial, dimensions)
            return None
        worker.task = None
        worker.finished += 1
        return pickle.loads(message[1:])

    def _check_alive(self, index: int, worker: _Worker) -> Outcome | None:
        """Kills a worker that stopped beating or overran its trial's timeout."""
        now = time.monotonic()
        silent = now - worker.heartbeat.value
        if worker.heartbeat.value and silent > self.worker_timeout:
            return self._replace(
                index,
                f"The worker process{worker.where} running this trial gave no sign "
                f"of life for {silent:.0f} s (worker_timeout={self.worker_timeout:g}):"
                " it was stopped, or hung outside Python, so it was killed and "
                "replaced.",
            )
        overrun = 0.0 if worker.trained is None else now - worker.trained
        if self.trial_timeout and overrun > self.trial_timeout + self.worker_timeout:
            return self._replace(
                index,
                f"The trial trained for {overrun:.0f} s, past trial_timeout="
                f"{self.trial_timeout:g} s by more than worker_timeout="
                f"{self.worker_timeout:g} s without its training stopping (a batch "
                "or a device call that never returns?), so its worker process"
                f"{worker.where} was killed and replaced.",
            )
        return None

    def _replace(self, index: int, error: str, retry: bool = False) -> Outcome | None:
        """Kills worker `index` if it lives, starts another in its place, and
        fails its trial, or sends it again to the new worker (`retries`)."""
        worker = self.workers[index]
        task, worker.task = worker.task, None
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self.workers[index] = self._spawn(worker.device)
        lost = self.lost[task.trial.id] = self.lost.get(task.trial.id, 0) + 1
        if retry and lost <= self.retries:
            self.submit(task)
            return None
        return failed(task, error, started=worker.started)

    def _spawn(self, device: str | None) -> _Worker:
        parent, child = self.context.Pipe()
        heartbeat = self.context.RawValue("d", 0.0)
        process = self.context.Process(
            target=_worker_main,
            args=(child, self.threads, os.getpid(), heartbeat),
            name=f"keras-hparams-worker-{device or 'cpu'}",
            # Not a daemon, so that a data pipeline may start processes of its own;
            # shutdown() ends the workers, and a worker dies with its driver.
            daemon=False,
        )
        with _environment(_worker_environment(device, self.threads)):
            process.start()  # a spawned child copies os.environ as it starts
        child.close()
        # The worker reads the Job once TensorFlow is imported there: sending it
        # from a thread lets the workers start at the same time.
        sender = threading.Thread(
            target=_send_quietly, args=(parent, self.job), daemon=True
        )
        sender.start()
        return _Worker(process, parent, device, heartbeat, sender)

    def _died(self, worker: _Worker) -> str:
        worker.process.join(5)
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
            if code == -signal.SIGKILL:
                how += " (out of memory, or killed)"
        else:
            how = f"exited with code {code}"
        error = f"The worker process{worker.where} running this trial {how}."
        if code == 1 and not worker.finished:
            error += " It finished no trial; its error is printed above."
        return error


def _send_quietly(conn: connection.Connection, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a worker that died is reported by wait()
        conn.send_bytes(data)


def _worker_environment(device: str | None, threads: int | None) -> dict[str, str]:
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if device is not None:
        kind, _, index = device.upper().partition(":")
        env["CUDA_VISIBLE_DEVICES"] = index if kind == "GPU" else ""
    if threads:
        for name in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        ):
            env[name] = str(threads)
    return env


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_devices(devices: Any) -> list[str]:
    """`devices` as a list of `"GPU:<i>"` / `"CPU"` strings, or a ValueError."""
    accepted = 'a list such as ["GPU:0", "GPU:1"] or ["CPU", "CPU"]'
    if (
        isinstance(devices, str)
        or not isinstance(devices, (list, tuple))
        or not devices
    ):
        raise ValueError(
            f"Tuner(devices=...) expects {accepted}. Received: {devices!r}."
        )
    checked = []
    for device in devices:
        kind, _, index = str(device).upper().removeprefix("/").partition(":")
        kind = kind.removeprefix("DEVICE:")
        if kind == "GPU" and index.isdigit():
            checked.append(f"GPU:{int(index)}")
        elif kind == "CPU" and (index == "" or index.isdigit()):
            checked.append("CPU")
        else:
            raise ValueError(
                f"Tuner(devices=...) expects {accepted}. Received: {device!r} in "
                f"{devices!r}."
            )
    return checked

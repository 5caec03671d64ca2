"""Trials in worker processes on this machine, one per device or CPU share.

Each worker is a spawned process that imports TensorFlow once, receives the search's
`Job` once, then runs one `Task` at a time with `runner.run_trial` and sends back its
`Outcome` through a pipe. A worker that dies fails only its trial; another takes its
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

from keras_hparams.execution.remote import dumps_outcome, failed, load_job, worker_job
from keras_hparams.memory import flat_memory
from keras_hparams.runner import Job, OnBuilt, Outcome, Task, run_trial


def _worker_main(conn: connection.Connection, threads: int | None) -> None:
    """A worker process: loads the Job once, then runs Tasks until told to stop."""
    # Ctrl-C reaches the whole process group: the driver decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        outcome = run_trial(job, pickle.loads(message))
        try:
            conn.send_bytes(dumps_outcome(outcome))
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
    sender: threading.Thread | None = None
    """Sends the Job while the worker starts; joined before the first Task."""
    task: Task | None = None
    started: float = 0.0
    finished: int = 0
    """Trials this worker has sent back."""


class ProcessExecutor:
    """Runs trials in `n_workers` processes, each pinned to one of `devices`.

    Args:
        n_workers: int, how many trials run at once.
        devices: None, or one device per worker such as `"GPU:0"` or `"CPU"`: a GPU
            worker sees only its GPU (`CUDA_VISIBLE_DEVICES`), a CPU one sees none.
        threads: CPU threads per worker for TensorFlow and BLAS; None leaves them.
    """

    def __init__(
        self, n_workers: int, devices: list[str] | None, threads: int | None
    ) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.n_workers = n_workers
        self.devices = devices or [None] * n_workers
        self.threads = threads
        self.workers: list[_Worker] = []
        self.job: bytes = b""

    builds_here = False

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: Job, on_built: OnBuilt | None = None) -> None:
        self.job = worker_job(job)
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
            try:
                worker.conn.send_bytes(message)
                return
            except OSError:  # it died while idle: replace it, then send again
                worker.conn.close()
                self.workers[index] = self._spawn(worker.device)
        # The replacement died too: wait() reports the trial as failed.
        self.workers[index].task = task

    def wait(self) -> list[Outcome]:
        """Blocks until at least one running task ends; their Outcomes."""
        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            return []
        waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(connection.wait(waitables))
        outcomes = []
        for index, worker in enumerate(self.workers):
            if worker.task is None:
                continue
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            try:
                outcomes.append(pickle.loads(worker.conn.recv_bytes()))
            except (EOFError, OSError):
                outcomes.append(self._died(worker))
                worker.conn.close()
                self.workers[index] = self._spawn(worker.device)
                continue
            worker.task = None
            worker.finished += 1
        return outcomes

    def shutdown(self) -> None:
        for worker in self.workers:
            if worker.sender.is_alive():  # still starting: terminated below
                continue
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(b"")
        deadline = time.monotonic() + 5
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers = []

    def _spawn(self, device: str | None) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_worker_main,
            args=(child, self.threads),
            name=f"keras-hparams-worker-{device or 'cpu'}",
            # Not a daemon, so that a data pipeline may start processes of its own;
            # shutdown() ends the workers, and a worker whose driver died ends at
            # its next read or write on the pipe.
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
        return _Worker(process, parent, device, sender)

    def _died(self, worker: _Worker) -> Outcome:
        worker.process.join(5)
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
            if code == -signal.SIGKILL:
                how += " (out of memory, or killed)"
        else:
            how = f"exited with code {code}"
        where = f" on {worker.device}" if worker.device else ""
        error = f"The worker process{where} running this trial {how}."
        if code == 1 and not worker.finished:
            error += " It finished no trial; its error is printed above."
        return failed(worker.task, error, started=worker.started)


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

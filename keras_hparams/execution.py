"""Where trials run: in worker processes on this machine, or on a Dask cluster.

The tuner (the driver) alone asks the algorithm for values and writes the trial
store. An executor runs `run_task(job, task)` somewhere else and hands back an
`Outcome`: the values the build really used, the dimensions it met, the trial's
status, score and history, and its best-epoch model as bytes. What every trial of a
search shares (the builder, the data, the fit arguments) travels once per worker as
a `Job`; each trial sends only its `Task`.

The default, one trial at a time in the calling process, does not go through here.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import gc
import hashlib
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable
from multiprocessing import connection
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_hparams import checkpoints
from keras_hparams.errors import FailedTrialError, FatalError
from keras_hparams.fit_arguments import FitPlan
from keras_hparams.objective import Objective
from keras_hparams.runner import TrialRunner
from keras_hparams.space import SearchSpace
from keras_hparams.space import from_config as dimension_from_config
from keras_hparams.trial import FAILED, Trial
from keras_hparams.tunable import BuildContext

# Set while `dumps` pickles with cloudpickle: builders defined in `__main__` (a
# script or a notebook) then travel by value instead of by name.
BY_VALUE = contextvars.ContextVar("keras_hparams_by_value", default=False)


# -- what travels -------------------------------------------------------------
@dataclasses.dataclass
class Job:
    """What every trial of one search shares; sent once to each worker."""

    builder: Any
    plan: FitPlan
    objective: Objective
    key: Callable[[SearchSpace, dict[str, Any]], Hashable]
    pruner: Any = None
    seed: int | None = None
    keep_weights: bool = True
    timeout: float | None = None
    save_every: float | None = None
    project_directory: str | None = None
    """Where progress files go; None where workers do not share the driver's files."""


@dataclasses.dataclass
class Task:
    """One trial to run: its id, the proposed values, and what it compares against."""

    trial_id: int
    params: dict[str, Any]
    rng: np.random.Generator | None
    space: list[dict[str, Any]]
    """The driver's search space, as `SearchSpace.get_config()`."""
    others: list[Trial]
    """Every other trial, finished or running: for pruning and repeats."""
    epochs: int = 1
    checkpoint_bar: float | None = None
    """The score a trial must beat to keep a checkpoint (that of the last of the
    best `keep_checkpoints` trials), or None while fewer have completed."""


@dataclasses.dataclass
class Outcome:
    """What running a `Task` produced."""

    trial_id: int
    params: dict[str, Any]
    dimensions: list[dict[str, Any]]
    """The configs of the dimensions the build used."""
    status: str
    score: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    fatal: str | None = None
    """The name of a `keras_hparams.errors` class whose error ends the search (for
    instance an objective the model never reports)."""
    repeat_of: int | None = None
    """A finished trial these values repeat; nothing was trained."""
    checkpoint: bytes | None = None
    started: float | None = None
    ended: float | None = None


# -- pickling -----------------------------------------------------------------
def dumps(value: Any) -> bytes:
    """Pickles `value` for a worker: with cloudpickle when installed (closures,
    lambdas and notebook functions work), else with pickle (module-level ones)."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    token = BY_VALUE.set(True)
    try:
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        BY_VALUE.reset(token)


def check_picklable(name: str, value: Any) -> bytes:
    """`dumps(value)`, or a `TypeError` that says what could not be sent and why."""
    try:
        return dumps(value)
    except Exception as error:  # noqa: BLE001 - any pickling failure, reported whole
        raise TypeError(
            f"The {name} must be sent to the worker processes, and pickling it "
            f"failed: {type(error).__name__}: {error}. Define functions at module "
            "level (or `pip install cloudpickle` to send closures and notebook "
            "functions), and pass data that cannot be pickled, such as a "
            "tf.data.Dataset, as a function without arguments that makes it."
        ) from error


# -- one trial, wherever it runs ----------------------------------------------
def run_task(job: Job, task: Task) -> Outcome:
    """Builds, trains and scores one trial; a failure becomes a failed Outcome."""
    started = time.time()
    prepare(job.seed, task.trial_id)
    space = SearchSpace.from_config(task.space)
    proposed = dict(task.params)
    context = BuildContext(job.builder.space, proposed, task.rng)
    project = Path(job.project_directory) if job.project_directory else None
    runner = TrialRunner(
        job.objective,
        keep_weights=job.keep_weights,
        timeout=job.timeout,
        prune=pruning(job.pruner, job.objective, task.others, task.epochs),
        save_every=job.save_every if project else None,
        resume=checkpoints.load_progress(project, task.trial_id) if project else None,
    )
    trial = Trial(id=task.trial_id, params=proposed, started=started)
    try:
        with context.activate():
            model = check_model(job.builder.build_in(context))
            trial.params = used_params(context, job.plan.space, proposed, task.rng)
            dimensions = _dimensions(context, job)
            repeat = _repeat_of(job, task, space, dimensions, trial.params)
            if repeat is not None:
                return Outcome(
                    task.trial_id,
                    trial.params,
                    dimensions,
                    repeat.status,
                    score=repeat.score,
                    repeat_of=repeat.id,
                )
            result = runner.run(
                trial,
                model,
                lambda: check_model(job.builder.build_in(context)),
                job.plan,
                project or Path(tempfile.gettempdir()),
            )
    except Exception as error:  # noqa: BLE001 - recorded on the trial
        return Outcome(
            task.trial_id,
            {**proposed, **context.active},
            _dimensions(context, job),
            FAILED,
            history=runner.history,
            error=error_message(error),
            fatal=type(error).__name__ if isinstance(error, FatalError) else None,
            started=started,
            ended=time.time(),
        )
    checkpoint = None
    if result.best_model is not None and (
        task.checkpoint_bar is None
        or job.objective.better(result.score, task.checkpoint_bar)
    ):
        checkpoint = _model_bytes(result.best_model)
    return Outcome(
        task.trial_id,
        trial.params,
        dimensions,
        result.status,
        score=result.score,
        best_epoch=result.best_epoch,
        history=result.history,
        extra=result.extra,
        checkpoint=checkpoint,
        started=started,
        ended=time.time(),
    )


_trials_since_collect = [0]
# A full garbage collection costs about 0.3 s with TensorFlow loaded, as long as a
# small trial: one every this many trials bounds memory at a tenth of the cost.
# With the objects older than the search frozen (`flat_memory`), one costs about
# 0.01 s, and every trial collects.
COLLECT_EVERY = 10


def free_memory() -> None:
    """Clears Keras's session before a trial and collects garbage: every trial
    when the older objects are frozen, else every `COLLECT_EVERY` trials."""
    _trials_since_collect[0] += 1
    collect = _frozen or _trials_since_collect[0] >= COLLECT_EVERY
    if collect:
        _trials_since_collect[0] = 0
    forget_custom_gradients()
    keras.backend.clear_session(free_memory=collect)


# TensorFlow registers a gradient function, named "CustomGradient-<uid>", each time
# a `tf.custom_gradient` is traced into a graph, and never unregisters it; the
# function's closure holds the traced graph. Keras's train step traces two per
# model, so without this every trial would leave about 2,700 Python objects and
# 2 MB behind that `clear_session()` and `gc.collect()` cannot free (see
# benchmarks/RESULTS.md, memory). The names present when a search starts are kept;
# those traced by earlier trials are dropped before each trial: their graphs are
# built, and nothing traces gradients through a finished trial's model again.
_CUSTOM_GRADIENT = "CustomGradient-"
_gradients_before_search: set[str] | None = None
_frozen = False  # whether `flat_memory` froze the older objects (not the caller)


def _gradient_registry() -> dict[str, Any] | None:
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another backend, or TF changed
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def flat_memory():
    """While a search runs in this process (or a worker of ours lives):

    - the objects that exist at its start (TensorFlow, Keras, the data: about
      400,000) are moved out of the garbage collector's reach with `gc.freeze()`,
      so that a full collection scans only what trials made since (0.3 s -> 0.01 s
      per collection), and given back at the end;
    - the custom gradients registered after its start are dropped before each
      trial (see above). Dask workers, which may run other work between and beside
      trials, keep theirs.
    """
    global _gradients_before_search, _frozen
    registry = _gradient_registry()
    _gradients_before_search = None if registry is None else set(registry)
    # (get_freeze_count() walks the frozen objects: 0.05 s with TensorFlow's.)
    freeze = gc.get_freeze_count() == 0  # else the caller manages freezing
    if freeze:
        gc.collect()
        gc.freeze()
        _frozen = True
    try:
        yield
    finally:
        _gradients_before_search = None
        if freeze:
            _frozen = False
            gc.unfreeze()


def forget_custom_gradients() -> None:
    """Drops the custom gradients that trials registered since the search began."""
    registry = _gradient_registry()
    if registry is None or _gradients_before_search is None:
        return
    for name in [
        name
        for name in registry
        if name.startswith(_CUSTOM_GRADIENT) and name not in _gradients_before_search
    ]:
        del registry[name]


def prepare(seed: int | None, trial_id: int) -> None:
    """Before a trial: frees the last one's memory, seeds this one's weights."""
    free_memory()
    if seed is not None:
        keras.utils.set_random_seed((seed * 100_003 + trial_id) % 2**32)


def used_params(
    context: BuildContext,
    fit_space: SearchSpace,
    proposed: dict[str, Any],
    rng: np.random.Generator | None,
) -> dict[str, Any]:
    """The values a trial really used: its build's active ones and the fit values."""
    params = dict(context.active)
    for dimension in fit_space:
        if dimension.name in proposed:
            params[dimension.name] = proposed[dimension.name]
        else:
            params[dimension.name] = (
                dimension.sample(rng) if rng is not None else dimension.default
            )
    return params


def check_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise FailedTrialError(
            f"The builder returned {type(model).__name__}, not a keras.Model."
        )
    if not model.compiled:
        raise FailedTrialError(
            "The builder returned a model that is not compiled: call "
            "model.compile(...) before returning it."
        )
    return model


def error_message(error: BaseException) -> str:
    # The start, which names the error, matters more than a long traceback's end.
    if isinstance(error, (FailedTrialError, FatalError)):
        return str(error)[:2000]
    return f"{type(error).__name__}: {error}"[:2000]


def pruning(
    pruner: Any, objective: Objective, others: list[Trial], epochs: int
) -> Callable[[list[float]], bool] | None:
    """The runner's `prune(values)` for a trial of `epochs` epochs, or None."""
    if pruner is None:
        return None

    def prune(values: list[float]) -> bool:
        if len(values) >= epochs:  # stopping at the last epoch saves nothing
            return False
        return pruner.should_prune(
            values, others, objective=objective.name, direction=objective.direction
        )

    return prune


def _dimensions(context: BuildContext, job: Job) -> list[dict[str, Any]]:
    return [job.builder.space[name].get_config() for name in context.active]


def _repeat_of(
    job: Job,
    task: Task,
    space: SearchSpace,
    dimensions: list[dict[str, Any]],
    params: dict[str, Any],
) -> Trial | None:
    """A finished trial with the same key as `params` (conditional dimensions)."""
    for config in dimensions:
        with contextlib.suppress(ValueError):  # a conflict is the driver's to report
            space.add(dimension_from_config(config))
    key = job.key(space, params)
    for other in task.others:
        if other.finished and job.key(space, other.params) == key:
            return other
    return None


def _model_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / checkpoints.MODEL_FILE
        model.save(path)
        return path.read_bytes()


# -- worker processes on this machine -----------------------------------------
def _worker_main(conn: connection.Connection, threads: int | None) -> None:
    """A worker process: loads the Job once, then runs Tasks until told to stop."""
    # Ctrl-C reaches the whole process group: the driver decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # TF already started: env applies
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
    job = _load_job(conn.recv_bytes())
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
        outcome = run_task(job, pickle.loads(message))
        try:
            conn.send_bytes(_dumps_outcome(outcome))
        except OSError:  # the driver is gone: nobody to report to
            return


def _exit_now() -> None:
    """Ends a worker at once: its results are sent, and the interpreter's teardown
    with TensorFlow loaded takes 1.5 to 2 s that the driver would wait for."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _load_job(payload: bytes) -> Job:
    job = pickle.loads(payload)
    job.plan = job.plan.materialized()  # data given as functions, made once here
    return job


def _dumps_outcome(outcome: Outcome) -> bytes:
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - e.g. a metric value pickle refuses
        outcome = dataclasses.replace(
            outcome,
            status=FAILED,
            extra={},
            checkpoint=None,
            error=f"The trial's result could not be sent back: {error}",
        )
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)


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

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: bytes) -> None:
        self.job = job
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
        task = worker.task
        return Outcome(
            task.trial_id,
            task.params,
            [],
            FAILED,
            error=error,
            started=worker.started,
            ended=time.time(),
        )


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


# -- a Dask cluster -----------------------------------------------------------
_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()
# Keras's session and seeds are per process: one trial at a time in a worker.
_TRIAL_LOCK = threading.Lock()


def _dask_run(job: bytes, digest: str, task: bytes) -> bytes:
    """A Dask task: runs one trial on the worker, the Job unpickled once there."""
    with _JOBS_LOCK:
        if digest not in _JOBS:
            _JOBS.clear()
            _JOBS[digest] = _load_job(job)
        loaded = _JOBS[digest]
    with _TRIAL_LOCK:
        return _dumps_outcome(run_task(loaded, pickle.loads(task)))


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

    @property
    def slots(self) -> int:
        return self.n_workers

    def start(self, job: bytes) -> None:
        self.digest = hashlib.sha1(job).hexdigest()
        self.job = self.client.scatter(job, broadcast=True, hash=False)

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
            key=f"keras-hparams-trial-{task.trial_id}-{time.time_ns()}",
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
                outcomes.append(
                    Outcome(
                        task.trial_id,
                        task.params,
                        [],
                        FAILED,
                        error="The Dask task running this trial failed: "
                        + error_message(error),
                        ended=time.time(),
                    )
                )
        return outcomes

    def shutdown(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures.clear()
        if self.job is not None:
            with contextlib.suppress(Exception):
                self.client.cancel(self.job)
        self.job = None

"""A small real search that the fault tests run in a process of its own.

Run it as `python -m tests.faults.child '<config as JSON>'` (a fresh interpreter), or
call `main(config)` in a process forked from the tests' fork server (see `launch.py`).

`KH_FAULT_KILL=<place>:<n>` in the environment (or `config["kill"]`) makes the
process send SIGKILL (or `config["signal"]`, e.g. `"SIGINT"`) to itself the n-th
time it reaches `<place>`:

- `build`: inside the model-building function, after the hidden layers are made;
- `batch`: at the end of a training batch (`on_train_batch_end`), mid-epoch;
- `checkpoint_rename`: in `keras_hparams.checkpoints.save`, after `model.save` wrote
  the whole temporary file and before `os.replace` renames it;
- `checkpoint_write`: while `model.save` is writing the temporary file: a thread
  watching the trial's checkpoint folder kills `config["delay"]` seconds (random, a
  few milliseconds) after a file there changes;
- `progress_rename`: before the library renames any other file into place in the
  trial's folder (the saved progress of a running trial);
- `db_commit`: in `TrialStore.write`, inside the transaction: the row is inserted,
  the COMMIT not yet run;
- `db_write`: in `TrialStore.write`, from a thread after `config["delay"]` seconds
  (random, a few milliseconds): lands inside the write or just after it;
- `after_write`: just after a completed trial's row is committed, before the
  checkpoints of trials no longer among the best are deleted;
- `queue_pop`: just after an enqueued trial (`config["enqueue"]`, given to
  `Tuner.enqueue`) is taken off the stored queue.

The library's own functions are wrapped at run time for the last five; Keras is never
touched. Each place reached is appended to `config["events"]` (one line per event,
written with `os.write` so that a kill loses none), so a test knows where a kill
landed. The outcome (`{"error": ..., "message": ...}` or `{"done": true}`) is written
to `config["result"]`.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import os
import signal
import stat
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams import checkpoints, storage  # noqa: E402
from keras_hparams.algorithms import BayesianOptimization  # noqa: E402

PLACES = (
    "build",
    "batch",
    "checkpoint_rename",
    "checkpoint_write",
    "progress_rename",
    "db_commit",
    "db_write",
    "after_write",
    "queue_pop",
)
EPOCHS = 3
ROWS = 200
VALIDATION_SPLIT = 0.25
OBJECTIVE = "val_accuracy"


class FaultPoints:
    """Logs each place the search reaches and kills the process at the chosen one."""

    def __init__(
        self,
        events: str | None,
        kill: str | None,
        delay: float,
        signal_number: int = signal.SIGKILL,
    ) -> None:
        self._events = (
            os.open(events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if events
            else None
        )
        self.place, self.count = None, 0
        if kill:
            place, _, count = kill.partition(":")
            if place not in PLACES or not count.isdigit():
                raise ValueError(f"KH_FAULT_KILL={kill!r}: expected <place>:<n>.")
            self.place, self.count = place, int(count)
        self.delay = delay
        self.signal_number = signal_number
        self.fits = 0
        self._seen = dict.fromkeys(PLACES, 0)
        self._lock = threading.Lock()

    def log(self, event: str) -> None:
        if self._events is not None:
            os.write(self._events, f"{os.getpid()} {event}\n".encode())

    def reached(self, place: str, detail: str = "") -> None:
        with self._lock:
            self._seen[place] += 1
            seen = self._seen[place]
        self.log(f"{place} {detail}".strip())
        if place == self.place and seen == self.count:
            self.log(f"kill {place} {detail}".strip())
            os.kill(os.getpid(), self.signal_number)
            if self.signal_number == signal.SIGKILL:
                time.sleep(60)  # never reached: SIGKILL to oneself is immediate

    def wrap_library(self, project: Path) -> None:
        """Wraps the library's writes (checkpoints, renames, rows) to reach places."""
        _wrap_checkpoint_save(self)
        _wrap_rename(self, project)
        _wrap_store_write(self)


POINTS = FaultPoints(None, None, 0.0)


def _wrap_checkpoint_save(points: FaultPoints) -> None:
    save = checkpoints.save

    def save_with_fault_points(model, project, trial_id):
        detail = f"trial {trial_id}"
        points.log(f"checkpoint_begin {detail}")
        folder = checkpoints.trial_directory(Path(project), trial_id)
        stop = threading.Event()
        switch_interval = sys.getswitchinterval()
        if points.place == "checkpoint_write":
            # Lets the watcher run while model.save holds the GIL for milliseconds.
            sys.setswitchinterval(0.0001)
            threading.Thread(
                target=_kill_when_a_file_changes,
                args=(points, folder, _files(folder), stop, detail),
                daemon=True,
            ).start()
        try:
            return save(model, project, trial_id)
        finally:
            stop.set()
            sys.setswitchinterval(switch_interval)
            points.log(f"checkpoint_end {detail}")

    checkpoints.save = save_with_fault_points


def _wrap_rename(points: FaultPoints, project: Path) -> None:
    """Reaches a place at each file the library renames into `project/trials`."""
    replace = os.replace
    trials = str(project / "trials") + os.sep

    def replace_with_fault_points(source, target, *args, **kwargs):
        if str(target).startswith(trials):
            place = (
                "checkpoint_rename"
                if Path(target).name == checkpoints.MODEL_FILE
                else "progress_rename"
            )
            points.reached(place, f"{Path(source).name} -> {Path(target).name}")
        return replace(source, target, *args, **kwargs)

    os.replace = replace_with_fault_points


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file's name in `folder`, with its size and modification time."""
    found = {}
    try:
        for entry in os.scandir(folder):
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat()
                found[entry.name] = (stat.st_size, stat.st_mtime_ns)
    except FileNotFoundError:
        pass
    return found


def _kill_when_a_file_changes(points, folder, before, stop, detail) -> None:
    """Reaches `checkpoint_write` `points.delay` seconds after a file changes."""
    while not stop.is_set():
        now = _files(folder)
        changed = [name for name, stat in now.items() if before.get(name) != stat]
        if changed:
            time.sleep(points.delay)
            size = _files(folder).get(changed[0], (0, 0))[0]
            points.reached("checkpoint_write", f"{detail} {changed[0]} {size} bytes")
            return
        time.sleep(0.0002)


def _wrap_store_write(points: FaultPoints) -> None:
    write = storage.TrialStore.write

    def write_with_fault_points(self, trial):
        detail = f"trial {trial.id} {trial.status}"
        points.log(f"db_begin {detail}")

        def trace(statement: str) -> None:
            if statement.strip().upper().startswith("COMMIT"):
                points.reached("db_commit", detail)

        if points.place == "db_write":
            timer = threading.Timer(
                points.delay, points.reached, args=("db_write", detail)
            )
            timer.daemon = True
            timer.start()
        # The library's own connection: the kill must land inside its transaction.
        self._connection.set_trace_callback(trace)
        try:
            write(self, trial)
        finally:
            self._connection.set_trace_callback(None)
        points.log(f"db_end {detail}")
        if trial.status == "completed":
            points.reached("after_write", detail)

    storage.TrialStore.write = write_with_fault_points
    set_meta = storage.TrialStore.set_meta

    def set_meta_with_fault_points(self, key, value):
        before = self.get_meta(key) if key == "queue" else None
        set_meta(self, key, value)
        if key == "queue" and len(value) < len(before or []):
            points.reached("queue_pop", f"{len(value)} left")

    storage.TrialStore.set_meta = set_meta_with_fault_points


class ReachBatches(keras.callbacks.Callback):
    """Reaches the `batch` place at each batch; can hold a trial mid-epoch.

    With `hold`, the `hold_at`-th training of this process waits at its first batch
    until the file `hold` exists (or a signal ends the wait); with `hold_once`, only
    in the first process to claim `<hold>.claimed` (worker processes each count
    their own trainings). The tuner copies callbacks for each trial, so the counts
    live in the module global `POINTS`. Unpickled in a worker process, it logs the
    worker's events (with its process id) to `events`.
    """

    def __init__(
        self,
        hold: str | None = None,
        hold_at: int = 1,
        events: str | None = None,
        hold_once: bool = False,
    ) -> None:
        super().__init__()
        self.hold, self.hold_at = hold, hold_at
        self.events, self.hold_once = events, hold_once

    def __setstate__(self, state):
        self.__dict__.update(state)
        if POINTS._events is None and self.events:  # a worker process
            POINTS._events = os.open(
                self.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
            POINTS.log("worker_ready")

    def on_train_begin(self, logs=None):
        POINTS.fits += 1
        POINTS.log("fit_begin")

    def _holds(self) -> bool:
        if not self.hold or POINTS.fits != self.hold_at or os.path.exists(self.hold):
            return False
        if not self.hold_once:
            return True
        try:
            os.close(os.open(self.hold + ".claimed", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def on_train_batch_end(self, batch, logs=None):
        POINTS.reached("batch", f"batch {batch}")
        if batch == 0 and self._holds():
            POINTS.log("holding")
            deadline = time.monotonic() + 120
            while not os.path.exists(self.hold):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.hold} never appeared")
                time.sleep(0.01)
            POINTS.log("released")

    def on_epoch_end(self, epoch, logs=None):
        POINTS.log(f"epoch_end {epoch}")


class _Garbage:
    """An object in a reference cycle: only the garbage collector frees it."""

    def __init__(self) -> None:
        self.cycle = self


def interrupt_in_garbage_collection(number: int = signal.SIGINT) -> None:
    """Leaves garbage whose collection sends SIGINT (or `number`) to this process,
    as a Ctrl-C pressed while the collector runs (`keras.backend.clear_session()`
    runs it at the start of each trial)."""
    garbage = _Garbage()
    weakref.finalize(garbage, os.kill, os.getpid(), number)
    POINTS.log("garbage_left")


def points() -> FaultPoints:
    """This process's fault points (the builder travels to worker processes by
    value: it must find theirs, not carry the driver's)."""
    return POINTS


def make_builder(interrupt_at_build: int = 0, number: int = signal.SIGINT):
    builds = itertools.count(1)

    @kh.tunable
    def build_model():
        points().log("build_begin")
        if next(builds) == interrupt_at_build:
            interrupt_in_garbage_collection(number)
        model = keras.Sequential([keras.Input((64,))])
        values = {"layers": kh.Int("layers", 1, 2)}
        for i in range(values["layers"]):
            values[f"units_{i}"] = kh.Int(f"units_{i}", 4, 32, step=4, default=16)
            values["activation"] = kh.Choice("activation", ["relu", "tanh"])
            model.add(keras.layers.Dense(values[f"units_{i}"], values["activation"]))
        points().log("layers " + json.dumps(values, sort_keys=True))
        points().reached("build")
        model.add(keras.layers.Dense(10, activation="softmax"))
        values["lr"] = kh.Float("lr", 1e-3, 0.5, log=True, default=0.05)
        points().log("values " + json.dumps(values, sort_keys=True))
        model.compile(
            keras.optimizers.SGD(values["lr"]),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return build_model


def digits() -> tuple[Any, Any]:
    x, y = load_digits(return_X_y=True)
    return (x[:ROWS] / 16.0).astype("float32"), y[:ROWS].astype("int32")


class LoggedBayesianOptimization(BayesianOptimization):
    """The default algorithm, logging its proposals (where a random kill lands)."""

    def propose(self, *args, **kwargs):
        POINTS.log("propose_begin")
        proposals = super().propose(*args, **kwargs)
        POINTS.log("propose_end")
        return proposals


class Proposals(kh.algorithms.Algorithm):
    """Proposes the given values in order, one set per trial after the defaults."""

    def __init__(self, proposals: list[dict[str, Any]]) -> None:
        super().__init__(seed=None)
        self.proposals = proposals

    def propose(self, space, trials, n=1, *, direction="min"):
        start = len(trials) - 1  # the first trial runs the defaults
        return self.proposals[start : start + n]


def make_tuner(config: dict[str, Any], builder: Any) -> kh.Tuner:
    algorithm = config.get("algorithm", "bayesian")
    seed = config.get("seed", 0)
    if config.get("proposals"):
        algorithm = Proposals(config["proposals"])
    elif algorithm == "bayesian":
        algorithm = LoggedBayesianOptimization(seed)
    return kh.Tuner(
        builder,
        config.get("objective", OBJECTIVE),
        max_trials=config["max_trials"],
        algorithm=algorithm,
        directory=config["directory"],
        project_name=config.get("project_name", "p"),
        seed=seed,
        keep_checkpoints=config.get("keep_checkpoints", 2),
        overwrite=config.get("overwrite", False),
        verbose=1,
        **config.get("tuner", {}),
    )


def progress_options() -> dict[str, Any]:
    """Tuner options that save a running trial's progress at each epoch, if it can."""
    if "save_progress_every" in inspect.signature(kh.Tuner).parameters:
        return {"save_progress_every": 0}
    return {}


def main(config: dict[str, Any]) -> None:
    """Runs the search that `config` describes; see the module docstring."""
    if config.get("output"):
        output = os.open(config["output"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.dup2(output, 1)
        os.dup2(output, 2)
    global POINTS
    POINTS = points = FaultPoints(
        config.get("events"),
        config.get("kill") or os.environ.get("KH_FAULT_KILL"),
        config.get("delay", 0.0),
        getattr(signal, config.get("signal", "SIGKILL")),
    )
    points.wrap_library(Path(config["directory"]) / config.get("project_name", "p"))
    points.log(f"start kill={points.place}:{points.count}")
    try:
        wait_for_file(config.get("start_at"))
        points.log("tuner")
        builder = make_builder(
            config.get("interrupt_at_build", 0),
            getattr(signal, config.get("gc_signal", "SIGINT")),
        )
        tuner = make_tuner(config, builder)
        for params in config.get("enqueue", []):
            tuner.enqueue(params)
        points.log("ready")
        wait_for_file(config.get("search_at"))
        x, y = digits()
        tuner.search(
            x,
            y,
            epochs=EPOCHS,
            validation_split=VALIDATION_SPLIT,
            batch_size=kh.Choice([16, 32]),
            verbose=0,
            callbacks=[
                ReachBatches(
                    config.get("hold"),
                    config.get("hold_at", 1),
                    events=config.get("events"),
                    hold_once=config.get("hold_once", False),
                )
            ],
        )
    except BaseException as error:
        _write_result(config, {"error": type(error).__name__, "message": str(error)})
        raise
    points.log("done")
    _write_result(config, {"done": True})


def wait_for_file(path: str | None) -> None:
    """Waits until `path` exists (a test's go-ahead), or, for a named pipe, until
    the test opens it; at once for None."""
    if path and os.path.exists(path) and stat.S_ISFIFO(os.stat(path).st_mode):
        with open(path):  # every reader is let go at the same instant
            return
    deadline = time.monotonic() + 120
    while path and not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.002)


def _write_result(config: dict[str, Any], result: dict[str, Any]) -> None:
    if config.get("result"):
        path = Path(config["result"])
        temporary = path.with_name("partial-" + path.name)
        temporary.write_text(json.dumps(result))
        os.replace(temporary, path)  # whole or absent, even if a signal lands here


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

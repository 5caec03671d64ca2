"""Tuner overhead and where it goes, proposal latency, memory and parallel trials.

Run everything and write the results section (17 minutes on the development
machine's 2 cores at load average 1-3; more on a busy machine):

    python benchmarks/performance.py --markdown SECTION.md

`--quick` is a smoke run of about 3 minutes. Naming parts runs only those: `--latency
100 200` runs the proposal latency alone; `--overhead 10 30 --models mlp
--kerastuner-up-to 0` profiles 30 MLP trials in about a minute.

overhead (`--overhead N ...`, `--models mlp cnn`, `--kerastuner-up-to N`): wall time
    of `tuner.search` over N trials divided by the wall time of a bare loop that builds
    and fits the same N configurations (same data, epochs, batch size, validation
    split and callbacks; `clear_session()` and a seed before each model, as Keras's
    documentation and KerasTuner do), for a small MLP and a small CNN on digits; and
    the same ratio for KerasTuner's BayesianOptimization against a bare loop over
    the configurations it trained (up to N=30 by default: past that its own
    proposals take several seconds each). The runs are interleaved in one fresh
    process per model: each tuner resumes its project from one N to the next (a new
    tuner with the larger `max_trials` over the same folder, as a user resumes),
    each segment followed by its bare loop, so that every loop meets the same
    machine load and the same process state. The same runs
    give the time between trials (from the trial rows, and from one `fit`'s end to
    the next `fit`'s start for every loop) and where each loop's time goes:
    proposal, trial store, checkpoints, garbage collection, clear_session,
    seeding, callback copies, progress lines, build, fit, ..., timed by wrapping
    those functions in this process (a part's time excludes the wrapped parts it
    calls; what no wrapper covers is "anything else").
latency (`--latency FINISHED ...`): `BayesianOptimization.propose` alone (what runs
    between two trials) with 100 and 200 finished trials in 3, 8 and 15 dimensions,
    on a synthetic objective (no Keras): median and worst of 5 proposals, as the
    library runs it and with BLAS forced to one thread.
memory (`--memory TRIALS`): resident memory after trial 10 and after the last trial
    of one process, for `tuner.search` and a bare loop, each in a fresh process
    (`benchmarks/memory.py`).
parallel (`--parallel TRIALS`): MLP trials per minute in this process and with
    `executor="processes"` and 1 and 2 workers; skipped with a message where
    `kh.Tuner` takes no `executor` argument.

KerasTuner (`pip install keras-tuner`) is needed for its rows only; KerasTuner 1.4.8
needs tensorboard installed to run on TensorFlow 2.21.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import gc
import importlib
import importlib.metadata
import inspect
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams.algorithms import BayesianOptimization  # noqa: E402
from keras_hparams.trial import Trial  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import memory  # noqa: E402

BATCH_SIZE = 64
VALIDATION_SPLIT = 0.2
FULL = {"overhead": [10, 30, 100], "latency": [100, 200], "memory": 100, "parallel": 20}
QUICK = {"overhead": [5, 10], "latency": [50], "memory": 20, "parallel": 6}


# -- one model definition, three ways to give it values -------------------------------
class FromValues:
    """Reads a trial's values from a dict: the bare loops."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return int(self.values[name])

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return float(self.values[name])

    def choice(self, name: str, values: list) -> Any:
        return self.values[name]


class FromMarkers:
    """keras-hparams markers: inside a `@kh.tunable` call they return trial values."""

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return kh.Int(name, low, high, step=step)

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return kh.Float(name, low, high, log=log)

    def choice(self, name: str, values: list) -> Any:
        return kh.Choice(name, values)


class FromKerasTuner:
    """KerasTuner's `hp`."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return self.hp.Int(name, low, high, step=step)

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def choice(self, name: str, values: list) -> Any:
        return self.hp.Choice(name, values)


def mlp(hp: Any) -> keras.Model:
    """1-3 Dense layers of 16-128 units, dropout, SGD: 7 dimensions."""
    model = keras.Sequential([keras.Input((64,))])
    activation = hp.choice("activation", ["relu", "tanh"])
    dropout = hp.float("dropout", 0.0, 0.5)
    for i in range(hp.int("layers", 1, 3)):
        units = hp.int(f"units_{i}", 16, 128, step=16)
        model.add(keras.layers.Dense(units, activation=activation))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.SGD(hp.float("lr", 1e-3, 0.3, log=True), momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def cnn(hp: Any) -> keras.Model:
    """1-2 Conv2D layers of 8-32 filters, pooling, dropout, Adam: 6 dimensions."""
    model = keras.Sequential([keras.Input((8, 8, 1))])
    kernel_size = hp.choice("kernel_size", [2, 3])
    for i in range(hp.int("conv_layers", 1, 2)):
        filters = hp.int(f"filters_{i}", 8, 32, step=8)
        model.add(
            keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")
        )
    model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dropout(hp.float("dropout", 0.0, 0.5)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.Adam(hp.float("lr", 1e-4, 1e-2, log=True)),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@kh.tunable
def tunable_mlp() -> keras.Model:
    return mlp(FromMarkers())


@kh.tunable
def tunable_cnn() -> keras.Model:
    return cnn(FromMarkers())


@dataclasses.dataclass
class Family:
    """A model to tune, its data and its fixed fit arguments."""

    name: str
    build: Callable[[Any], keras.Model]
    tunable: Any
    epochs: int
    x: np.ndarray
    y: np.ndarray
    warm_up: dict[str, Any]

    def fit_kwargs(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": BATCH_SIZE,
            "validation_split": VALIDATION_SPLIT,
            "verbose": 0,
        }


def families(names: list[str]) -> list[Family]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    common = {"dropout": 0.1, "lr": 0.01}
    mlp_values = {**common, "activation": "relu", "layers": 1, "units_0": 32}
    cnn_values = {**common, "kernel_size": 3, "conv_layers": 1, "filters_0": 8}
    known = {
        "mlp": Family("mlp", mlp, tunable_mlp, 3, x, y, mlp_values),
        "cnn": Family(
            "cnn", cnn, tunable_cnn, 2, x.reshape(-1, 8, 8, 1), y, cnn_values
        ),
    }
    return [known[name] for name in names]


class FitClock(keras.callbacks.Callback):
    """Records when each `fit` starts and ends (class-level: the tuners copy it)."""

    fits: list[tuple[float, float]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.begin = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        FitClock.fits.append((self.begin, time.perf_counter()))


def callbacks() -> list[keras.callbacks.Callback]:
    """The same callbacks for every loop: one a user would pass, and the clock."""
    return [keras.callbacks.EarlyStopping(monitor="val_loss", patience=3), FitClock()]


# -- timing the parts of a loop -------------------------------------------------------
GARBAGE = "garbage collection (explicit and automatic)"


class Timers:
    """Wall time of wrapped functions by part, exclusive of the parts they call.

    Garbage collections, whether `gc.collect()` or Python's automatic ones, are a
    part of their own, timed through `gc.callbacks`; their calls count the full
    (generation 2) collections.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.callers: dict[str, int] = defaultdict(int)
        self.missing: list[str] = []
        self.local = threading.local()

    def wrap(self, part: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self.local.__dict__.setdefault("stack", [])
            name = part
            if threading.current_thread() is not threading.main_thread():
                name += " (in a background thread)"
            if part.startswith("trial store"):
                self.callers[f"{function.__name__} <- {_caller()}"] += 1
            stack.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.seconds[name] += elapsed - stack.pop()
                self.calls[name] += 1
                if stack:
                    stack[-1] += elapsed

        return timed

    @contextlib.contextmanager
    def patch(self, targets: list[tuple[Any, str, str]]) -> Iterator[None]:
        """Wraps `owner.attribute` for each (owner, attribute, part) while active;
        records the targets not found (the code changed)."""
        restore = []
        for owner, attribute, part in targets:
            if not hasattr(owner, attribute):
                name = f"{getattr(owner, '__name__', owner)}.{attribute}"
                if name not in self.missing:
                    self.missing.append(name)
                continue
            restore.append((owner, attribute, owner.__dict__.get(attribute)))
            setattr(owner, attribute, self.wrap(part, getattr(owner, attribute)))
        gc.callbacks.append(self._on_gc)
        try:
            yield
        finally:
            gc.callbacks.remove(self._on_gc)
            for owner, attribute, original in reversed(restore):
                if original is None:
                    delattr(owner, attribute)
                else:
                    setattr(owner, attribute, original)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        stack = self.local.__dict__.setdefault("stack", [])
        if phase == "start":
            stack.append(0.0)
            self.local.gc_started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self.local.gc_started
        self.seconds[GARBAGE] += elapsed - stack.pop()
        self.calls[GARBAGE] += info["generation"] == 2
        if stack:
            stack[-1] += elapsed

    def snapshot(self, total: float) -> dict[str, Any]:
        seconds = dict(self.seconds)
        seconds["anything else"] = total - sum(seconds.values())
        return {"seconds": seconds, "calls": dict(self.calls), "total": total}


def _caller() -> str:
    """The two innermost keras_hparams functions outside the store that called it."""
    names, frame = [], sys._getframe(2)
    while frame is not None and len(names) < 2:
        path = frame.f_code.co_filename
        if "keras_hparams" in path and not path.endswith("storage.py"):
            if frame.f_code.co_name not in ("trials", "timed"):
                names.append(frame.f_code.co_name)
        frame = frame.f_back
    return " <- ".join(names) or "?"


def targets() -> list[tuple[Any, str, str]]:
    """What to time, in keras-hparams, KerasTuner and Keras (by attribute name)."""
    from keras_hparams import callbacks as kh_callbacks
    from keras_hparams import (
        checkpoints,
        progress,
        recorder,
        results,
        runner,
        storage,
        tuner,
    )

    tunable = importlib.import_module("keras_hparams.tunable")  # kh.tunable hides it
    store, tuner_class = storage.TrialStore, tuner.Tuner
    found = [
        (BayesianOptimization, "propose", "proposal (algorithm.propose)"),
        (store, "trials", "trial store: read every row (TrialStore.trials)"),
        (store, "get", "trial store: other reads"),
        (store, "next_id", "trial store: other reads"),
        (store, "get_meta", "trial store: other reads"),
        (store, "write", "trial store: writes (a commit each)"),
        (store, "set_meta", "trial store: writes (a commit each)"),
        (store, "delete", "trial store: writes (a commit each)"),
        (checkpoints, "save", "checkpoint save (model.keras)"),
        (checkpoints, "keep_only", "checkpoint files: tidy, progress"),
        (checkpoints, "clear_progress", "checkpoint files: tidy, progress"),
        (checkpoints, "load_progress", "checkpoint files: tidy, progress"),
        (checkpoints, "save_progress", "checkpoint files: tidy, progress"),
        (keras.backend, "clear_session", "clear_session (without its gc)"),
        (keras.utils, "set_random_seed", "seeding"),
        (kh_callbacks, "for_trial", "callback copies"),
        (runner, "trial_callbacks", "callback copies"),
        (progress.Progress, "trial_started", "progress lines"),
        (progress.Progress, "trial_ended", "progress lines"),
        (progress.Progress, "print", "progress lines"),
        (tunable.TunableFunction, "build_in", "build and compile"),
        (recorder.TrialRecorder, "on_epoch_end", "best-epoch weights, history"),
        (runner, "_with_best_weights", "best-epoch weights, history"),
        (tuner_class, "_is_repeat", "tuner: repeat check (_is_repeat)"),
        (results.SearchResults, "ranked_trials", "tuner: ranking (ranked_trials)"),
        (keras.Model, "fit", "fit"),
    ]
    with contextlib.suppress(ImportError):
        import keras_tuner as kt

        utils = importlib.import_module("keras_tuner.src.engine.tuner_utils")
        found += [
            (kt.oracles.BayesianOptimizationOracle, "populate_space", "proposal (KT)"),
            (utils.SaveBestEpoch, "on_epoch_end", "checkpoint save (KT, per epoch)"),
        ]
    return found


# -- the four loops -------------------------------------------------------------------
def run_ours(family: Family, directory: str, max_trials: int) -> kh.Tuner:
    """Creates a tuner and searches up to `max_trials` (resuming)."""
    with contextlib.redirect_stdout(io.StringIO()):  # its default progress lines
        tuner = kh.Tuner(
            family.tunable,
            "val_accuracy",
            max_trials=max_trials,
            directory=directory,
            project_name="kh",
            seed=0,
        )
        tuner.search(family.x, family.y, **family.fit_kwargs(), callbacks=callbacks())
    return tuner


def run_kerastuner(
    family: Family, build: Callable, directory: str, max_trials: int
) -> list[dict]:
    """Creates KerasTuner's tuner and searches up to `max_trials` (resuming); the
    values of its completed trials, in order."""
    import keras_tuner as kt

    class HyperModel(kt.HyperModel):
        def build(self, hp):
            return build(FromKerasTuner(hp))

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # its GP's ConvergenceWarnings
        tuner = kt.BayesianOptimization(
            HyperModel(),
            objective="val_accuracy",
            max_trials=max_trials,
            seed=0,
            directory=directory,
            project_name="kt",
            overwrite=False,
        )
        tuner.search(family.x, family.y, **family.fit_kwargs(), callbacks=callbacks())
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    return [dict(t.hyperparameters.values) for t in trials if t.status == "COMPLETED"]


def run_bare(
    family: Family, build: Callable, configurations: list[dict], first_seed: int
) -> None:
    """Builds and fits each configuration in a plain loop."""
    for i, values in enumerate(configurations):
        keras.backend.clear_session()
        keras.utils.set_random_seed(first_seed + i)
        model = build(FromValues(values))
        model.fit(family.x, family.y, **family.fit_kwargs(), callbacks=callbacks())


def kerastuner_missing() -> str | None:
    """None, or why KerasTuner's rows are left out."""
    try:
        import keras_tuner  # noqa: F401
    except ImportError as error:
        return f"not installed ({error})"
    return None


# -- overhead, gaps and parts ---------------------------------------------------------
def gaps(fits: list[tuple[float, float]]) -> list[float]:
    """From the end of each fit to the start of the next, within one segment."""
    return [fits[i + 1][0] - fits[i][1] for i in range(len(fits) - 1)]


def row_gaps(trials: list[Trial]) -> list[float]:
    """From a trial row's `ended` to the next row's `started`."""
    return [
        later.started - earlier.ended
        for earlier, later in zip(trials, trials[1:], strict=False)
        if earlier.ended is not None and later.started is not None
    ]


@dataclasses.dataclass
class Loop:
    """One loop's measurements, segment by segment (cumulative snapshots)."""

    timers: Timers = dataclasses.field(default_factory=Timers)
    total: float = 0.0
    done: int = 0
    snapshots: dict[int, dict] = dataclasses.field(default_factory=dict)
    fit_gaps: dict[int, list[float]] = dataclasses.field(default_factory=dict)

    def run(self, n: int, function: Callable, *args: Any) -> Any:
        FitClock.fits = []
        with self.timers.patch(targets()):
            started = time.perf_counter()
            result = function(*args)
            self.total += time.perf_counter() - started
        self.fit_gaps[n] = gaps(FitClock.fits)
        self.snapshots[n] = self.timers.snapshot(self.total)
        return result

    def summary(self) -> dict[str, Any]:
        return {
            "snapshots": self.snapshots,
            "fit_gaps": self.fit_gaps,
            "callers": dict(self.timers.callers),
            "missing": self.timers.missing,
        }


def overhead(family: Family, checkpoints: list[int], kerastuner_up_to: int) -> dict:
    """The four loops, resumed from one checkpoint N to the next."""
    loops = {name: Loop() for name in ("ours", "bare", "kt", "bare_kt")}
    trial_gaps = {}
    with tempfile.TemporaryDirectory() as directory:
        for n in checkpoints:
            ours, bare = loops["ours"], loops["bare"]
            trials = ours.run(n, run_ours, family, directory, n).trials
            new = [t.params for t in trials[ours.done :]]
            trial_gaps[n] = row_gaps(trials[ours.done :])
            build = bare.timers.wrap("build and compile", family.build)
            bare.run(n, run_bare, family, build, new, bare.done)
            ours.done = bare.done = len(trials)
            if n <= kerastuner_up_to:
                kt, bare_kt = loops["kt"], loops["bare_kt"]
                build = kt.timers.wrap("build and compile", family.build)
                configurations = kt.run(n, run_kerastuner, family, build, directory, n)
                new = configurations[kt.done :]
                build = bare_kt.timers.wrap("build and compile", family.build)
                bare_kt.run(n, run_bare, family, build, new, bare_kt.done)
                kt.done = bare_kt.done = len(configurations)
            print(
                f"  {family.name} N={n}: "
                + ", ".join(f"{k} {v.total:.1f} s" for k, v in loops.items()),
                flush=True,
            )
        with kh.load(directory, "kh") as search:
            read = median_seconds(lambda: search.trials, 20)
    return {
        "loops": {name: loop.summary() for name, loop in loops.items()},
        "trial_gaps": trial_gaps,
        "store_read": (ours.done, read),
    }


def overhead_in_process(
    family: Family, checkpoints: list[int], kerastuner_up_to: int
) -> dict:
    """`overhead` in a fresh Python process.

    Every model built leaves about 2,700 Python objects behind (TensorFlow graphs
    that survive `clear_session`), so each full garbage collection gets slower as a
    process goes on: a fresh process per model family keeps one family's runs from
    slowing the next family's, as a user's search starts in a fresh process.
    """
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "overhead.json"
        command = [sys.executable, __file__, "--child", family.name, str(path)]
        command += ["--overhead", *map(str, checkpoints)]
        command += ["--kerastuner-up-to", str(kerastuner_up_to)]
        subprocess.run(command, check=True)
        result = json.loads(path.read_text())
    for loop in result["loops"].values():
        for key in ("snapshots", "fit_gaps"):
            loop[key] = {int(n): value for n, value in loop[key].items()}
    result["trial_gaps"] = {int(n): v for n, v in result["trial_gaps"].items()}
    return result


def median_seconds(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- proposal latency -----------------------------------------------------------------
def latency(dimensions: int, finished: int, repeats: int = 5) -> list[float]:
    space = kh.SearchSpace(
        [kh.Float(f"x{i}", 0.0, 1.0) for i in range(dimensions - 2)]
        + [kh.Int("n", 1, 8), kh.Choice("c", ["a", "b", "c"])]
    )
    rng = np.random.default_rng(0)
    trials = []
    for i in range(finished):
        params = {d.name: d.sample(rng) for d in space}
        score = sum((params[f"x{j}"] - 0.3) ** 2 for j in range(dimensions - 2))
        trials.append(Trial(id=i + 1, params=params, status="completed", score=score))
    algorithm = BayesianOptimization(seed=0)
    seconds = []
    for r in range(repeats):
        started = time.perf_counter()
        algorithm.propose(space, trials[: finished - r], 1)
        seconds.append(time.perf_counter() - started)
    return seconds


# -- parallel trials ------------------------------------------------------------------
def parallel(family: Family, trials: int) -> list[list[Any]]:
    """Rows: setting, completed trials, wall time, trials per minute (or why not)."""
    if "executor" not in inspect.signature(kh.Tuner).parameters:
        return [["all", "skipped: parallel execution not available", "", ""]]
    rows = []
    for setting, options in [
        ("in this process", {}),
        ("processes, 1 worker", {"executor": "processes", "n_workers": 1}),
        ("processes, 2 workers", {"executor": "processes", "n_workers": 2}),
    ]:
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            try:
                tuner = kh.Tuner(
                    family.tunable,
                    "val_accuracy",
                    max_trials=trials,
                    directory=directory,
                    seed=0,
                    verbose=0,
                    **options,
                )
                tuner.search(
                    family.x,
                    family.y,
                    **family.fit_kwargs(),
                    callbacks=[keras.callbacks.EarlyStopping(patience=3)],
                )
                seconds = time.perf_counter() - started
                done = sum(t.status == "completed" for t in tuner.trials)
                row = [setting, done, f"{seconds:.1f} s", f"{60 * done / seconds:.1f}"]
            except Exception as error:  # noqa: BLE001 - reported; the others go on
                row = [setting, f"failed: {type(error).__name__}: {error}", "", ""]
        print(f"  parallel: {row}", flush=True)
        rows.append(row)
    return rows


# -- report ---------------------------------------------------------------------------
class Report:
    """Prints each table as it is ready and keeps the markdown."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
        self.lines.extend(lines)

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.add(
            "| " + " | ".join(header) + " |",
            "|" + " --- |" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
            "",
        )


def machine() -> str:
    found = []
    for name in ["tensorflow", "numpy", "scikit-optimize", "keras-tuner"]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB; "
        f"Python {platform.python_version()}, keras {keras.__version__}, "
        + ", ".join(found)
        + f"; keras_hparams from {Path(kh.__file__).parent}"
    )


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


CLEARING = ("clear_session (without its gc)", GARBAGE)


def comparison(tuned: dict | None, bare: dict | None, n: int) -> list[str]:
    """Cells: both totals, their ratio, the extra per trial, and the ratio without
    clear_session and garbage collection (which each loop does its own way)."""
    if tuned is None:
        return ["-"] * 3
    ratio = tuned["total"] / bare["total"]
    cleared = [
        s["total"] - sum(s["seconds"].get(p, 0) for p in CLEARING)
        for s in (tuned, bare)
    ]
    return [
        f"{tuned['total']:.1f} / {bare['total']:.1f} s",
        f"**{ratio:.2f}** ({cleared[0] / cleared[1]:.2f})",
        f"{(tuned['total'] - bare['total']) / n:+.2f} s",
    ]


def report_overhead(report: Report, name: str, result: dict) -> None:
    loops = result["loops"]
    rows = []
    for n in loops["ours"]["snapshots"]:
        row = [name, n]
        for tool, bare in (("ours", "bare"), ("kt", "bare_kt")):
            row += comparison(
                loops[tool]["snapshots"].get(n), loops[bare]["snapshots"].get(n), n
            )
        rows.append(row)
    report.table(
        ["model", "N"]
        + [
            "keras-hparams: search / bare loop",
            "ratio (without clearing)",
            "extra per trial",
        ]
        + [
            "KerasTuner: search / bare loop",
            "ratio (without clearing)",
            "extra per trial",
        ],
        rows,
    )


def report_gaps(report: Report, name: str, result: dict) -> None:
    loops, rows, previous = result["loops"], [], 0
    for n, row_gap in result["trial_gaps"].items():
        row = [name, f"{previous + 1}-{n}", spread(row_gap)]
        row += [spread(loops[k]["fit_gaps"].get(n, [])) for k in loops]
        rows.append(row)
        previous = n
    report.table(
        ["model", "trials", "keras-hparams rows: ended -> next started"]
        + [
            f"fit end -> next fit start: {k}"
            for k in ("keras-hparams", "bare loop", "KerasTuner", "bare loop (KT)")
        ],
        rows,
    )


def report_parts(report: Report, name: str, result: dict, tool: str) -> None:
    """Seconds per trial by part, `tool` against its bare loop, at each N."""
    loops = result["loops"]
    tuned, bare = (
        loops["ours" if tool == "ours" else "kt"],
        loops["bare" if tool == "ours" else "bare_kt"],
    )
    if not tuned["snapshots"]:
        return
    last = max(tuned["snapshots"])
    final = tuned["snapshots"][last]["seconds"]
    parts = [p for p in final if p not in ("anything else",)]
    parts.sort(key=lambda p: -final[p])
    rows = []
    for part in parts + ["anything else", "total"]:
        row = [f"**{part}**" if part == "total" else part]
        for n, snapshot in tuned["snapshots"].items():
            mine = (
                snapshot["total"]
                if part == "total"
                else snapshot["seconds"].get(part, 0)
            )
            other = bare["snapshots"][n]
            theirs = other["total"] if part == "total" else other["seconds"].get(part)
            row.append(
                f"{mine / n:.3f} / " + ("-" if theirs is None else f"{theirs / n:.3f}")
            )
        calls = tuned["snapshots"][last]["calls"].get(part)
        row.append("" if calls is None else f"{calls / last:.1f}")
        rows.append(row)
    label = "keras-hparams" if tool == "ours" else "KerasTuner"
    report.table(
        [f"{name}: part ({label} / bare loop, s per trial)"]
        + [f"N={n}" for n in tuned["snapshots"]]
        + [f"calls per trial, N={last}"],
        rows,
    )
    if tool == "ours":
        callers = sorted(tuned["callers"].items(), key=lambda item: -item[1])
        rows = [[c, f"{k / last:.1f}"] for c, k in callers if k / last >= 0.05]
        rest = sum(k for _, k in callers if k / last < 0.05)
        if rest:
            rows.append(
                ["the others (creating tuners, starting searches)", f"{rest} in all"]
            )
        report.table(
            [f"{name}: trial store call <- caller", f"calls per trial, N={last}"],
            rows,
        )
    if tuned["missing"]:
        report.add(f"Not found (the code changed), not timed: {tuned['missing']}.")
        report.add("")


# -- parts of the run -----------------------------------------------------------------
def warm_up(models: list[Family]) -> None:
    """One fit of each model first, so that no timed loop pays TensorFlow's start."""
    for family in models:
        keras.backend.clear_session()
        model = family.build(FromValues(family.warm_up))
        model.fit(family.x, family.y, **family.fit_kwargs())


def overhead_part(
    report: Report, models: list[Family], checkpoints: list[int], kt_up_to: int
) -> None:
    missing = kerastuner_missing()
    kt_up_to = 0 if missing else kt_up_to
    report.add(
        "### Overhead: search / bare loop over the same configurations",
        "",
        "Seconds of each search (creating the tuner included) and of a bare loop "
        "(clear_session, seed, build, fit) over the configurations that search "
        "trained, cumulative up to N; ratio = search / bare loop, and in brackets "
        "the same ratio with clear_session and every garbage collection taken out "
        "of both loops (the bare loop and KerasTuner collect garbage fully before "
        "each model; keras-hparams may do it less often). Epochs: "
        + ", ".join(f"{f.name} {f.epochs}" for f in models)
        + f"; batch size {BATCH_SIZE}, validation split {VALIDATION_SPLIT}; "
        "EarlyStopping(patience=3) and a timing callback in every loop; Bayesian "
        "search, seed 0; keras-hparams with its default `verbose=1` (printed into "
        "memory). Each model's four loops run interleaved in one fresh Python "
        f"process. KerasTuner up to N={kt_up_to}"
        + (f" (keras-tuner {missing})" if missing else "")
        + f". Load average (1 min) before: {load()}.",
        "",
    )
    results = {f.name: overhead_in_process(f, checkpoints, kt_up_to) for f in models}
    for name, result in results.items():
        report_overhead(report, name, result)
    report.add(
        "### Time between trials in the overhead runs (median / worst, seconds)",
        "",
        "keras-hparams rows: from one trial's `ended` to the next trial's "
        "`started` in `tuner.trials` (`ended` is stamped before the checkpoint "
        "and the row are written, `started` after clear_session and seeding, "
        "before the build). fit end -> next fit start: the same gap for every "
        "loop, from a callback; it includes clear_session, seeding, build and "
        "compile, which the bare loop pays too.",
        "",
    )
    for name, result in results.items():
        report_gaps(report, name, result)
    report.add(
        "### Where the time goes, by part (seconds per trial, cumulative up to N)",
        "",
        "A part's time excludes the wrapped parts it calls; `anything else` is the "
        "loop's time that no wrapper covers (the tuner's own code, the bare loop's "
        "callback construction). Garbage collection counts Python's automatic "
        "collections too, wherever they happen; its calls are full collections.",
        "",
    )
    for name, result in results.items():
        report_parts(report, name, result, "ours")
        report_parts(report, name, result, "kt")
        rows, read = result["store_read"]
        report.add(
            f"One read of `tuner.trials` with {rows} rows ({name}): "
            f"{read * 1000:.1f} ms (median of 20).",
            "",
        )


def latency_part(report: Report, finished_counts: list[int]) -> None:
    report.add(
        "### Proposal latency: `BayesianOptimization.propose` alone",
        "",
        "Synthetic trials (no Keras); median / worst of 5 proposals, seconds; as "
        "the library runs it, and with BLAS forced to one thread by "
        "`threadpoolctl.threadpool_limits(1)` around the call, interleaved. "
        f"Load average (1 min) before: {load()}.",
        "",
    )
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; the default rows alone then
        threadpool_limits = None
    rows = []
    for finished in finished_counts:
        default, limited = [f"{finished}, as is"], [f"{finished}, 1 BLAS thread"]
        for dimensions in (3, 8, 15):
            default.append(spread(latency(dimensions, finished)))
            if threadpool_limits is not None:
                with threadpool_limits(1):
                    limited.append(spread(latency(dimensions, finished)))
        rows += [default] + ([limited] if threadpool_limits is not None else [])
        print(f"  latency: {rows[-2:]}", flush=True)
    report.table(["finished trials, threads", "3 dims", "8 dims", "15 dims"], rows)


def memory_part(report: Report, trials: int) -> None:
    after = min(10, trials // 2)
    report.add(
        "### Memory: resident set size in one process",
        "",
        f"{trials} trials, each loop in a fresh process (`benchmarks/memory.py`: "
        "its MLP, 1 epoch, random search). "
        f"Load average (1 min) before: {load()}.",
        "",
    )
    rows = []
    for mode, label in (("bare", "bare Keras loop"), ("tuner", "`tuner.search`")):
        result = memory.measure(mode, trials)
        rss = result["samples"]
        growth = rss[-1] - rss[after - 1]
        rows.append(
            [label, f"{result['seconds']:.0f} s", f"{rss[after - 1]:.0f} MB"]
            + [f"{rss[-1]:.0f} MB", f"**{growth:+.0f} MB**"]
        )
    report.table(
        ["loop", "wall time", f"RSS after trial {after}"]
        + [f"RSS after trial {trials}", "growth"],
        rows,
    )


def parallel_part(report: Report, family: Family, trials: int) -> None:
    report.add(
        "### Parallel trials: trials per minute",
        "",
        f"{trials} {family.name} trials of {family.epochs} epochs, Bayesian "
        "search; wall time from creating the tuner to the end of the search "
        f"(starting the workers included). Load average (1 min) before: {load()}.",
        "",
    )
    report.table(
        ["execution", "completed trials", "wall time", "trials per minute"],
        parallel(family, trials),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--overhead", type=int, nargs="*", metavar="N")
    parser.add_argument("--models", nargs="+", choices=["mlp", "cnn"])
    parser.add_argument("--kerastuner-up-to", type=int, metavar="N")
    parser.add_argument("--latency", type=int, nargs="*", metavar="FINISHED")
    parser.add_argument("--memory", type=int, metavar="TRIALS")
    parser.add_argument("--parallel", type=int, metavar="TRIALS")
    parser.add_argument("--markdown", help="write the results section to this file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # MODEL JSON
    args = parser.parse_args()
    if args.child:  # one model family's overhead runs, for overhead_in_process
        name, path = args.child
        family = families([name])[0]
        warm_up([family])
        result = overhead(family, sorted(args.overhead), args.kerastuner_up_to)
        Path(path).write_text(json.dumps(result))
        return
    sizes = QUICK if args.quick else FULL
    named = {p: getattr(args, p) for p in sizes if getattr(args, p) is not None}
    if (args.models or args.kerastuner_up_to is not None) and "overhead" not in named:
        named["overhead"] = sizes["overhead"]
    plan = named or sizes
    kt_up_to = args.kerastuner_up_to
    if kt_up_to is None:
        kt_up_to = 10 if args.quick else 30
    models = families(args.models or ["mlp", "cnn"])
    started = time.perf_counter()
    report = Report()
    report.add(
        "## Tuner overhead, proposal latency, memory and parallel trials "
        "(`benchmarks/performance.py`)",
        "",
        f"- Machine: {machine()}.",
        f"- Date: {datetime.date.today().isoformat()}.",
        f"- Command: `python benchmarks/performance.py {' '.join(sys.argv[1:])}`",
        "",
    )
    if plan.get("overhead"):
        overhead_part(report, models, sorted(plan["overhead"]), kt_up_to)
    if plan.get("latency"):
        latency_part(report, plan["latency"])
    if plan.get("memory"):
        memory_part(report, plan["memory"])
    if plan.get("parallel"):
        parallel_part(report, families(["mlp"])[0], plan["parallel"])
    minutes = (time.perf_counter() - started) / 60
    report.add(f"Total wall time {minutes:.1f} min; load average at the end {load()}.")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(report.lines) + "\n")


if __name__ == "__main__":
    main()

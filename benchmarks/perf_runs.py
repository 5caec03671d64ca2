"""The runs that `performance.py` measures: the four loops (keras-hparams,
KerasTuner, and a bare loop over the configurations each trained), `overhead`, which
interleaves them segment by segment and times their parts (in a fresh process with
`overhead_in_process`), the proposal `latency` of `BayesianOptimization`, and the
`parallel` trials per minute.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from perf_models import Family, FromKerasTuner, FromValues  # noqa: E402
from perf_timing import FitClock, Timers, callbacks, targets  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams.algorithms import BayesianOptimization  # noqa: E402
from keras_hparams.trial import Trial  # noqa: E402

SCRIPT = Path(__file__).with_name("performance.py")  # what `--child` runs


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
        command = [sys.executable, str(SCRIPT), "--child", family.name, str(path)]
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

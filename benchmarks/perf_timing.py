"""Timing for `performance.py`: `FitClock`, the callback that records when each
`fit` starts and ends, and `Timers`, which wraps the functions that `targets` names
(in keras-hparams, KerasTuner and Keras) and garbage collection to find where a
loop's time goes.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_hparams.algorithms import BayesianOptimization  # noqa: E402


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

"""`kh.Tuner`: the trial loop around `model.fit`.

For each trial: ask the algorithm for values, build the model with them, fit it with the
user's own `fit` arguments, score it by its best epoch, keep its best weights if it is
among the best few, and record it. The tuner knows nothing about scikit-optimize.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_hparams import algorithms, checkpoints
from keras_hparams.callbacks import for_trial as trial_callbacks
from keras_hparams.errors import (
    FailedTrialError,
    FatalError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
)
from keras_hparams.objective import Objective
from keras_hparams.progress import Progress, format_params, format_value
from keras_hparams.recorder import TrialRecorder
from keras_hparams.results import SearchResults
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.storage import DATABASE_NAME, TrialStore
from keras_hparams.trial import COMPLETED, FAILED, INTERRUPTED, RUNNING, Trial
from keras_hparams.tunable import BuildContext, as_builder

_FIT_PARAMETERS = set(inspect.signature(keras.Model.fit).parameters) - {"self"}
_UNTUNABLE_FIT_ARGUMENTS = {
    "x",
    "y",
    "validation_data",
    "callbacks",
    "sample_weight",
    "class_weight",
}
# What keras-hparams writes in a project directory; overwrite=True deletes only these.
_OWN_FILES = {
    DATABASE_NAME,
    DATABASE_NAME + "-wal",
    DATABASE_NAME + "-shm",
    "search.lock",
    "trials",
}
# Re-proposals in a row that turn out, once built, to repeat a finished trial.
_MAX_REPEATS = 100


class Tuner(SearchResults):
    """Searches the hyperparameters of a model-building function.

    Args:
        hypermodel: a `@kh.tunable` function, a `kh.TunableModel`, or a function that
            returns a compiled `keras.Model` (its markers are found as it runs).
        objective: str or `kh.Objective`, the metric to optimize, scored at each trial's
            best epoch. Names with loss, error, mse, mae or crossentropy are minimized;
            accuracy, auc, precision, recall or f1 maximized. Defaults to `"val_loss"`.
        max_trials: int, the number of trials in the project, counting earlier runs
            and failed trials. Defaults to `10`.
        algorithm: `"bayesian"` (default), `"random"`, or a
            `kh.algorithms.Algorithm` instance.
        directory: str or path, where projects live. Defaults to `"hparams"`.
        project_name: str, the folder of this search inside `directory`: its trial
            database and checkpoints. Defaults to `"search"`.
        overwrite: bool, `False` (default) resumes the search found in the project
            folder; `True` deletes it and starts again.
        seed: int or None, makes proposals and weight initialization reproducible.
        max_consecutive_failures: int, failed trials in a row that stop the search.
            Defaults to `3`.
        keep_checkpoints: int, how many of the best trials keep their best-epoch model
            file. Defaults to `3`.
        verbose: int, `1` prints a line per trial, `0` nothing. Keras's own epoch
            output follows the `verbose` argument of `search` as it does for `fit`.

    Example:

    ```python
    tuner = kh.Tuner(build_model, objective="val_accuracy", max_trials=20, seed=0)
    tuner.search(x, y, epochs=10, validation_split=0.2,
                 batch_size=kh.Choice([32, 64, 128]))
    print(tuner.best_params, tuner.best_score)
    tuner.export("best.keras")
    ```
    """

    def __init__(
        self,
        hypermodel: Any,
        objective: str | Objective = "val_loss",
        *,
        max_trials: int = 10,
        algorithm: str | algorithms.Algorithm = "bayesian",
        directory: str | os.PathLike = "hparams",
        project_name: str = "search",
        overwrite: bool = False,
        seed: int | None = None,
        max_consecutive_failures: int = 3,
        keep_checkpoints: int = 3,
        verbose: int = 1,
    ) -> None:
        self.builder = as_builder(hypermodel)
        self.objective = Objective.from_argument(objective)
        _check_int("max_trials", max_trials, minimum=1)
        _check_int("max_consecutive_failures", max_consecutive_failures, minimum=1)
        _check_int("keep_checkpoints", keep_checkpoints, minimum=0)
        if seed is not None:
            _check_int("seed", seed, minimum=0)
        if verbose not in (0, 1, 2):
            raise ValueError(
                f"Tuner(verbose=...) expects 0, 1 or 2. Received: {verbose!r}."
            )
        if (
            not isinstance(project_name, str)
            or not project_name
            or os.sep in project_name
        ):
            raise ValueError(
                "Tuner(project_name=...) expects a folder name without path "
                "separators. "
                f"Received: {project_name!r}."
            )
        self.max_trials = max_trials
        self.seed = seed
        self.algorithm = algorithms.get(algorithm, seed)
        self.max_consecutive_failures = max_consecutive_failures
        self.keep_checkpoints = keep_checkpoints
        self.verbose = verbose
        self.project_directory = Path(directory) / project_name
        if overwrite:
            _delete_project(self.project_directory)
        self._store = TrialStore(self.project_directory)
        self._check_objective()
        self.space = SearchSpace.from_config(self._store.get_meta("space") or [])
        self._repeats: list[Trial] = []

    # -- results --------------------------------------------------------------
    @property
    def trials(self) -> list[Trial]:
        """Every trial of the project, by id, as stored."""
        return self._store.trials()

    def best_model(self) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled."""
        trial = self.best_trial
        checkpoint = checkpoints.path(self.project_directory, trial.id)
        if not checkpoint.exists():
            raise FileNotFoundError(
                f"No checkpoint was kept for the best trial ({trial.id}) at "
                f"{checkpoint}. Tuner(keep_checkpoints=0) keeps none; rebuild it "
                "with build(tuner.best_params) and train it instead."
            )
        # A context, not build(): the values include tuned fit arguments.
        context = BuildContext(self.builder.space, trial.params)
        model = self.builder.build_in(context)
        # The checkpoint holds the optimizer's state too: build it so that it loads.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(checkpoint)
        return model

    # -- search ---------------------------------------------------------------
    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the project has `max_trials` of them.

        Takes exactly the arguments of `model.fit`. A marker as the value of a keyword
        argument (`batch_size=kh.Choice([32, 64])`) tunes it, named after the keyword.
        The user's callbacks are copied for each trial.
        """
        fit_space, fit_kwargs = _split_fit_markers(fit_args, fit_kwargs)
        callbacks = _check_callbacks(fit_kwargs.pop("callbacks", None))
        with self._store.locked():
            self._merge_space(fit_space)
            progress = Progress(self.verbose, self.max_trials)
            self._announce(progress)
            self._loop(progress, fit_space, fit_args, fit_kwargs, callbacks)

    def _loop(self, progress, fit_space, fit_args, fit_kwargs, callbacks) -> None:
        failures: list[str] = []
        while True:
            trials = self.trials
            pending = [t for t in trials if t.status in (RUNNING, INTERRUPTED)]
            if not pending and len(trials) >= self.max_trials:
                break
            trial, rng = self._next_trial(trials, pending, progress)
            if trial is None:
                break
            self._run_trial(
                trial, rng, fit_space, fit_args, fit_kwargs, callbacks, progress
            )
            if trial.status == FAILED:
                failures.append(f"trial {trial.id}: {trial.error}")
                if len(failures) >= self.max_consecutive_failures:
                    raise TooManyFailuresError(
                        f"{len(failures)} trials failed in a row, so the search "
                        "stopped. "
                        "The last errors:\n  " + "\n  ".join(failures)
                    )
            elif trial.status == COMPLETED:
                failures.clear()
        if self.verbose and any(t.status == COMPLETED for t in self.trials):
            best = self.best_trial
            progress.print(
                f"Search done. Best {self.objective.name}={format_value(best.score)} "
                f"(trial {best.id}): {format_params(best.params)}"
            )

    def _next_trial(self, trials, pending, progress):
        """The next trial to run (an interrupted one first), or None when exhausted."""
        if pending:
            trial = pending[0]
            return trial, self._rng(trial.id)
        trial_id = self._store.next_id()
        if not trials:  # the first trial runs the code's own defaults
            return Trial(id=trial_id, params={}), None
        history = trials + self._repeats
        proposals = self.algorithm.propose(
            self.space, history, 1, direction=self.objective.direction
        )
        if not proposals or len(self._repeats) >= _MAX_REPEATS:
            progress.print(
                f"The search space is exhausted: every set of values has been tried "
                f"({len(trials)} trials)."
            )
            return None, None
        return Trial(id=trial_id, params=proposals[0]), self._rng(trial_id)

    def _run_trial(
        self, trial, rng, fit_space, fit_args, fit_kwargs, callbacks, progress
    ) -> None:
        keras.backend.clear_session()  # frees the last trial's graph; collects garbage
        if self.seed is not None:
            keras.utils.set_random_seed((self.seed * 100_003 + trial.id) % 2**32)
        trial.started, trial.status, trial.error = time.time(), RUNNING, None
        context = BuildContext(self.builder.space, trial.params, rng)
        recorder = TrialRecorder(self.objective, keep_weights=self.keep_checkpoints > 0)
        try:
            with context.activate():
                model = _check_model(self.builder.build_in(context))
                proposed = trial.params
                trial.params = self._trial_params(context, fit_space, proposed, rng)
                if self._is_repeat(trial, proposed):
                    return
                self._store.write(trial)
                progress.trial_started(trial)
                kwargs = {**fit_kwargs, **{n: trial.params[n] for n in fit_space.names}}
                kwargs["callbacks"] = trial_callbacks(
                    callbacks, trial, self.project_directory
                ) + [recorder]
                model.fit(*fit_args, **kwargs)
            self._score(trial, recorder, model)
        except KeyboardInterrupt:
            self._end(trial, INTERRUPTED, "interrupted by the user (KeyboardInterrupt)")
            progress.print(
                f"Search interrupted during trial {trial.id}; "
                "run search() again to resume."
            )
            raise
        except SearchSpaceMismatchError:
            raise
        except FatalError as error:
            self._end(trial, FAILED, _message(error), recorder)
            raise
        except Exception as error:  # noqa: BLE001 - a trial's failure must not end the search
            trial.params = {**trial.params, **context.active}
            self._end(trial, FAILED, _message(error), recorder)
        finally:
            recorder.best_weights = None
        if trial.status in (COMPLETED, FAILED):
            progress.trial_ended(trial, self._best_or_none(), self.objective.name)

    def _trial_params(self, context, fit_space, proposed, rng) -> dict[str, Any]:
        """The values the trial really used: active model dimensions and fit values."""
        for name in context.active:
            self._add_dimension(self.builder.space[name])
        params = dict(context.active)
        for dimension in fit_space:
            if dimension.name in proposed:
                params[dimension.name] = proposed[dimension.name]
            else:
                params[dimension.name] = (
                    dimension.sample(rng) if rng is not None else dimension.default
                )
        return params

    def _is_repeat(self, trial: Trial, proposed: dict[str, Any]) -> bool:
        """Whether the built trial repeats a finished one (conditional dimensions).

        Values that differ only in dimensions the build never used make the same
        model: instead of training it again, the algorithm learns the earlier score
        for these values and is asked again.
        """
        key = self.algorithm.key(self.space, trial.params)
        for earlier in self.trials:
            if (
                earlier.finished
                and self.algorithm.key(self.space, earlier.params) == key
            ):
                self._repeats.append(
                    Trial(
                        id=-len(self._repeats) - 1,
                        params={**proposed, **trial.params},
                        status=earlier.status,
                        score=earlier.score,
                    )
                )
                return True
        return False

    def _score(self, trial: Trial, recorder: TrialRecorder, model: keras.Model) -> None:
        if recorder.diverged:
            raise FailedTrialError(f"Training diverged: {recorder.diverged}.")
        best = recorder.best_epoch
        if best is None:
            raise FailedTrialError(
                f"No epoch reported a finite {self.objective.name} "
                "(did fit run any epoch?)."
            )
        trial.score = recorder.history[best][self.objective.name]
        trial.best_epoch = best
        trial.history = recorder.history
        trial.status = COMPLETED
        trial.ended = time.time()
        if recorder.best_weights is not None and self._keeps_checkpoint(trial):
            model.set_weights(recorder.best_weights)
            checkpoints.save(model, self.project_directory, trial.id)
        # The row is written after the checkpoint: a completed row implies its file.
        self._store.write(trial)
        kept = {t.id for t in self.ranked_trials()[: self.keep_checkpoints]}
        checkpoints.keep_only(self.project_directory, kept)

    def _end(self, trial, status, error, recorder=None) -> None:
        trial.status, trial.error, trial.ended = status, error, time.time()
        if recorder is not None:
            trial.history = recorder.history
        self._store.write(trial)

    # -- helpers --------------------------------------------------------------
    def _keeps_checkpoint(self, trial: Trial) -> bool:
        others = [t for t in self.trials if t.id != trial.id]
        return trial in self.ranked_trials(others + [trial])[: self.keep_checkpoints]

    def _best_or_none(self) -> Trial | None:
        try:
            return self.best_trial
        except RuntimeError:
            return None

    def _rng(self, trial_id: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, trial_id])

    def _check_objective(self) -> None:
        stored = self._store.get_meta("objective")
        if stored is not None and stored != self.objective.get_config():
            if any(t.status == COMPLETED for t in self.trials):
                raise SearchSpaceMismatchError(
                    f"The project {self.project_directory} was searched with objective "
                    f"{Objective.from_config(stored)!r}, not {self.objective!r}. Pass "
                    "overwrite=True to start again, or use a new project_name."
                )
        self._store.set_meta("objective", self.objective.get_config())

    def _merge_space(self, fit_space: SearchSpace) -> None:
        for dimension in fit_space:
            self._add_dimension(dimension)

    def _add_dimension(self, dimension: Dimension) -> None:
        try:
            new = self.space.add(dimension)
        except ValueError:
            raise SearchSpaceMismatchError(
                f"The project {self.project_directory} was searched with "
                f"{self.space[dimension.name]!r}; this code defines {dimension!r}. "
                "Pass overwrite=True to start again, or use a new project_name."
            ) from None
        if new:
            self._store.set_meta("space", self.space.get_config())

    def _announce(self, progress: Progress) -> None:
        done = sum(t.finished for t in self.trials)
        resumed = f", resuming with {done} trials done" if done else ""
        progress.print(
            f"Search of {self.max_trials} trials in {self.project_directory}: "
            "objective "
            f"{self.objective.name} ({self.objective.direction}), "
            f"{type(self.algorithm).__name__}{resumed}."
        )


def _check_int(argument: str, value: Any, minimum: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(
            f"Tuner({argument}=...) expects an integer >= {minimum}. "
            f"Received: {value!r}."
        )


def _split_fit_markers(fit_args: tuple, fit_kwargs: dict) -> tuple[SearchSpace, dict]:
    """Separates the tuned `fit` keyword arguments from the fixed ones."""
    for position, value in enumerate(fit_args):
        if isinstance(value, Dimension):
            raise ValueError(
                f"search() got a marker as positional argument {position}: {value!r}. "
                "Tune fit arguments by keyword, e.g. batch_size=kh.Choice([32, 64])."
            )
    unknown = sorted(set(fit_kwargs) - _FIT_PARAMETERS)
    if unknown:
        raise TypeError(
            f"search() takes the arguments of model.fit. Received unknown: {unknown}. "
            f"Accepted: {sorted(_FIT_PARAMETERS)}."
        )
    space, fixed = SearchSpace(), {}
    for name, value in fit_kwargs.items():
        if not isinstance(value, Dimension):
            fixed[name] = value
        elif name in _UNTUNABLE_FIT_ARGUMENTS:
            raise ValueError(
                f"search() cannot tune {name}=; markers are accepted for fit's "
                f"settings such as batch_size, epochs or validation_split. "
                f"Received: {name}={value!r}."
            )
        else:
            space.add(value if value.name is not None else value.named(name))
    return space, fixed


def _check_callbacks(callbacks: Any) -> list[keras.callbacks.Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "search(callbacks=...) expects keras.callbacks.Callback instances. "
                f"Received: {callback!r}."
            )
        try:
            copy.deepcopy(callback)
        except Exception as error:  # noqa: BLE001 - reported with the callback's name
            raise TypeError(
                f"search() copies each callback for every trial, and {callback!r} "
                f"cannot be copied: {error}"
            ) from error
    return callbacks


def _check_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise FailedTrialError(
            f"The builder returned {type(model).__name__}, not a keras.Model."
        )
    if not model.compiled:
        raise FailedTrialError(
            "The builder returned a model that is not compiled: call "
            "model.compile(...) "
            "before returning it."
        )
    return model


def _message(error: BaseException) -> str:
    if isinstance(error, (FailedTrialError, FatalError)):
        return str(error)[-2000:]
    return f"{type(error).__name__}: {error}"[-2000:]


def _delete_project(directory: Path) -> None:
    """Deletes what keras-hparams wrote in `directory`; refuses a folder with more."""
    if not directory.exists():
        return
    others = sorted(p.name for p in directory.iterdir() if p.name not in _OWN_FILES)
    if others:
        raise ValueError(
            f"Tuner(overwrite=True) deletes only what keras-hparams wrote, and "
            f"{directory} also holds {others}. Move them, or choose another "
            "directory or project_name."
        )
    shutil.rmtree(directory)

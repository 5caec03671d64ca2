"""`kh.Tuner`: the trial loop around `model.fit`.

For each trial: ask the algorithm for values, build the model with them, fit it with the
user's own `fit` arguments, score it by its best epoch, keep its best weights if it is
among the best few, and record it. The tuner knows nothing about scikit-optimize.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_hparams import (
    algorithms,
    checkpoints,
    errors,
    execution,
    fit_arguments,
    interrupts,
)
from keras_hparams.errors import (
    FatalError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
    UnsupportedSpaceError,
)
from keras_hparams.execution import check_model, error_message, used_params
from keras_hparams.fit_arguments import FitPlan
from keras_hparams.objective import Objective
from keras_hparams.progress import Progress, format_params, format_value
from keras_hparams.results import SearchResults
from keras_hparams.runner import TrialResult, TrialRunner
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.space import from_config as dimension_from_config
from keras_hparams.storage import DATABASE_NAME, TrialStore, take_lock
from keras_hparams.trial import COMPLETED, FAILED, INTERRUPTED, RUNNING, Trial
from keras_hparams.tunable import BuildContext, as_builder

# What keras-hparams writes in a project directory; overwrite=True deletes only these.
_OWN_FILES = {
    DATABASE_NAME,
    DATABASE_NAME + "-wal",
    DATABASE_NAME + "-shm",
    "search.lock",
    "trials",
}
# Fixed fit arguments that change what a score means: a resume must keep them.
_SCORING_FIT_ARGUMENTS = (
    "epochs",
    "batch_size",
    "validation_split",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_freq",
)
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
        executions_per_trial: int, trainings of each set of values, from fresh
            weights; the score is their mean. Defaults to `1`.
        cv: int or None, scores each trial by `cv`-fold cross-validation on the
            in-memory arrays given to `search()`: the mean of the folds' scores, their
            spread kept in `trial.extra`. The objective must be a `val_` metric.
            Defaults to `None`.
        pruner: None (default), `"median"`, `"successive_halving"` (asynchronous,
            ASHA-like), or a `kh.pruners.Pruner`:
            stops a trial at an epoch where it is clearly worse than other trials
            were at that epoch; it is recorded as pruned, with its score so far.
        trial_timeout: seconds, or None (default): a trial still training after that
            stops at the end of its current batch and is recorded as timed out.
        save_progress_every: seconds, or None. A running trial saves its state (model,
            optimizer, history, best weights) at the first epoch end after this many
            seconds since its last save, so a trial interrupted by a crash or Ctrl-C
            resumes from there instead of from scratch. Defaults to `60`: trials
            shorter than a minute never write it. Trials with `cv` or
            `executions_per_trial > 1` restart from scratch.
        verbose: int, `1` prints a line per trial, `0` nothing. Keras's own epoch
            output follows the `verbose` argument of `search` as it does for `fit`.
        distribution_strategy: None (default), or a `tf.distribute.Strategy`: each
            trial's model is built, compiled and trained under its scope, e.g.
            `tf.distribute.MirroredStrategy()` for one trial across several GPUs or
            `TPUStrategy` for a TPU. Runs in this process (not with `executor`).
        executor: None (default) runs one trial at a time in this process;
            `"processes"` runs `n_workers` trials at once in worker processes on
            this machine; a `dask.distributed.Client` runs trials as tasks on its
            cluster's workers. The tuner's process alone proposes values and writes
            the trial database.
        n_workers: int, trials at once. With `"processes"`, defaults to
            `len(devices)`, else to the number of CPU cores; with a Dask client, to
            its workers' threads.
        devices: list such as `["GPU:0", "GPU:1"]`: one worker process per entry,
            each seeing only its GPU (`"CPU"` for one that sees none). Implies
            `executor="processes"`.
        worker_resources: dict such as `{"GPU": 1}`: the Dask resources each trial
            asks for (workers started with `--resources "GPU=1"`).

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
        executions_per_trial: int = 1,
        cv: int | None = None,
        pruner: Any = None,
        trial_timeout: float | None = None,
        save_progress_every: float | None = 60,
        verbose: int = 1,
        distribution_strategy: Any = None,
        executor: Any = None,
        n_workers: int | None = None,
        devices: list[str] | None = None,
        worker_resources: dict[str, float] | None = None,
    ) -> None:
        _check_not_bootstrapping()
        self.builder = as_builder(hypermodel)
        self.objective = Objective.from_argument(objective)
        _check_int("max_trials", max_trials, minimum=1)
        _check_int("max_consecutive_failures", max_consecutive_failures, minimum=1)
        _check_int("keep_checkpoints", keep_checkpoints, minimum=0)
        _check_int("executions_per_trial", executions_per_trial, minimum=1)
        if cv is not None:
            _check_int("cv", cv, minimum=2)
            if not self.objective.name.startswith("val_"):
                raise ValueError(
                    f"Tuner(cv={cv}) scores each fold on its held-out part, so the "
                    "objective must be a validation metric such as 'val_loss'. "
                    f"Received: objective={self.objective.name!r}."
                )
        if seed is not None:
            _check_int("seed", seed, minimum=0)
        for name, value in (
            ("trial_timeout", trial_timeout),
            ("save_progress_every", save_progress_every),
        ):
            _check_seconds(name, value, zero_ok=name == "save_progress_every")
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
                f"separators. Received: {project_name!r}."
            )
        self.max_trials = max_trials
        self.seed = seed
        self.algorithm = algorithms.get(algorithm, seed)
        self.pruner = _get_pruner(pruner)
        if self.pruner is not None and (cv or executions_per_trial > 1):
            raise ValueError(
                "A pruner compares one training per trial at each epoch, so it cannot "
                "be combined with cv or executions_per_trial > 1 yet. Received: "
                f"pruner={pruner!r}, cv={cv!r}, "
                f"executions_per_trial={executions_per_trial!r}."
            )
        self.distribution_strategy = _check_strategy(distribution_strategy)
        self._executor = _check_executor(
            executor, n_workers, devices, worker_resources, distribution_strategy
        )
        self.max_consecutive_failures = max_consecutive_failures
        self.keep_checkpoints = keep_checkpoints
        self.executions_per_trial = executions_per_trial
        self.cv = cv
        self.trial_timeout = trial_timeout
        self.save_progress_every = save_progress_every
        self.verbose = verbose
        self.project_directory = Path(directory) / project_name
        if overwrite:
            _delete_project(self.project_directory)
        self._store = TrialStore(self.project_directory)
        self._check_objective()  # stored by search(), under the project's lock
        self.space = SearchSpace.from_config(self._store.get_meta("space") or [])
        self._repeats: list[Trial] = []

    # -- results --------------------------------------------------------------
    def best_model(self) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled."""
        trial, checkpoint = self._best_checkpoint()
        # A context, not build(): the values include tuned fit arguments.
        context = BuildContext(self.builder.space, trial.params)
        model = self.builder.build_in(context)
        # The checkpoint holds the optimizer's state too: build it so that it loads.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(checkpoint)
        return model

    # -- search ---------------------------------------------------------------
    def enqueue(self, params: dict[str, Any]) -> None:
        """Runs a trial with `params` before the algorithm proposes anything more.

        Values left out take their defaults. Enqueued trials count toward
        `max_trials`, are kept in the project (a resumed search still runs them),
        and teach the algorithm like any other trial.

        Args:
            params: dict, hyperparameter values by name.
        """
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise TypeError(
                "Tuner.enqueue() expects a dict of values by hyperparameter name. "
                f"Received: {params!r}."
            )
        for space in (self.space, self.builder.space):
            space.check_values(params, argument="Tuner.enqueue()")
        queue = self._store.get_meta("queue") or []
        self._store.set_meta("queue", queue + [dict(params)])

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the project has `max_trials` of them.

        Takes exactly the arguments of `model.fit`. A marker as the value of a keyword
        argument (`batch_size=kh.Choice([32, 64])`) tunes it, named after the keyword.
        The user's callbacks are copied for each trial.
        """
        plan = fit_arguments.plan(
            fit_args,
            fit_kwargs,
            cv=self.cv,
            executions=self.executions_per_trial,
            seed=self.seed,
        )
        with self._store.locked(), interrupts.kept():
            self._check_objective()
            self._store.set_meta("objective", self.objective.get_config())
            self._check_scoring(plan)
            for dimension in plan.space:
                self._add_dimension(dimension)
            self._tidy()
            progress = Progress(self.verbose, self.max_trials)
            self._announce(progress)
            if self._executor is None:
                with execution.flat_memory():
                    self._loop(progress, plan.materialized())
            else:
                self._parallel_loop(progress, plan)

    def _loop(self, progress: Progress, plan: FitPlan) -> None:
        failures: list[str] = []
        while True:
            interrupts.check()
            trials = self.trials
            pending = [t for t in trials if t.status in (RUNNING, INTERRUPTED)]
            if not pending and len(trials) >= self.max_trials:
                break
            trial, rng = self._next_trial(trials, pending, progress)
            if trial is None:
                break
            self._run_trial(trial, rng, plan, progress)
            if trial.status == FAILED:
                failures.append(f"trial {trial.id}: {trial.error}")
                if len(failures) >= self.max_consecutive_failures:
                    raise TooManyFailuresError(
                        f"{len(failures)} trials failed in a row, so the search "
                        "stopped. The last errors:\n  " + "\n  ".join(failures)
                    )
            elif trial.status != RUNNING:  # not a repeat
                failures.clear()
        self._print_best(progress)

    def _print_best(self, progress: Progress) -> None:
        if self.verbose and self.ranked_trials():
            best = self.best_trial
            progress.print(
                f"Search done. Best {self.objective.name}={format_value(best.score)} "
                f"(trial {best.id}): {format_params(best.params)}"
            )

    def _next_trial(self, trials, pending, progress, running=()):
        """The next trial: an interrupted one, an enqueued one, the defaults, or the
        algorithm's proposal, with its rng; else `(None, why)`: "exhausted" when no
        new values remain, "wait" while the builds of `running` trials may still
        find the space's first dimensions."""
        if pending:
            return pending[0], self._rng(pending[0].id)
        trial_id = self._store.next_id()
        queue = self._store.get_meta("queue") or []
        if queue:  # taken off the queue once its row is written (_start)
            return Trial(id=trial_id, params=queue[0], extra={"enqueued": True}), None
        if not trials:  # the first trial runs the code's own defaults
            return Trial(id=trial_id, params={}), None
        if not self.space:
            if running:
                return None, "wait"
            progress.print(
                "No hyperparameter was found in the builder or the fit arguments: the "
                "one configuration there is has run."
            )
            return None, "exhausted"
        proposals = self.algorithm.propose(
            self.space, trials + self._repeats, 1, direction=self.objective.direction
        )
        if not proposals or len(self._repeats) >= _MAX_REPEATS:
            tried = "tried or is running" if running else "tried"
            progress.print(
                f"The search space is exhausted: every set of values has been {tried} "
                f"({len(trials)} trials)."
            )
            return None, "exhausted"
        return Trial(id=trial_id, params=proposals[0]), self._rng(trial_id)

    def _run_trial(self, trial: Trial, rng, plan: FitPlan, progress: Progress) -> None:
        execution.prepare(self.seed, trial.id)
        self._start(trial)
        proposed = dict(trial.params)
        context = BuildContext(self.builder.space, proposed, rng)
        runner = self._runner(trial, plan)
        try:
            with context.activate(), self._scope():
                model = check_model(self.builder.build_in(context))
                trial.params = self._trial_params(context, plan.space, proposed, rng)
                if self._is_repeat(trial, proposed):
                    self._store.delete(trial.id)
                    return
                self._store.write(trial)
                progress.trial_started(trial)
                result = runner.run(
                    trial,
                    model,
                    lambda: check_model(self.builder.build_in(context)),
                    plan,
                    self.project_directory,
                )
            self._record(trial, result)
        except KeyboardInterrupt:
            stored = self._store.get(trial.id)
            if stored is None or not stored.finished:  # else: recorded just before
                trial.history = runner.history
                self._end(
                    trial, INTERRUPTED, "interrupted by the user (KeyboardInterrupt)"
                )
            progress.print(
                f"Search interrupted during trial {trial.id}; "
                "run search() again to resume."
            )
            raise
        except (SearchSpaceMismatchError, UnsupportedSpaceError):
            self._store.delete(trial.id)  # found before any training
            raise
        except FatalError as error:
            trial.history = runner.history
            self._end(trial, FAILED, error_message(error))
            raise
        except Exception as error:  # noqa: BLE001 - a trial's failure must not end the search
            # The dimensions met before the failure are part of the space too.
            for name in context.active:
                self._add_dimension(self.builder.space[name])
            trial.params = {**proposed, **context.active}
            trial.history = runner.history
            self._end(trial, FAILED, error_message(error))
        progress.trial_ended(trial, self._best_or_none(), self.objective.name)

    def _runner(self, trial: Trial, plan: FitPlan) -> TrialRunner:
        prune = None
        if self.pruner is not None:
            prune = execution.pruning(
                self.pruner,
                self.objective,
                [t for t in self.trials if t.id != trial.id],
                trial.params.get("epochs", plan.kwargs.get("epochs", 1)),
            )
        return TrialRunner(
            self.objective,
            keep_weights=self.keep_checkpoints > 0,
            timeout=self.trial_timeout,
            prune=prune,
            save_every=self.save_progress_every,
            resume=checkpoints.load_progress(self.project_directory, trial.id),
        )

    def _trial_params(self, context, fit_space, proposed, rng) -> dict[str, Any]:
        """The values the trial really used: active model dimensions and fit values."""
        for name in context.active:
            self._add_dimension(self.builder.space[name])
        return used_params(context, fit_space, proposed, rng)

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

    def _record(self, trial: Trial, result: TrialResult) -> None:
        trial.status, trial.score = result.status, result.score
        trial.best_epoch, trial.history = result.best_epoch, result.history
        trial.extra, trial.ended = result.extra, time.time()
        model, project = result.best_model, self.project_directory
        save = None
        if model is not None:
            save = lambda: checkpoints.save(model, project, trial.id)
        self._finish(trial, save)

    def _start(self, trial: Trial) -> None:
        """Writes the trial's row as running, before its build: a kill from here on
        reruns this trial. An enqueued one leaves the queue once its row exists (a
        kill between the two writes runs it twice at worst, and the repeat is found
        after the build, before any training)."""
        enqueued = trial.extra.get("enqueued", False)
        trial.started, trial.status, trial.error = time.time(), RUNNING, None
        trial.history, trial.extra = [], {}
        self._store.write(trial)
        if enqueued:
            self._store.set_meta("queue", (self._store.get_meta("queue") or [])[1:])

    def _finish(self, trial: Trial, save_checkpoint) -> None:
        """Records an ended trial; `save_checkpoint()` writes its model file, called
        only if the trial ranks among the best `keep_checkpoints`."""
        if save_checkpoint is not None and self._keeps_checkpoint(trial):
            save_checkpoint()
        # The row is written after the checkpoint: a completed row implies its file.
        self._store.write(trial)
        checkpoints.clear_progress(self.project_directory, trial.id)
        kept = {t.id for t in self.ranked_trials()[: self.keep_checkpoints]}
        checkpoints.keep_only(self.project_directory, kept)

    def _end(self, trial: Trial, status: str, error: str) -> None:
        trial.status, trial.error, trial.ended = status, error, time.time()
        self._store.write(trial)
        if status == FAILED:
            checkpoints.clear_progress(self.project_directory, trial.id)

    # -- several trials at once ---------------------------------------------------
    def _parallel_loop(self, progress: Progress, plan: FitPlan) -> None:
        """Keeps every worker busy; records each trial as its outcome comes back.

        This process alone proposes values (pending-aware: running trials are in
        the store) and writes the store. Trials still running when the search stops
        (an error, Ctrl-C) are recorded as interrupted, so a resumed search reruns
        them.
        """
        kind, options = self._executor
        shared_files = kind == "processes"
        job = execution.Job(
            builder=self.builder,
            plan=plan,
            objective=self.objective,
            key=self.algorithm.key,
            pruner=self.pruner,
            seed=self.seed,
            keep_weights=self.keep_checkpoints > 0,
            timeout=self.trial_timeout,
            save_every=self.save_progress_every,
            project_directory=str(self.project_directory) if shared_files else None,
        )
        payload = execution.check_picklable(
            "builder with the arguments of search()", job
        )
        executor = (
            execution.ProcessExecutor(**options)
            if shared_files
            else execution.DaskExecutor(**options)
        )
        running: dict[int, Trial] = {}
        failures: list[str] = []
        exhausted = False
        try:
            executor.start(payload)  # workers import TensorFlow meanwhile
            if not self.trials:
                self._discover_space()
            while True:
                interrupts.check()
                while not exhausted and executor.idle():
                    trials = self.trials
                    trial, rng = self._next_parallel(trials, running, progress)
                    if trial is None:
                        exhausted = rng == "exhausted"
                        break
                    self._submit(executor, trial, rng, plan, trials)
                    running[trial.id] = trial
                    progress.trial_started(trial, values=False)
                if not running:
                    break
                for outcome in executor.wait():
                    trial = running.pop(outcome.trial_id)
                    self._take_outcome(trial, outcome, progress, failures)
        except BaseException as error:
            reason = (
                "interrupted by the user (KeyboardInterrupt)"
                if isinstance(error, KeyboardInterrupt)
                else f"the search stopped: {error_message(error)}"
            )
            for trial in running.values():
                self._end(trial, INTERRUPTED, reason)
            if running and isinstance(error, KeyboardInterrupt):
                progress.print(
                    f"Search interrupted during trials {sorted(running)}; "
                    "run search() again to resume."
                )
            raise
        finally:
            executor.shutdown()
        self._print_best(progress)

    def _next_parallel(self, trials, running, progress):
        """As `_next_trial`, skipping the trials running here; `(None, "full")` at
        max_trials."""
        pending = [
            t
            for t in trials
            if t.status in (RUNNING, INTERRUPTED) and t.id not in running
        ]
        if not pending and len(trials) >= self.max_trials:
            return None, "full"
        return self._next_trial(trials, pending, progress, running)

    def _submit(self, executor, trial: Trial, rng, plan: FitPlan, trials) -> None:
        self._start(trial)
        others = [t for t in trials if t.id != trial.id]
        if self.pruner is None:  # histories are for the pruner only
            others = [dataclasses.replace(t, history=[]) for t in others]
        executor.submit(
            execution.Task(
                trial_id=trial.id,
                params=dict(trial.params),
                rng=rng,
                space=self.space.get_config(),
                others=others,
                epochs=trial.params.get("epochs", plan.kwargs.get("epochs", 1)),
                checkpoint_bar=self._checkpoint_bar(trials),
            )
        )

    def _checkpoint_bar(self, trials: list[Trial]) -> float | None:
        ranked = self.ranked_trials(trials)
        if self.keep_checkpoints and len(ranked) >= self.keep_checkpoints:
            return ranked[self.keep_checkpoints - 1].score
        return None

    def _take_outcome(self, trial, outcome, progress, failures) -> None:
        try:
            for config in outcome.dimensions:
                self._add_dimension(dimension_from_config(config))
        except (SearchSpaceMismatchError, UnsupportedSpaceError):
            self._store.delete(trial.id)  # found before any training
            raise
        if outcome.repeat_of is not None:
            self._store.delete(trial.id)
            self._repeats.append(
                Trial(
                    id=-len(self._repeats) - 1,
                    params={**trial.params, **outcome.params},
                    status=outcome.status,
                    score=outcome.score,
                )
            )
            return
        trial.params, trial.status = outcome.params, outcome.status
        trial.score, trial.best_epoch = outcome.score, outcome.best_epoch
        trial.history, trial.extra, trial.error = (
            outcome.history,
            outcome.extra,
            outcome.error,
        )
        trial.started = outcome.started or trial.started
        trial.ended = outcome.ended or time.time()
        data, project = outcome.checkpoint, self.project_directory
        save = None
        if data is not None:
            save = lambda: checkpoints.save_bytes(data, project, trial.id)
        self._finish(trial, save)
        progress.trial_ended(
            trial, self._best_or_none(), self.objective.name, values=True
        )
        if outcome.fatal:  # the same error as in this process, raised here
            error_type = getattr(errors, outcome.fatal, FatalError)
            raise error_type(f"Trial {trial.id}: {outcome.error}")
        if trial.status != FAILED:
            failures.clear()
            return
        failures.append(f"trial {trial.id}: {trial.error}")
        if len(failures) >= self.max_consecutive_failures:
            raise TooManyFailuresError(
                f"{len(failures)} trials failed in a row, so the search "
                "stopped. The last errors:\n  " + "\n  ".join(failures)
            )

    def _discover_space(self) -> None:
        """Builds the defaults once here, so that proposals for the other workers
        know the builder's dimensions while the first trial runs."""
        context = BuildContext(self.builder.space, {})
        try:
            with context.activate():
                self.builder.build_in(context)
        except Exception:  # noqa: BLE001 - the first trial reports it
            return
        finally:
            keras.backend.clear_session(free_memory=False)
        for name in context.active:
            self._add_dimension(self.builder.space[name])

    def _scope(self) -> Any:
        if self.distribution_strategy is None:
            return contextlib.nullcontext()
        return self.distribution_strategy.scope()

    # -- helpers --------------------------------------------------------------
    def _tidy(self) -> None:
        """Deletes what a killed process may have left: progress files of finished
        trials, checkpoints beyond `keep_checkpoints`."""
        for trial in self.trials:
            if trial.finished:
                checkpoints.clear_progress(self.project_directory, trial.id)
        kept = {t.id for t in self.ranked_trials()[: self.keep_checkpoints]}
        checkpoints.keep_only(self.project_directory, kept)

    def _keeps_checkpoint(self, trial: Trial) -> bool:
        others = [t for t in self.trials if t.id != trial.id]
        return trial in self.ranked_trials(others + [trial])[: self.keep_checkpoints]

    def _best_or_none(self) -> Trial | None:
        ranked = self.ranked_trials()
        return ranked[0] if ranked else None

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

    def _check_scoring(self, plan: FitPlan) -> None:
        """Refuses to resume with settings that make scores incomparable with the
        stored ones (other epochs, folds, executions...); stores them otherwise."""
        scoring = {
            "cv": self.cv,
            "executions_per_trial": self.executions_per_trial,
            **{
                name: plan.kwargs.get(name)
                for name in _SCORING_FIT_ARGUMENTS
                if _is_plain(plan.kwargs.get(name))
            },
        }
        stored = self._store.get_meta("scoring")
        if stored is not None and any(t.status == COMPLETED for t in self.trials):
            changed = sorted(
                name
                for name in set(stored) | set(scoring)
                if stored.get(name) != scoring.get(name)
            )
            if changed:
                was = ", ".join(f"{n}={stored.get(n)!r}" for n in changed)
                now = ", ".join(f"{n}={scoring.get(n)!r}" for n in changed)
                raise SearchSpaceMismatchError(
                    f"The project {self.project_directory} scored its trials with "
                    f"{was}; this search has {now}, so the scores would not compare. "
                    "Use the same settings to resume, or pass overwrite=True to start "
                    "again, or use a new project_name."
                )
        self._store.set_meta("scoring", scoring)

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
            try:
                self.algorithm.check_space(self.space)
            except ValueError as error:
                self.space = SearchSpace([d for d in self.space if d != dimension])
                raise UnsupportedSpaceError(str(error)) from None
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


def _check_not_bootstrapping() -> None:
    """Refuses a Tuner made while a spawned process imports the main script.

    Worker processes (`executor="processes"`, and any process started by
    `multiprocessing` with "spawn") import the script that started them; a script
    that makes its Tuner at the top level would start a search in every worker.
    """
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "A Tuner was created while a new process imported the main script. "
            "Worker processes import the script that started the search, so put "
            "the code that creates the Tuner and calls search() under "
            '`if __name__ == "__main__":` (see the multiprocessing guide, '
            '"Safe importing of main module").'
        )


def _is_plain(value: Any) -> bool:
    return value is None or (
        isinstance(value, (int, float, str)) and not isinstance(value, bool)
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


def _check_seconds(argument: str, value: Any, zero_ok: bool) -> None:
    ok = value is None or (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (value > 0 or (zero_ok and value == 0))
    )
    if not ok:
        accepted = "a number >= 0" if zero_ok else "a positive number"
        raise ValueError(
            f"Tuner({argument}=...) expects {accepted} of seconds or None. "
            f"Received: {value!r}."
        )


def _check_strategy(strategy: Any) -> Any:
    if strategy is None:
        return None
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            "Tuner(distribution_strategy=...) expects a tf.distribute.Strategy such "
            "as tf.distribute.MirroredStrategy(), or None. Received: "
            f"{strategy!r}."
        )
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Tuner(distribution_strategy=...) needs Keras's TensorFlow backend; "
            f"this Keras runs on {keras.backend.backend()!r}."
        )
    return strategy


def _check_executor(executor, n_workers, devices, resources, strategy):
    """(kind, executor options), or None for one trial at a time in this process."""
    if n_workers is not None:
        _check_int("n_workers", n_workers, minimum=1)
    if devices is not None:
        devices = execution.check_devices(devices)
        if executor is None:
            executor = "processes"
        if n_workers is not None and n_workers != len(devices):
            raise ValueError(
                "Tuner(devices=...) runs one worker per device, so n_workers must be "
                f"left out or equal len(devices). Received: n_workers={n_workers!r}, "
                f"devices={devices!r}."
            )
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
    if executor is None:
        if n_workers is not None or resources is not None:
            raise ValueError(
                "Tuner(n_workers=..., worker_resources=...) need an executor: pass "
                "executor='processes' or executor=<dask.distributed.Client>."
            )
        return None
    if strategy is not None:
        raise ValueError(
            "Tuner(distribution_strategy=...) runs each trial across this process's "
            "devices, so it cannot be combined with executor=. To run one trial "
            "per GPU, pass devices=['GPU:0', 'GPU:1'] without a strategy."
        )
    if executor == "processes":
        if resources is not None:
            raise ValueError(
                "Tuner(worker_resources=...) is for a Dask client; worker "
                "processes are pinned with devices=[...] instead."
            )
        workers = len(devices) if devices else n_workers or (os.cpu_count() or 1)
        threads = max(1, (os.cpu_count() or 1) // workers)
        return "processes", {
            "n_workers": workers,
            "devices": devices,
            "threads": threads,
        }
    if _is_dask_client(executor):
        if devices is not None:
            raise ValueError(
                "Tuner(devices=...) pins worker processes on this machine; with a "
                "Dask client, ask for GPUs with worker_resources={'GPU': 1}."
            )
        return "dask", {
            "client": executor,
            "n_workers": n_workers,
            "resources": resources,
        }
    raise ValueError(
        "Tuner(executor=...) expects None (trials in this process), 'processes', or "
        f"a dask.distributed.Client. Received: {executor!r}."
    )


def _is_dask_client(value: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(value, Client)


def _get_pruner(pruner: Any) -> Any:
    if pruner is None:
        return None
    from keras_hparams import pruners

    return pruners.get(pruner)


def _delete_project(directory: Path) -> None:
    """Deletes what keras-hparams wrote in `directory`; refuses a folder with more,
    and one that another process is searching."""
    if not directory.exists():
        return
    others = sorted(p.name for p in directory.iterdir() if p.name not in _OWN_FILES)
    others += sorted(
        p.relative_to(directory).as_posix()
        for p in (directory / "trials").rglob("*")
        if not _is_trial_file(p.relative_to(directory / "trials"))
    )
    if others:
        raise ValueError(
            f"Tuner(overwrite=True) deletes only what keras-hparams wrote, and "
            f"{directory} also holds {others}. Move them, or choose another "
            "directory or project_name."
        )
    with take_lock(directory):  # not while another process searches there
        for entry in directory.iterdir():
            if entry.name == "search.lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _is_trial_file(relative: Path) -> bool:
    """Whether a path inside `trials/` is one keras-hparams writes there."""
    parts = relative.parts
    if not re.fullmatch(r"trial_\d{4,}", parts[0]):
        return False
    if len(parts) == 1:
        return True
    return len(parts) == 2 and (
        parts[1] in (checkpoints.MODEL_FILE, "partial-" + checkpoints.MODEL_FILE)
        or parts[1]
        in (checkpoints.PROGRESS_FILE, "partial-" + checkpoints.PROGRESS_FILE)
        or parts[1].startswith("progress-")
    )

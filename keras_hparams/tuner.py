"""`kh.Tuner`: the front door of a search.

A `Tuner` checks its options, opens the project folder (`project.Project`), and on
`search()` checks `fit`'s arguments and runs the search loop (`loop.SearchLoop`) on the
chosen executor (`execution`). What it reads back (best trial, tables, plots, export)
comes from `results.SearchResults`. The tuner knows nothing about scikit-optimize.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from keras_hparams import algorithms, checkpoints, execution, fit_arguments, interrupts
from keras_hparams import multi_fidelity as fidelity
from keras_hparams.callbacks import per_trial_paths
from keras_hparams.checks import check_int, check_seconds, is_number
from keras_hparams.constraints import Constraint
from keras_hparams.loop import SearchLoop
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.progress import Progress
from keras_hparams.project import Project
from keras_hparams.results import SearchResults
from keras_hparams.runner import Job
from keras_hparams.space import SearchSpace
from keras_hparams.trial_callbacks import TrialCallback
from keras_hparams.tunable import BuildContext, as_builder


class Tuner(SearchResults):
    """Searches the hyperparameters of a model-building function.

    Args:
        hypermodel: a `@kh.tunable` function, a `kh.TunableModel`, or a function that
            returns a compiled `keras.Model` (its markers are found as it runs).
        objective: str or `kh.Objective`, the metric to optimize, scored at each trial's
            best epoch. Names with loss, error, mse, mae or crossentropy are minimized;
            accuracy, auc, precision, recall or f1 maximized. Defaults to `"val_loss"`.
            A list of them searches for the Pareto front of several objectives
            (`best_trials`); the first must be a metric, the others may be
            measures of the model: `"params"`, `"latency"`, `"size"` (minimized),
            `kh.Objective.latency(batch_size=32)`, or `kh.Objective(name,
            direction, measure=fn)`.
        max_trials: int, the number of trials in the project, counting earlier runs
            and failed trials. Defaults to `10`. With `"hyperband"` and
            `"bayesian_hyperband"`, the number of configurations: a promoted
            trial runs again under the same id, so the search trains more runs.
        constraints: a `kh.Constraint` or a list of them (`kh.Constraint("params",
            at_most=100_000)`): a trial outside one is recorded as infeasible
            with its values and is never best; a parameter count or latency
            over its limit is found on the built model, before training.
            Defaults to `None`.
        algorithm: `"bayesian"` (default), `"random"`, `"grid"`, `"hyperband"`
            (brackets of successive halving over epochs: many short runs, few
            long ones, promoted trials continuing from their saved state; then
            `max_trials` counts configurations), `"bayesian_hyperband"`
            (the same with values from Bayesian optimization, as BOHB), or a
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
        worker_timeout: seconds. A worker process that gives no sign of life for
            that long (stopped, hung outside Python), or whose trial trains that
            long past `trial_timeout` (a batch that never ends), is killed: its
            trial is
            recorded as failed, saying why, a new worker takes its place, and the
            search goes on. Defaults to `60`. (A Dask client rides out a lost
            connection to its scheduler for its own `Client(timeout=...)`.)
        lost_trial_retries: int, how many times a trial whose worker died under it
            (a killed worker process, a lost Dask worker) runs again from the
            start on another worker. Defaults to `0`: it is recorded as failed,
            and Dask's own retries of it are refused.
        trial_callbacks: list of `kh.TrialCallback`, called in this process as the
            search and each trial begin and end (for trackers such as
            `kh.integrations.MLflowCallback`).

    The project folder is locked from `Tuner()` until the search ends or the
    tuner is closed (`close()`, or `with kh.Tuner(...) as tuner:`): another process
    cannot delete or change it meanwhile (`kh.SearchLockedError`); Tuners of one
    process share the lock, and `kh.load` never takes it.

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
        objective: str | Objective | list[str | Objective] = "val_loss",
        *,
        max_trials: int = 10,
        constraints: Constraint | list[Constraint] | None = None,
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
        trial_callbacks: list[TrialCallback] | None = None,
        worker_timeout: float = 60,
        lost_trial_retries: int = 0,
    ) -> None:
        _check_not_bootstrapping()
        self.builder = as_builder(hypermodel)
        self.objectives = Objectives.from_arguments(objective, constraints)
        self.objective = self.objectives.primary
        for name, value, minimum in (
            ("max_trials", max_trials, 1),
            ("max_consecutive_failures", max_consecutive_failures, 1),
            ("keep_checkpoints", keep_checkpoints, 0),
            ("executions_per_trial", executions_per_trial, 1),
            ("lost_trial_retries", lost_trial_retries, 0),
        ):
            check_int("Tuner", name, value, minimum)
        _check_cv(cv, self.objective)
        if seed is not None:
            check_int("Tuner", "seed", seed, 0)
        check_seconds("Tuner", "trial_timeout", trial_timeout, zero_ok=False)
        check_seconds("Tuner", "save_progress_every", save_progress_every, zero_ok=True)
        if not is_number(worker_timeout) or worker_timeout <= 0:
            raise ValueError(
                "Tuner(worker_timeout=...) expects a positive number of seconds. "
                f"Received: {worker_timeout!r}."
            )
        if verbose not in (0, 1, 2):
            raise ValueError(
                f"Tuner(verbose=...) expects 0, 1 or 2. Received: {verbose!r}."
            )
        _check_project_name(project_name)
        self.max_trials = max_trials
        self.seed = seed
        self.algorithm = algorithms.for_objectives(
            algorithms.get(algorithm, seed), self.objectives
        )
        fidelity.check_options(
            self.algorithm,
            cv=cv,
            executions_per_trial=executions_per_trial,
            pruner=pruner,
            objectives=self.objectives,
        )
        self.pruner = _get_pruner(pruner, cv, executions_per_trial)
        self.distribution_strategy = _check_strategy(distribution_strategy)
        self._executor = execution.configure(
            executor,
            n_workers=n_workers,
            devices=devices,
            resources=worker_resources,
            strategy=distribution_strategy,
            worker_timeout=worker_timeout,
            retries=lost_trial_retries,
        )
        self.max_consecutive_failures = max_consecutive_failures
        self.keep_checkpoints = keep_checkpoints
        self.executions_per_trial = executions_per_trial
        self.cv = cv
        self.trial_timeout = trial_timeout
        self.save_progress_every = save_progress_every
        self.verbose = verbose
        self.trial_callbacks = _check_trial_callbacks(trial_callbacks)
        self.project_directory = Path(directory) / project_name
        self._project = Project(
            self.project_directory,
            self.objectives,
            keep_checkpoints=keep_checkpoints,
            overwrite=overwrite,
        )
        self._store = self._project.store

    @property
    def space(self) -> SearchSpace:
        """The search space found so far: the builder's and the tuned fit
        arguments' dimensions, as the project records them."""
        return self._project.space

    # -- closing --------------------------------------------------------------
    def close(self) -> None:
        """Lets go of the project's lock and closes its trial database.

        The project stays as it is on disk; make a new `Tuner` (or `kh.load`) to
        use it again. A Tuner dropped without `close()` lets go when it is
        garbage collected.
        """
        self._project.close()

    def __enter__(self) -> Tuner:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- results --------------------------------------------------------------
    def best_model(self, *, choose: Any = None) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled.

        It is the model saved in the trial's checkpoint
        (`keras.models.load_model`), whatever the builder does now. Only where
        Keras cannot load that file as a model (a custom layer it cannot find) is
        the model rebuilt from the builder with the trial's values and the
        checkpoint's weights loaded into it, with a warning.

        Args:
            choose: a trial id, a `kh.Trial` or a `kh.Best` rule: that trial's
                model instead (see `choose()`). Defaults to `None`.
        """
        trial, checkpoint = self._best_checkpoint(choose)

        def rebuild() -> keras.Model:
            # A context, not build(): the values include tuned fit arguments.
            return self.builder.build_in(BuildContext(self.builder.space, trial.params))

        return checkpoints.load_model(checkpoint, trial.id, rebuild=rebuild)

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
        self._project.hold()
        self._project.enqueue(params)

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the project has `max_trials` of them.

        Takes exactly the arguments of `model.fit`. A marker as the value of a keyword
        argument (`batch_size=kh.Choice([32, 64])`) tunes it, named after the keyword.
        The user's callbacks are copied for each trial.

        Ctrl-C (`KeyboardInterrupt`) and SIGTERM (a batch scheduler's request to
        end) stop the search cleanly: the running trials are recorded as
        interrupted, the workers stopped and the project's lock let go; after
        SIGTERM the process exits with status 143. Calling `search()` again
        resumes, each interrupted trial with the values it started with.
        """
        plan = fit_arguments.plan(
            fit_args,
            fit_kwargs,
            cv=self.cv,
            executions=self.executions_per_trial,
            seed=self.seed,
            objective_name=self.objective.name,
        )
        with self._project.searching(), interrupts.kept():
            runs = self._runs(plan)
            self._project.record_settings(
                {
                    "cv": self.cv,
                    "executions_per_trial": self.executions_per_trial,
                    **plan.scoring_arguments(),
                    **(runs.settings() if runs else {}),
                }
            )
            for dimension in plan.space:
                self._project.add_dimension(dimension, self.algorithm.check_space)
            self._project.tidy(keep_progress=runs.kept if runs else frozenset())
            progress = Progress(self.verbose, self.max_trials)
            self._announce(progress, runs)
            for sentence in per_trial_paths(plan.callbacks):
                progress.print(sentence + ".")
            SearchLoop(
                project=self._project,
                algorithm=self.algorithm,
                executor=self._executor(),
                job=self._job(plan),
                progress=progress,
                max_trials=self.max_trials,
                max_consecutive_failures=self.max_consecutive_failures,
                seed=self.seed,
                callbacks=self.trial_callbacks,
                search=self,
                runs=runs,
            ).run()

    def _runs(self, plan: fit_arguments.FitPlan) -> fidelity.Runs | None:
        """A multi-fidelity algorithm's runs, checked against `search()`'s
        arguments; None for other algorithms."""
        if not isinstance(self.algorithm, algorithms.MultiFidelityAlgorithm):
            return None
        return fidelity.Runs.for_search(
            self.algorithm, plan, self._project, self.max_trials
        )

    def _job(self, plan: fit_arguments.FitPlan) -> Job:
        return Job(
            builder=self.builder,
            plan=plan,
            objective=self.objective,
            key=self.algorithm.key,
            pruner=self.pruner,
            seed=self.seed,
            keep_weights=self.keep_checkpoints > 0 or self.objectives.needs_weights,
            timeout=self.trial_timeout,
            save_every=self.save_progress_every,
            project_directory=str(self.project_directory),
            strategy=self.distribution_strategy,
            objectives=None if self.objectives.simple else self.objectives,
        )

    def _announce(self, progress: Progress, runs: fidelity.Runs | None) -> None:
        done = sum(t.finished for t in self.trials)
        resumed = f", resuming with {done} trials done" if done else ""
        schedule = f" ({fidelity.describe(runs)})" if runs else ""
        progress.print(
            f"Search of {self.max_trials} trials in {self.project_directory}: "
            f"objective{'s' if self.objectives.multi else ''} "
            f"{self.objectives.describe()}, "
            f"{type(self.algorithm).__name__}{schedule}{resumed}."
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


def _check_trial_callbacks(callbacks: Any) -> list[TrialCallback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, TrialCallback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)) or not all(
        isinstance(c, TrialCallback) for c in callbacks
    ):
        raise TypeError(
            "Tuner(trial_callbacks=...) expects a list of kh.TrialCallback instances "
            "(such as kh.integrations.MLflowCallback()); Keras callbacks go to "
            f"search(callbacks=...). Received: {callbacks!r}."
        )
    return list(callbacks)


def _check_cv(cv: Any, objective: Objective) -> None:
    if cv is None:
        return
    check_int("Tuner", "cv", cv, 2)
    if not objective.name.startswith("val_"):
        raise ValueError(
            f"Tuner(cv={cv}) scores each fold on its held-out part, so the "
            "objective must be a validation metric such as 'val_loss'. "
            f"Received: objective={objective.name!r}."
        )


def _check_project_name(project_name: Any) -> None:
    if not isinstance(project_name, str) or not project_name or os.sep in project_name:
        raise ValueError(
            "Tuner(project_name=...) expects a folder name without path "
            f"separators. Received: {project_name!r}."
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


def _get_pruner(pruner: Any, cv: int | None, executions_per_trial: int) -> Any:
    if pruner is None:
        return None
    from keras_hparams import pruners

    checked = pruners.get(pruner)
    if cv or executions_per_trial > 1:
        raise ValueError(
            "A pruner compares one training per trial at each epoch, so it cannot "
            "be combined with cv or executions_per_trial > 1 yet. Received: "
            f"pruner={pruner!r}, cv={cv!r}, "
            f"executions_per_trial={executions_per_trial!r}."
        )
    return checked

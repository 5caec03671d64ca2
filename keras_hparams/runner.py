"""One trial, wherever it runs: this process, a worker process or a Dask worker.

`run_trial(job, task)` builds the trial's model with its values, finds whether those
values repeat a finished trial (conditional dimensions), trains and scores it, and
hands back an `Outcome`. It never opens the trial store: recording is the search
loop's, in the driver. What every trial of a search shares (the builder, the data, the
fit arguments) is the `Job`; each trial brings its `Task`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_hparams import checkpoints, interrupts, measures
from keras_hparams.checkpoints import BestModel, ModelBytes, ModelInMemory
from keras_hparams.errors import BuildError, FailedTrialError, FatalError
from keras_hparams.fit_arguments import FitPlan
from keras_hparams.memory import prepare
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.space import from_config as dimension_from_config
from keras_hparams.training import Training
from keras_hparams.trial import FAILED, INFEASIBLE, Trial
from keras_hparams.tunable import BuildContext

# Called in this process once a trial is built and before it trains, with the trial
# (its values as the build used them) and the dimensions the build met.
OnBuilt = Callable[[Trial, list[Dimension]], None]


@dataclasses.dataclass
class Job:
    """What every trial of one search shares; sent once to each worker."""

    builder: Any
    plan: FitPlan
    objective: Objective
    key: Callable[[SearchSpace, dict[str, Any]], Hashable]
    """The algorithm's key of a set of values: equal keys train the same model."""
    pruner: Any = None
    seed: int | None = None
    keep_weights: bool = True
    timeout: float | None = None
    save_every: float | None = None
    project_directory: str | None = None
    """Where progress files go; None where workers do not share the driver's files."""
    model_bytes: bool = False
    """Whether the best model travels as file bytes (to another process)."""
    strategy: Any = None
    """A `tf.distribute.Strategy` whose scope each trial runs under (this process)."""
    objectives: Objectives | None = None
    """With several objectives or constraints, all of them (`objective` is the
    first); None for a search of one metric."""


@dataclasses.dataclass
class Task:
    """One trial to run: the trial as proposed, and what it compares against."""

    trial: Trial
    rng: np.random.Generator | None
    space: list[dict[str, Any]]
    """The driver's search space, as `SearchSpace.get_config()`."""
    others: list[Trial]
    """Every other trial, finished or running: for pruning and repeats."""
    checkpoint_bar: float | None = None
    """The score a trial must beat to keep a checkpoint (that of the last of the
    best `keep_checkpoints` trials), or None while fewer have completed."""
    epochs: int | None = None
    """A multi-fidelity run's budget: the epochs to train the trial to, in all,
    continuing from its saved progress; None: the fit arguments' `epochs`."""
    keep_progress: bool = False
    """Whether to save the trial's state at the run's end, for a later promotion."""
    progress: dict[str, bytes] | None = None
    """The trial's saved progress files, for a worker that does not share the
    project's files (Dask)."""


@dataclasses.dataclass
class Outcome:
    """What running a `Task` produced: the trial with its values, status, score,
    history and times filled in."""

    trial: Trial
    dimensions: list[dict[str, Any]]
    """The configs of the dimensions the build used."""
    repeat_of: Trial | None = None
    """A finished trial these values repeat; nothing was trained."""
    best_model: BestModel | None = None
    fatal: FatalError | None = None
    """An error that ends the search (an objective the model never reports...)."""
    progress: dict[str, bytes] | None = None
    """The trial's saved progress files at the run's end (`Task.keep_progress`),
    from a worker that does not share the project's files."""


def run_trial(job: Job, task: Task, on_built: OnBuilt | None = None) -> Outcome:
    """Builds, trains and scores one trial; a failure becomes a failed Outcome.

    Args:
        job: what the search's trials share.
        task: this trial. Its `trial` is filled in as the trial runs: a trial
            interrupted in this process keeps its values and epochs so far.
        on_built: None, or called after the build, before any training (this
            process only: the search loop records the values there).
    """
    project = Path(job.project_directory) if job.project_directory else None
    if project is not None or not (task.progress or task.keep_progress):
        return _run(job, task, on_built, project)
    # A worker without the project's files (Dask): the trial's saved progress
    # comes with its Task and goes back with its Outcome.
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        checkpoints.write_progress_files(here, task.trial.id, task.progress or {})
        outcome = _run(job, task, on_built, here)
        if task.keep_progress and outcome.trial.status != FAILED:
            outcome.progress = checkpoints.progress_files(here, task.trial.id)
        return outcome


def _run(
    job: Job, task: Task, on_built: OnBuilt | None, project: Path | None
) -> Outcome:
    trial = task.trial
    trial.started = time.time()
    prepare(job.seed, trial.id)
    proposed = dict(trial.params)
    context = BuildContext(job.builder.space, proposed, task.rng)
    try:
        with context.activate(), _scope(job.strategy):
            model = check_model(job.builder.build_in(context))
            trial.params = used_params(context, job.plan.space, proposed, task.rng)
            dimensions = _dimensions(context, job)
            repeat = _repeat_of(job, task, dimensions, trial.params)
            if repeat is not None:
                return Outcome(trial, dimensions, repeat_of=repeat)
            if on_built is not None:
                on_built(trial, [dimension_from_config(c) for c in dimensions])
            measured = _before_training(job, trial, model)
            if trial.status == INFEASIBLE:  # a constraint broken: not trained
                trial.ended = time.time()
                return Outcome(trial, dimensions)
            best = _training(job, task, project).run(
                trial,
                model,
                lambda: check_model(job.builder.build_in(context)),
                job.plan,
                project or Path(tempfile.gettempdir()),
            )
            _after_training(job, trial, best if best is not None else model, measured)
    except Exception as error:  # noqa: BLE001 - recorded on the trial
        interrupts.converted(error)
        trial.params = {**proposed, **trial.params, **context.active}
        trial.status, trial.error = FAILED, error_message(error)
        trial.ended = time.time()
        fatal = error if isinstance(error, FatalError) else None
        return Outcome(trial, _dimensions(context, job), fatal=fatal)
    trial.ended = time.time()
    try:
        kept = _best_model(job, task, trial, best)
    except Exception as error:  # noqa: BLE001 - the score stands without a file
        kept = None
        trial.extra[checkpoints.NO_FILE] = (
            f"its model could not be saved: {error_message(error)}"
        )[:2000]
    return Outcome(trial, dimensions, best_model=kept)


def _before_training(job: Job, trial: Trial, model: keras.Model) -> dict:
    if job.objectives is None:
        return {}
    return measures.before_training(job.objectives, trial, model)


def _after_training(
    job: Job, trial: Trial, model: keras.Model, measured: dict[str, float]
) -> None:
    if job.objectives is None:
        return
    measures.after_training(job.objectives, trial, model, measured)
    measures.log_to_tensorboard(job.plan.callbacks, trial, job.objective.name)


def _training(job: Job, task: Task, project: Path | None) -> Training:
    """How to train `task`'s trial, once its build has told its values."""
    epochs = task.trial.params.get("epochs", job.plan.kwargs.get("epochs", 1))
    return Training(
        job.objective,
        keep_weights=job.keep_weights,
        timeout=job.timeout,
        prune=pruning(job.pruner, job.objective, task.others, epochs),
        # Periodic saves only where they outlive the worker (the project's files).
        save_every=job.save_every if job.project_directory else None,
        resume=checkpoints.load_progress(project, task.trial.id) if project else None,
        fit=getattr(job.builder, "fit_model", None),
        space=SearchSpace.from_config(task.space),
        required=job.objectives.metrics() if job.objectives else (),
        epochs=task.epochs,
        save_at_end=task.keep_progress,
    )


def _best_model(
    job: Job, task: Task, trial: Trial, model: keras.Model | None
) -> BestModel | None:
    """The trial's best model, if it may be kept: as bytes for another process."""
    if model is None or task.keep_progress:  # a run below the top budget
        return None
    if task.checkpoint_bar is not None and not job.objective.better(
        trial.score, task.checkpoint_bar
    ):
        return None
    return ModelBytes.of(model) if job.model_bytes else ModelInMemory(model)


def _scope(strategy: Any) -> Any:
    return contextlib.nullcontext() if strategy is None else strategy.scope()


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
    """`model`, or a `BuildError`: a builder that returns no compiled model does so
    in every trial, so the search stops at the first."""
    if not isinstance(model, keras.Model):
        raise BuildError(
            f"The builder returned {type(model).__name__}, not a keras.Model: "
            "return the model at the end of the function that builds it."
        )
    if not model.compiled:
        raise BuildError(
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
    """The training's `prune(values)` for a trial of `epochs` epochs, or None."""
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
    job: Job, task: Task, dimensions: list[dict[str, Any]], params: dict[str, Any]
) -> Trial | None:
    """A finished trial with the same key as `params` (conditional dimensions)."""
    space = SearchSpace.from_config(task.space)
    for config in dimensions:
        with contextlib.suppress(ValueError):  # a conflict is the driver's to report
            space.add(dimension_from_config(config))
    key = job.key(space, params)
    for other in task.others:
        if other.finished and job.key(space, other.params) == key:
            return other
    return None


def build_defaults(builder: Any) -> list[Dimension] | None:
    """The dimensions a build with every default meets, or None if that build
    fails (the first trial reports the error)."""
    context = BuildContext(builder.space, {})
    try:
        with context.activate():
            builder.build_in(context)
    except Exception:  # noqa: BLE001 - the first trial reports it
        return None
    finally:
        keras.backend.clear_session(free_memory=False)
    return [builder.space[name] for name in context.active]

"""A project folder and its records: the trial store, the lock, what a resume must keep,
the queue, and which checkpoints stay.

The search loop and the `Tuner` change a project only through this module; it knows
nothing about Keras.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keras_hparams import checkpoints
from keras_hparams.checkpoints import BestModel
from keras_hparams.errors import SearchSpaceMismatchError, UnsupportedSpaceError
from keras_hparams.objective import Objective
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.storage import DATABASE_NAME, LOCK_NAME, Meta, TrialStore, take_lock
from keras_hparams.trial import COMPLETED, FAILED, RUNNING, Trial

# What keras-hparams writes in a project directory; overwrite=True deletes only these.
OWN_FILES = {
    DATABASE_NAME,
    DATABASE_NAME + "-wal",
    DATABASE_NAME + "-shm",
    LOCK_NAME,
    checkpoints.TRIALS_FOLDER,
}


class Project:
    """The folder of one search and everything recorded in it.

    Args:
        directory: path of the project folder (created if missing).
        objective: the search's `Objective`; a project that completed trials with
            another one is refused.
        keep_checkpoints: int, how many of the best trials keep their model file.
        overwrite: bool, deletes what keras-hparams wrote in `directory` first.

    Example:

    ```python
    project = Project(Path("hparams/digits"), kh.Objective("val_loss", "min"),
                      keep_checkpoints=3)
    project.ranked()[0]   # the best trial so far
    ```
    """

    def __init__(
        self,
        directory: Path,
        objective: Objective,
        *,
        keep_checkpoints: int = 3,
        overwrite: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.objective = objective
        self.keep_checkpoints = keep_checkpoints
        if overwrite:
            delete_own_files(self.directory)
        self.store = TrialStore(self.directory)
        self.check_objective()  # stored by record_settings(), under the lock
        self.space = SearchSpace.from_config(self.store.get_meta(Meta.SPACE) or [])

    # -- reading ----------------------------------------------------------------
    def trials(self) -> list[Trial]:
        """Every trial, by id, as stored now."""
        return self.store.trials()

    def ranked(self, trials: list[Trial] | None = None) -> list[Trial]:
        """Completed trials, best first (the earliest among equal scores)."""
        return self.objective.ranked(self.trials() if trials is None else trials)

    def best(self) -> Trial | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    @contextlib.contextmanager
    def locked(self) -> Iterator[Project]:
        """Holds the project's lock: `SearchLockedError` if another process has it."""
        with self.store.locked():
            yield self

    # -- what a resume must keep --------------------------------------------------
    def check_objective(self) -> None:
        """Refuses an objective other than the one the completed trials were scored
        with."""
        stored = self.store.get_meta(Meta.OBJECTIVE)
        if stored is None or stored == self.objective.get_config():
            return
        if any(t.status == COMPLETED for t in self.trials()):
            raise SearchSpaceMismatchError(
                f"The project {self.directory} was searched with objective "
                f"{Objective.from_config(stored)!r}, not {self.objective!r}. Pass "
                "overwrite=True to start again, or use a new project_name."
            )

    def record_settings(self, scoring: dict[str, Any]) -> None:
        """Stores the objective and the settings that give a score its meaning
        (epochs, folds, executions...), refusing ones that would make scores
        incomparable with those of the completed trials."""
        self.check_objective()
        self.store.set_meta(Meta.OBJECTIVE, self.objective.get_config())
        stored = self.store.get_meta(Meta.SCORING)
        if stored is not None and any(t.status == COMPLETED for t in self.trials()):
            changed = sorted(
                name
                for name in set(stored) | set(scoring)
                if stored.get(name) != scoring.get(name)
            )
            if changed:
                was = ", ".join(f"{n}={stored.get(n)!r}" for n in changed)
                now = ", ".join(f"{n}={scoring.get(n)!r}" for n in changed)
                raise SearchSpaceMismatchError(
                    f"The project {self.directory} scored its trials with "
                    f"{was}; this search has {now}, so the scores would not compare. "
                    "Use the same settings to resume, or pass overwrite=True to start "
                    "again, or use a new project_name."
                )
        self.store.set_meta(Meta.SCORING, scoring)

    def add_dimension(
        self, dimension: Dimension, check_space: Callable[[SearchSpace], None]
    ) -> None:
        """Adds a dimension found by a build or the fit arguments to the space.

        Raises:
            SearchSpaceMismatchError: the project knows the name with another
                definition.
            UnsupportedSpaceError: `check_space` (the algorithm's) refuses the space.
        """
        try:
            new = self.space.add(dimension)
        except ValueError:
            raise SearchSpaceMismatchError(
                f"The project {self.directory} was searched with "
                f"{self.space[dimension.name]!r}; this code defines {dimension!r}. "
                "Pass overwrite=True to start again, or use a new project_name."
            ) from None
        if not new:
            return
        try:
            check_space(self.space)
        except ValueError as error:
            self.space = SearchSpace([d for d in self.space if d != dimension])
            raise UnsupportedSpaceError(str(error)) from None
        self.store.set_meta(Meta.SPACE, self.space.get_config())

    # -- the queue of enqueued values ---------------------------------------------
    def queue(self) -> list[dict[str, Any]]:
        return self.store.get_meta(Meta.QUEUE) or []

    def enqueue(self, params: dict[str, Any]) -> None:
        self.store.set_meta(Meta.QUEUE, self.queue() + [dict(params)])

    # -- trial records ------------------------------------------------------------
    def next_id(self) -> int:
        return self.store.next_id()

    def start(self, trial: Trial, *, keep_history: bool = False) -> None:
        """Writes the trial's row as running, before its build: a kill from here on
        reruns this trial. An enqueued one leaves the queue once its row exists (a
        kill between the two writes runs it twice at worst, and the repeat is found
        after the build, before any training).

        With `keep_history` (a multi-fidelity run, which continues the trial from
        its saved state), the epochs trained so far stay in the row.
        """
        enqueued = trial.extra.get("enqueued", False)
        trial.started, trial.status, trial.error = time.time(), RUNNING, None
        if not keep_history:
            trial.history = []
        trial.extra = {k: v for k, v in trial.extra.items() if k != "enqueued"}
        self.store.write(trial)
        if enqueued:
            self.store.set_meta(Meta.QUEUE, self.queue()[1:])

    def write(self, trial: Trial) -> None:
        self.store.write(trial)

    def finish(
        self, trial: Trial, best_model: BestModel | None, *, keep_progress: bool = False
    ) -> None:
        """Records an ended trial; its model file is written only if the trial ranks
        among the best `keep_checkpoints`. Its saved progress is deleted, unless
        `keep_progress` (a multi-fidelity search may continue it).
        """
        trial.ended = trial.ended or time.time()
        if best_model is not None and self._keeps_checkpoint(trial):
            best_model.write(self.directory, trial.id)
        # The row is written after the checkpoint: a completed row implies its file.
        self.store.write(trial)
        if not keep_progress:
            checkpoints.clear_progress(self.directory, trial.id)
        self._keep_best_checkpoints()

    def release_progress(self, trial_id: int) -> None:
        """Deletes the saved progress of a stopped trial that will not continue."""
        checkpoints.clear_progress(self.directory, trial_id)

    def end(self, trial: Trial, status: str, error: str) -> None:
        """Records a trial that ended without a result (failed or interrupted)."""
        trial.status, trial.error, trial.ended = status, error, time.time()
        self.store.write(trial)
        if status == FAILED:
            checkpoints.clear_progress(self.directory, trial.id)

    def delete(self, trial_id: int) -> None:
        """Removes a trial's row (it repeats a finished trial, or its build found a
        space the project refuses before any training)."""
        self.store.delete(trial_id)

    # -- checkpoints ------------------------------------------------------------
    def checkpoint_bar(self, trials: list[Trial]) -> float | None:
        """The score a trial must beat to keep a model file (that of the last of
        the best `keep_checkpoints`), or None while fewer have completed."""
        ranked = self.ranked(trials)
        if self.keep_checkpoints and len(ranked) >= self.keep_checkpoints:
            return ranked[self.keep_checkpoints - 1].score
        return None

    def tidy(self, keep_progress: set[int] | frozenset[int] = frozenset()) -> None:
        """Deletes what a killed process may have left: progress files of finished
        trials (but those in `keep_progress`, which may continue), checkpoints
        beyond `keep_checkpoints`."""
        for trial in self.trials():
            if trial.finished and trial.id not in keep_progress:
                checkpoints.clear_progress(self.directory, trial.id)
        self._keep_best_checkpoints()

    def _keeps_checkpoint(self, trial: Trial) -> bool:
        others = [t for t in self.trials() if t.id != trial.id]
        return trial in self.ranked(others + [trial])[: self.keep_checkpoints]

    def _keep_best_checkpoints(self) -> None:
        kept = {t.id for t in self.ranked()[: self.keep_checkpoints]}
        checkpoints.keep_only(self.directory, kept)


def delete_own_files(directory: Path) -> None:
    """Deletes what keras-hparams wrote in `directory`; refuses a folder with more,
    and one that another process is searching."""
    if not directory.exists():
        return
    trials = directory / checkpoints.TRIALS_FOLDER
    others = sorted(p.name for p in directory.iterdir() if p.name not in OWN_FILES)
    others += sorted(
        p.relative_to(directory).as_posix()
        for p in trials.rglob("*")
        if not checkpoints.is_trial_file(p.relative_to(trials))
    )
    if others:
        raise ValueError(
            f"Tuner(overwrite=True) deletes only what keras-hparams wrote, and "
            f"{directory} also holds {others}. Move them, or choose another "
            "directory or project_name."
        )
    with take_lock(directory):  # not while another process searches there
        for entry in directory.iterdir():
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

"""A project folder and its records: the trial store, the lock, what a resume must keep,
the queue, and which checkpoints stay.

The search loop and the `Tuner` change a project only through this module; it knows
nothing about Keras.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keras_hparams import checkpoints
from keras_hparams.checkpoints import BestModel
from keras_hparams.errors import SearchSpaceMismatchError, UnsupportedSpaceError
from keras_hparams.locking import LOCK_NAME, ProjectLock
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.storage import DATABASE_NAME, PARTIAL_NAME, Meta, TrialStore
from keras_hparams.trial import COMPLETED, FAILED, INFEASIBLE, RUNNING, Trial

# What keras-hparams writes in a project directory; overwrite=True deletes only these.
OWN_FILES = {
    name + suffix
    for name in (DATABASE_NAME, PARTIAL_NAME)
    for suffix in ("", "-wal", "-shm")
} | {LOCK_NAME, checkpoints.TRIALS_FOLDER}
# The stores of this process open read-write, by folder: overwrite=True closes them.
_OPEN_STORES: dict[str, weakref.WeakSet[TrialStore]] = {}


# The key in a started trial's `extra` that says how its build fills the values
# its proposal does not name (see `Project.start`).
DRAW = "draw"


class Project:
    """The folder of one search and everything recorded in it.

    Opening it takes the folder's lock (`locking.ProjectLock`), held until
    `release()` (the end of a search) or `close()`: another process cannot delete
    or change it meanwhile.

    Args:
        directory: path of the project folder (created if missing).
        objective: the search's `Objective`, or its `Objectives` (several, or
            constraints); a project that completed trials with others is refused.
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
        objective: Objective | Objectives,
        *,
        keep_checkpoints: int = 3,
        overwrite: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.objectives = Objectives.of(objective)
        self.objective = self.objectives.primary
        self.keep_checkpoints = keep_checkpoints
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lock = ProjectLock(self.directory)
        self.lock.acquire()
        try:
            if overwrite:
                self.lock.check_not_searching()
                delete_own_files(self.directory)
            self.store = TrialStore(self.directory)
        except BaseException:
            self.lock.release()
            raise
        # Dropped without close() (a notebook cell run again), or still open when
        # the interpreter exits, a project lets go of its lock and closes its store.
        weakref.finalize(self, _let_go, self.lock, self.store)
        _OPEN_STORES.setdefault(self.lock.key, weakref.WeakSet()).add(self.store)
        try:
            self.check_objective()  # stored by record_settings(), under the lock
            self.space = SearchSpace.from_config(self.store.get_meta(Meta.SPACE) or [])
        except BaseException:
            self.close()
            raise

    # -- reading ----------------------------------------------------------------
    def trials(self) -> list[Trial]:
        """Every trial, by id, as stored now."""
        return self.store.trials()

    def ranked(self, trials: list[Trial] | None = None) -> list[Trial]:
        """Completed trials, best first (the earliest among equal scores; with
        several objectives, the Pareto front first)."""
        return self.objectives.ranked(self.trials() if trials is None else trials)

    def best(self) -> Trial | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    @contextlib.contextmanager
    def searching(self) -> Iterator[Project]:
        """Holds the project's lock while a search runs, taking it again if it was
        let go (`SearchLockedError` if another process has it since); lets go
        when the search ends."""
        self.store._connection  # noqa: B018 - a closed project says so here
        with self.lock.searching():
            yield self

    def hold(self) -> None:
        """Takes the lock again, until the next search ends or `close()`."""
        self.lock.acquire()

    def close(self) -> None:
        """Lets go of the lock and closes the store (checkpointing it)."""
        _let_go(self.lock, self.store)

    # -- what a resume must keep --------------------------------------------------
    def check_objective(self) -> None:
        """Refuses an objective other than the one the completed trials were scored
        with."""
        stored = self.store.get_meta(Meta.OBJECTIVE)
        if stored is None:
            return
        if stored != self.objective.get_config() and any(
            t.status == COMPLETED for t in self.trials()
        ):
            raise SearchSpaceMismatchError(
                f"The project {self.directory} was searched with objective "
                f"{Objective.from_config(stored)!r}, not {self.objective!r}. Pass "
                "overwrite=True to start again, or use a new project_name."
            )
        self._check_objectives(stored)

    def _check_objectives(self, primary: dict[str, Any]) -> None:
        """Refuses other objectives or constraints than the scored trials had."""
        stored = self.store.get_meta(Meta.OBJECTIVES) or {
            "objectives": [primary],
            "constraints": [],
        }
        if stored == self.objectives.get_config():
            return
        if any(t.status in (COMPLETED, INFEASIBLE) for t in self.trials()):
            raise SearchSpaceMismatchError(
                f"The project {self.directory} was searched with objectives "
                f"{Objectives.from_config(stored).describe()}; this search has "
                f"{self.objectives.describe()}. Pass overwrite=True to start "
                "again, or use a new project_name."
            )

    def record_settings(self, scoring: dict[str, Any]) -> None:
        """Stores the objective and the settings that give a score its meaning
        (epochs, folds, executions...), refusing ones that would make scores
        incomparable with those of the completed trials."""
        self.check_objective()
        self.store.set_meta(Meta.OBJECTIVE, self.objective.get_config())
        # A search of one metric stores what it always did.
        if not self.objectives.simple or self.store.get_meta(Meta.OBJECTIVES):
            self.store.set_meta(Meta.OBJECTIVES, self.objectives.get_config())
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

    def record_markers(self, names: set[str]) -> None:
        """Stores the names a build with every default meets (and the tuned fit
        arguments), unless the project knows them already."""
        if self.store.get_meta(Meta.MARKERS) is None:
            self.store.set_meta(Meta.MARKERS, sorted(names))

    def check_markers(self, names: set[str]) -> None:
        """Refuses code whose build with every default meets other dimensions than
        the code that scored the finished trials: markers added, removed or
        renamed. Their scores would be credited with values they never used."""
        stored = self.store.get_meta(Meta.MARKERS)
        if stored is not None and set(stored) != names:
            if any(t.finished for t in self.trials()):
                added, gone = sorted(names - set(stored)), sorted(set(stored) - names)
                raise SearchSpaceMismatchError(
                    f"The project {self.directory} was searched with code whose "
                    f"build with every default used {stored}; this code's uses "
                    f"{sorted(names)} (new: {added}, gone: {gone}). The finished "
                    "trials never used the new ones, so their scores would be "
                    "credited with values they did not have. Run the code the search "
                    "was made with, or pass overwrite=True to start again, or use a "
                    "new project_name."
                )
            self.store.set_meta(Meta.MARKERS, sorted(names))
        self.record_markers(names)

    # -- the queue of enqueued values ---------------------------------------------
    def queue(self) -> list[dict[str, Any]]:
        return self.store.get_meta(Meta.QUEUE) or []

    def enqueue(self, params: dict[str, Any]) -> None:
        self.store.set_meta(Meta.QUEUE, self.queue() + [dict(params)])

    # -- trial records ------------------------------------------------------------
    def next_id(self) -> int:
        return self.store.next_id()

    def start(self, trial: Trial, draw: Any = None, *, continues: bool = False) -> None:
        """Writes the trial's row as running, before its build: a kill from here on
        reruns this trial. An enqueued one leaves the queue once its row exists (a
        kill between the two writes runs it twice at worst, and the repeat is found
        after the build, before any training).

        Args:
            trial: the trial, with the values it was proposed.
            draw: how the values its build finds that `trial.params` does not name
                are chosen: None, their defaults (those a build with every default
                meets, when known, are written in its row now); else the seed of
                the generator that draws them, stored so that a resumed trial
                draws the same.
            continues: a multi-fidelity run, which continues the trial from its
                saved state: the epochs trained so far and the run's details in
                `trial.extra` stay in the row.
        """
        enqueued = trial.extra.get("enqueued", False)
        if draw is None:  # the defaults fill in: those a build with them meets
            trial.params = {**self._marker_defaults(), **trial.params}
        trial.started, trial.status, trial.error = time.time(), RUNNING, None
        if continues:
            kept = {k: v for k, v in trial.extra.items() if k != "enqueued"}
            trial.extra = {**kept, DRAW: draw}
        else:
            trial.history, trial.extra = [], {DRAW: draw}
        self.store.write(trial)
        if enqueued:
            self.store.set_meta(Meta.QUEUE, self.queue()[1:])

    def write(self, trial: Trial) -> None:
        self.store.write(trial)

    def _marker_defaults(self) -> dict[str, Any]:
        names = self.store.get_meta(Meta.MARKERS) or []
        return {n: self.space[n].default for n in names if n in self.space}

    def finish(
        self, trial: Trial, best_model: BestModel | None, *, keep_progress: bool = False
    ) -> None:
        """Records an ended trial; its model file is written only if the trial ranks
        among the best `keep_checkpoints`. Its saved progress is deleted, unless
        `keep_progress` (a multi-fidelity search may continue it).
        """
        trial.ended = trial.ended or time.time()
        if best_model is not None and self._keeps_checkpoint(trial):
            try:
                best_model.write(self.directory, trial.id)
            except Exception as error:  # noqa: BLE001 - the score stands without it
                trial.extra[checkpoints.NO_FILE] = (
                    f"its model file could not be written: {type(error).__name__}: "
                    f"{error}"
                )[:2000]
        # The row is written after the checkpoint: a completed row implies its file
        # (or says why there is none).
        self.store.write(trial)
        if not keep_progress:
            checkpoints.clear_progress(self.directory, trial.id)
        self._keep_best_checkpoints()
        self.store.checkpoint()

    def release_progress(self, trial_id: int) -> None:
        """Deletes the saved progress of a stopped trial that will not continue."""
        checkpoints.clear_progress(self.directory, trial_id)

    def end(self, trial: Trial, status: str, error: str) -> None:
        """Records a trial that ended without a result (failed or interrupted)."""
        trial.status, trial.error, trial.ended = status, error, time.time()
        self.store.write(trial)
        if status == FAILED:
            checkpoints.clear_progress(self.directory, trial.id)
        self.store.checkpoint()

    def delete(self, trial_id: int) -> None:
        """Removes a trial's row (it repeats a finished trial, or its build found a
        space the project refuses before any training)."""
        self.store.delete(trial_id)

    # -- checkpoints ------------------------------------------------------------
    def checkpoint_bar(self, trials: list[Trial]) -> float | None:
        """The score a trial must beat to keep a model file (that of the last of
        the best `keep_checkpoints`), or None while fewer have completed."""
        if self.objectives.multi:  # a trial that joins the front keeps its file
            return None
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
        return trial.id in self.objectives.kept(others + [trial], self.keep_checkpoints)

    def _keep_best_checkpoints(self) -> None:
        kept = self.objectives.kept(self.trials(), self.keep_checkpoints)
        checkpoints.keep_only(self.directory, kept)


def _let_go(lock: ProjectLock, store: TrialStore) -> None:
    lock.release()
    store.close()


def delete_own_files(directory: Path) -> None:
    """Deletes what keras-hparams wrote in `directory` (whose lock this process
    holds); refuses a folder with more. This process's other stores on it are
    closed first: their files are gone."""
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
    key = ProjectLock(directory).key
    for store in list(_OPEN_STORES.pop(key, ())):
        store.close("was deleted by Tuner(overwrite=True): make a new Tuner")
    for entry in directory.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()

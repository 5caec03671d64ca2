"""The search loop's side of a multi-fidelity algorithm (`algorithm="hyperband"`).

The algorithm (`algorithms/hyperband.py`) decides; this module turns its decisions
into runs and records them:

- a run's budget (`Start.epochs`, `Promote.epochs`) is stored in the trial's
  `extra["budget"]` when the run starts, and travels in its `Task`, so a run killed
  midway resumes to the same budget;
- a promoted trial keeps its id and row: it goes back to `"running"`, continues from
  its saved progress (model with optimizer, history, best epoch and weights) with
  `initial_epoch` set, and its history grows;
- a run that ends below `max_epochs` saves its progress and is recorded `"pruned"`,
  its score appended to `extra["budget_scores"]`; only trials trained to `max_epochs`
  are `"completed"`, so the best trial and `best_model()` are trained at the top.

**Disk.** A stopped trial keeps its saved progress while the algorithm may still
promote it (`may_continue`): a `.keras` file of its model with the optimizer's
state, and its best weights, so two (SGD) to four (Adam) times the size of its
weights. At most the trials of the rungs still promoting hold it: up to a bracket's
configurations while its first rung runs (27 with `max_epochs=27`, `factor=3`;
more when several workers start brackets side by side). It is deleted as soon as
the trial's rung has promoted its quota, and a stopped trial that will not
continue holds nothing. Runs below `max_epochs` save their state once at their end
whatever `save_progress_every` says; the periodic saves follow it as usual.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from keras_hparams import checkpoints
from keras_hparams.algorithms.hyperband import (
    BUDGET,
    BUDGET_SCORES,
    Decision,
    MultiFidelityAlgorithm,
    Promote,
    Start,
)
from keras_hparams.errors import SearchSpaceMismatchError
from keras_hparams.fit_arguments import FitPlan
from keras_hparams.project import Project
from keras_hparams.runner import Outcome
from keras_hparams.storage import Meta
from keras_hparams.trial import COMPLETED, PRUNED, Trial

SETTINGS_KEY = "multi_fidelity"
"""The key of the algorithm's schedule among the project's scoring settings."""


def check_options(
    algorithm: Any,
    *,
    cv: int | None,
    executions_per_trial: int,
    pruner: Any,
    objectives: Any = None,
) -> None:
    """Refuses `Tuner` options a multi-fidelity algorithm cannot honour."""
    if not isinstance(algorithm, MultiFidelityAlgorithm):
        return
    name = type(algorithm).__name__
    continues = (
        f"Tuner(algorithm={name}) continues each trial's one model from its saved "
        "state, so it"
    )
    if cv is not None:
        raise ValueError(
            f"{continues} cannot score a trial by cross-validation (one model per "
            f"fold). Received: cv={cv}; use cv=None with validation_split or "
            "validation_data."
        )
    if executions_per_trial != 1:
        raise ValueError(
            f"{continues} cannot train several models per trial. Received: "
            f"executions_per_trial={executions_per_trial}; use 1."
        )
    if pruner is not None:
        raise ValueError(
            f"Tuner(algorithm={name}) stops trials at its rungs itself, so it "
            f"takes no pruner. Received: pruner={pruner!r}; use pruner=None."
        )
    if objectives is not None and not objectives.simple:
        raise ValueError(
            f"Tuner(algorithm={name}) ranks the runs at each rung by one score, so "
            f"it takes one objective and no constraints. Received: "
            f'{objectives.describe()}. Use algorithm="bayesian" for several '
            "objectives or constraints."
        )


@dataclasses.dataclass
class Runs:
    """The runs of a multi-fidelity search: its algorithm, with what it needs.

    Attributes:
        algorithm: the `MultiFidelityAlgorithm`.
        max_epochs: int, the epochs of the longest run.
        max_trials: int, the configurations the search may start.
        direction: str, `"min"` or `"max"`.
        exhausted: bool, set once no new values remain: the last bracket is cut to
            the configurations it has.
        kept: the ids of stopped trials whose saved progress is on disk.
    """

    algorithm: MultiFidelityAlgorithm
    max_epochs: int
    max_trials: int
    direction: str
    exhausted: bool = False
    kept: set[int] = dataclasses.field(default_factory=set)

    @classmethod
    def for_search(
        cls,
        algorithm: MultiFidelityAlgorithm,
        plan: FitPlan,
        project: Project,
        max_trials: int,
    ) -> Runs:
        """Checks `search()`'s arguments against the algorithm, before training."""
        name = type(algorithm).__name__
        if "epochs" in plan.space.names:
            raise ValueError(
                f"Tuner(algorithm={name}) sets the epochs of each run itself, so "
                "search(epochs=...) must be a fixed integer (the longest run). "
                f"Received: epochs={plan.space['epochs']!r}."
            )
        if plan.kwargs.get("initial_epoch", 0):
            raise ValueError(
                f"Tuner(algorithm={name}) starts each new trial at epoch 0. "
                f"Received: initial_epoch={plan.kwargs['initial_epoch']!r}; leave "
                "it out."
            )
        max_epochs = algorithm.epochs_for(plan.kwargs.get("epochs"))
        runs = cls(algorithm, max_epochs, max_trials, project.objective.direction)
        runs.settings()  # checks the schedule (min_epochs <= max_epochs...)
        runs._check_resume(project)
        runs.kept = runs.waiting(project.trials())
        return runs

    def settings(self) -> dict[str, Any]:
        """The project's scoring settings this search adds."""
        return {SETTINGS_KEY: self.algorithm.get_settings(self.max_epochs)}

    def _check_resume(self, project: Project) -> None:
        """A project whose trials ran another schedule would mix up its rungs."""
        stored = (project.store.get_meta(Meta.SCORING) or {}).get(SETTINGS_KEY)
        ran = any(BUDGET in t.extra for t in project.trials())
        if ran and stored != self.settings()[SETTINGS_KEY]:
            raise SearchSpaceMismatchError(
                f"The project {project.directory} ran its trials with the schedule "
                f"{stored}; this search has {self.settings()[SETTINGS_KEY]}. Use "
                "the same settings to resume, or pass overwrite=True to start "
                "again, or use a new project_name."
            )

    # -- deciding -------------------------------------------------------------
    def decide(self, trials: list[Trial]) -> Decision:
        # Once no new values remain, the configurations there are are all.
        limit = len(trials) if self.exhausted else self.max_trials
        return self.algorithm.decide(
            trials,
            max_trials=limit,
            max_epochs=self.max_epochs,
            direction=self.direction,
        )

    def waiting(self, trials: list[Trial]) -> set[int]:
        limit = len(trials) if self.exhausted else self.max_trials
        return self.algorithm.may_continue(
            trials,
            max_trials=limit,
            max_epochs=self.max_epochs,
            direction=self.direction,
        )

    @staticmethod
    def new_extra(decision: Start) -> dict[str, Any]:
        """The `extra` of a new configuration's trial: its first run's budget."""
        return {**decision.extra, BUDGET: decision.epochs}

    @staticmethod
    def promoted(trial: Trial, decision: Promote) -> Trial:
        """The trial, its next run's budget in `extra`."""
        trial.extra = {**trial.extra, **decision.extra, BUDGET: decision.epochs}
        return trial

    # -- running and recording --------------------------------------------------
    def task_fields(
        self, trial: Trial, project: Path, shares_files: bool
    ) -> dict[str, Any]:
        """The `Task` fields of a run: its budget, whether to keep its state, and
        (to workers without the project's files) its saved progress."""
        budget = int(trial.extra.get(BUDGET, self.max_epochs))
        progress = (
            None if shares_files else checkpoints.progress_files(project, trial.id)
        )
        return {
            "epochs": budget,
            "keep_progress": budget < self.max_epochs,
            "progress": progress or None,
        }

    def record(self, outcome: Outcome, project: Path) -> bool:
        """Fills in an ended run's status and budget scores; True if its saved
        progress must stay (it may be promoted)."""
        trial = outcome.trial
        if outcome.progress:
            checkpoints.write_progress_files(project, trial.id, outcome.progress)
        budget = int(trial.extra.get(BUDGET, self.max_epochs))
        if trial.status != COMPLETED:
            return False
        scores = [s for s in trial.extra.get(BUDGET_SCORES, []) if s[0] != budget]
        trial.extra[BUDGET_SCORES] = [*scores, [budget, trial.score]]
        if budget < self.max_epochs:
            trial.status = PRUNED
            self.kept.add(trial.id)
        return trial.status == PRUNED

    def release(self, project: Project) -> None:
        """Deletes the saved progress of stopped trials that will not continue."""
        trials = project.trials()
        waiting = self.waiting(trials)
        for trial in trials:
            if trial.id in self.kept and trial.finished and trial.id not in waiting:
                project.release_progress(trial.id)
        self.kept = {t.id for t in trials if t.id in waiting}


def describe(runs: Runs) -> str:
    """The schedule, for the search's first line."""
    rungs = getattr(runs.algorithm, "schedule", None)
    if rungs is None:
        return f"runs of up to {runs.max_epochs} epochs"
    epochs = ", ".join(str(e) for e in rungs(runs.max_epochs).rungs)
    return f"rungs of {epochs} epochs"

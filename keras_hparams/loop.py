"""The search loop: one loop for every executor.

While the executor has an idle slot, the loop picks the next trial (an interrupted
one, an enqueued one, the defaults, or the algorithm's proposal), records it as
running and submits it; then it waits for outcomes and records each: values, status,
score, history, the model file if the trial ranks among the best. Repeats of a
finished trial (conditional dimensions), failure streaks, fatal errors and progress
lines are handled here once, wherever the trials run.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
from collections import Counter
from typing import Any

import numpy as np

from keras_hparams import interrupts
from keras_hparams.algorithms.hyperband import Idle, Promote
from keras_hparams.errors import (
    NoCompletedTrialError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
    UnsupportedSpaceError,
)
from keras_hparams.execution import Executor
from keras_hparams.interrupts import Terminated
from keras_hparams.multi_fidelity import Runs
from keras_hparams.progress import Progress, first_line, format_params, format_value
from keras_hparams.project import DRAW, Project
from keras_hparams.runner import Job, Outcome, Task, build_defaults, error_message
from keras_hparams.space import Dimension
from keras_hparams.space import from_config as dimension_from_config
from keras_hparams.trial import (
    FAILED,
    INFEASIBLE,
    INTERRUPTED,
    RUNNING,
    TIMED_OUT,
    Trial,
)

# Re-proposals in a row that turn out, once built, to repeat a finished trial.
MAX_REPEATS = 100


class Stop(enum.Enum):
    """Why no trial can be submitted now."""

    FULL = "the project has max_trials trials"
    EXHAUSTED = "no new values remain"
    WAIT = "the running trials' builds may still find the space's dimensions"


@dataclasses.dataclass
class Next:
    """The next trial to run, and the seed of the generator that draws values its
    build finds that its values do not name (None: they take their defaults).
    The seed is stored with the trial when it starts: a resumed trial draws the
    same values."""

    trial: Trial
    draw: Any = None

    @property
    def rng(self) -> np.random.Generator | None:
        return None if self.draw is None else np.random.default_rng(self.draw)


@dataclasses.dataclass
class SearchLoop:
    """Runs trials of `project` on `executor` until `max_trials` or exhaustion.

    Attributes:
        project: the project folder and its records.
        algorithm: the `kh.algorithms.Algorithm` proposing values.
        executor: where trials run.
        job: what every trial shares (builder, fit plan, objective...).
        progress: prints a line per trial.
        max_trials: int, trials in the project, earlier runs included.
        max_consecutive_failures: int, failed trials in a row that stop the search.
        seed: int or None, seeds the values a trial's build draws.
        callbacks: `kh.TrialCallback`s, called here, in the driver.
        search: what the callbacks receive as `search` (the `kh.Tuner`).
        runs: None, or a multi-fidelity search's `Runs`: the algorithm then also
            decides each run's epochs and which trials continue (promotions).
    """

    project: Project
    algorithm: Any
    executor: Executor
    job: Job
    progress: Progress
    max_trials: int
    max_consecutive_failures: int
    seed: int | None = None
    callbacks: list[Any] = dataclasses.field(default_factory=list)
    search: Any = None
    runs: Runs | None = None
    running: dict[int, Trial] = dataclasses.field(default_factory=dict)
    """The trials submitted and not yet recorded, by id."""
    proposed: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """The values each running trial was submitted with."""
    repeats: list[Trial] = dataclasses.field(default_factory=list)
    """Proposals that repeated a finished trial, with its score (negative ids)."""
    begun: set[int] = dataclasses.field(default_factory=set)
    """The running trials whose `on_trial_begin` was called."""
    failures: list[Trial] = dataclasses.field(default_factory=list)
    """The failed trials since the last one that did not fail."""

    def run(self) -> None:
        """Runs the search; trials still running when it stops (an error, Ctrl-C)
        are recorded as interrupted, so that a resumed search reruns them."""
        exhausted = False
        self._call("on_search_begin")
        try:
            self.executor.start(self.job, self._built)  # workers start meanwhile
            if any(t.finished for t in self.project.trials()):
                self._check_markers()
            elif not self.project.trials() and (
                self.executor.slots > 1 or not self.executor.builds_here
            ):
                self._discover_space()
            while True:
                interrupts.check()
                while not exhausted and self.executor.idle():
                    chosen = self._next()
                    if isinstance(chosen, Stop):
                        exhausted = chosen is not Stop.WAIT
                        break
                    self._submit(chosen)
                if not self.running:
                    break
                for outcome in self.executor.wait():
                    self._take(outcome)
        except BaseException as error:
            self._interrupt(error)
            self._call_after_error("on_search_end", error)
            raise
        finally:
            self.executor.shutdown()
        self._call("on_search_end")
        self._print_best()
        self._check_something_completed()

    # -- choosing -------------------------------------------------------------
    def _next(self) -> Next | Stop:
        trials = self.project.trials()
        pending = [
            t
            for t in trials
            if t.status in (RUNNING, INTERRUPTED) and t.id not in self.running
        ]
        if pending:
            return Next(pending[0], self._stored_draw(pending[0]))
        extra: dict[str, Any] = {}
        if self.runs is not None:  # multi-fidelity: promote, start, or wait
            decision = self.runs.decide(trials)
            if isinstance(decision, Idle):
                return Stop.WAIT if decision is Idle.WAIT else Stop.FULL
            if isinstance(decision, Promote):
                trial = next(t for t in trials if t.id == decision.trial_id)
                promoted = self.runs.promoted(trial, decision)
                return Next(promoted, self._stored_draw(trial))
            extra = self.runs.new_extra(decision)
        elif len(trials) >= self.max_trials:
            return Stop.FULL
        trial_id = self.project.next_id()
        queue = self.project.queue()
        if queue:  # taken off the queue once its row is written (Project.start)
            enqueued = {"enqueued": True, **extra}
            return Next(Trial(trial_id, queue[0], extra=enqueued))
        if not trials:  # the first trial runs the code's own defaults
            return Next(Trial(trial_id, {}, extra=extra))
        if not self.project.space:
            if self.running:
                return Stop.WAIT
            return self._no_new_values(
                "No hyperparameter was found in the builder or the fit arguments: the "
                "one configuration there is has run."
            )
        proposals = self.algorithm.propose(
            self.project.space,
            trials + self.repeats,
            1,
            direction=self.project.objective.direction,
        )
        if not proposals or len(self.repeats) >= MAX_REPEATS:
            tried = "tried or is running" if self.running else "tried"
            return self._no_new_values(
                f"The search space is exhausted: every set of values has been {tried} "
                f"({len(trials)} trials)."
            )
        return Next(Trial(trial_id, proposals[0], extra=extra), self._draw(trial_id))

    def _no_new_values(self, message: str) -> Next | Stop:
        self.progress.print(message)
        if self.runs is not None and not self.runs.exhausted:
            # The trials there are still run their brackets' promotions.
            self.runs.exhausted = True
            return self._next()
        return Stop.EXHAUSTED

    def _draw(self, trial_id: int) -> Any:
        if self.seed is None:
            return int(np.random.default_rng().integers(2**62))
        return [self.seed, trial_id]

    def _stored_draw(self, trial: Trial) -> Any:
        """The seed a pending trial was started with (rows written before it was
        stored: defaults for the defaults trial, else a new one)."""
        if DRAW in trial.extra:
            return trial.extra[DRAW]
        return self._draw(trial.id) if trial.params else None

    def _discover_space(self) -> None:
        """Builds the defaults here, so that proposals for the other workers know
        the builder's dimensions while the first trial runs, and the first
        trial's row holds its values (the defaults) from its start."""
        dimensions = build_defaults(self.job.builder)
        for dimension in dimensions or []:
            self._add_dimension(dimension)
        if dimensions is not None:
            self.project.record_markers(
                {d.name for d in dimensions} | set(self.job.plan.space.names)
            )

    def _check_markers(self) -> None:
        """On resume, refuses code whose markers were added, removed or renamed
        (a build with every default, here, before any trial)."""
        dimensions = build_defaults(self.job.builder)
        if dimensions is None:  # the build fails: the first trial reports it
            return
        for dimension in dimensions:
            self._add_dimension(dimension)
        self.project.check_markers(
            {d.name for d in dimensions} | set(self.job.plan.space.names)
        )

    # -- submitting -------------------------------------------------------------
    def _submit(self, chosen: Next) -> None:
        trial = chosen.trial
        self.project.start(trial, chosen.draw, continues=self.runs is not None)
        trials = self.project.trials()
        others = [t for t in trials if t.id != trial.id]
        if self.job.pruner is None:  # histories are for the pruner only
            others = [dataclasses.replace(t, history=[]) for t in others]
        self.running[trial.id] = trial
        self.proposed[trial.id] = dict(trial.params)
        self.executor.submit(
            Task(
                trial=trial,
                rng=chosen.rng,
                space=self.project.space.get_config(),
                others=others,
                checkpoint_bar=self.project.checkpoint_bar(trials),
                **self._run_fields(trial),
            )
        )
        if not self.executor.builds_here:
            self.progress.trial_started(trial, values=False)

    def _run_fields(self, trial: Trial) -> dict[str, Any]:
        if self.runs is None:
            return {}
        shares_files = getattr(self.executor, "shares_files", True)
        return self.runs.task_fields(trial, self.project.directory, shares_files)

    def _built(self, trial: Trial, dimensions: list[Dimension]) -> None:
        """A trial built, before it trains (here, or in a worker process that says
        so): its dimensions join the space (a conflict stops the search before
        any training) and its row holds every value it uses."""
        try:
            for dimension in dimensions:
                self._add_dimension(dimension)
        except (SearchSpaceMismatchError, UnsupportedSpaceError):
            if not self.executor.builds_here:  # its outcome will not be taken
                self.project.delete(trial.id)
                self.running.pop(trial.id, None)
            raise
        self.project.write(trial)
        if self.executor.builds_here:
            self.progress.trial_started(trial)
        self._begin(trial)

    def _add_dimension(self, dimension: Dimension) -> None:
        self.project.add_dimension(dimension, self.algorithm.check_space)

    # -- the user's trial callbacks ------------------------------------------------
    def _begin(self, trial: Trial) -> None:
        """Calls `on_trial_begin` once per run of a trial, once its values are
        known: at its build (in this process, or reported by a worker process),
        else when its outcome comes (`_take`)."""
        if trial.id not in self.begun:
            self.begun.add(trial.id)
            self._call("on_trial_begin", trial)

    def _call(self, hook: str, *trial: Trial) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self.search, *trial)

    def _call_after_error(self, hook: str, error: BaseException) -> None:
        """Calls `hook` while `error` stops the search: a callback that fails then
        is reported as a warning, so that `error` is the one raised."""
        for callback in self.callbacks:
            try:
                getattr(callback, hook)(self.search)
            except Exception as failure:  # noqa: BLE001 - the search's error wins
                warnings.warn(
                    f"{type(callback).__name__}.{hook} failed while the search "
                    f"stopped ({type(error).__name__}): {failure!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )

    # -- recording --------------------------------------------------------------
    def _take(self, outcome: Outcome) -> None:
        trial = outcome.trial
        del self.running[trial.id]
        proposed = self.proposed.pop(trial.id)
        begun = trial.id in self.begun
        self.begun.discard(trial.id)
        try:
            for config in outcome.dimensions:
                self._add_dimension(dimension_from_config(config))
        except (SearchSpaceMismatchError, UnsupportedSpaceError):
            self.project.delete(trial.id)  # found before any training
            raise
        if outcome.repeat_of is not None:
            self._learn_repeat(proposed, outcome)
            return
        if not proposed and trial.status != FAILED:  # built with every default
            self.project.record_markers(
                {c["name"] for c in outcome.dimensions} | set(self.job.plan.space.names)
            )
        if not begun:  # its build was not reported (a Dask worker's)
            self._call("on_trial_begin", trial)
        keep = self.runs is not None and self.runs.record(
            outcome, self.project.directory
        )
        self.project.finish(trial, outcome.best_model, keep_progress=keep)
        if self.runs is not None:
            self.runs.release(self.project)
        self._call("on_trial_end", trial)
        self.progress.trial_ended(
            trial,
            self.project.best(),
            self.project.objective.name,
            values=not self.executor.builds_here,
            front=self._front(),
        )
        if outcome.fatal is not None:  # going on would fail every trial the same way
            raise outcome.fatal
        self._count_failure(trial)

    def _learn_repeat(self, proposed: dict[str, Any], outcome: Outcome) -> None:
        """Values that differ from a finished trial's only in dimensions the build
        never used make the same model: instead of training it again, the algorithm
        learns the earlier score for these values, and is asked again."""
        self.project.delete(outcome.trial.id)
        earlier = outcome.repeat_of
        self.repeats.append(
            Trial(
                id=-len(self.repeats) - 1,
                params={**proposed, **outcome.trial.params},
                status=earlier.status,
                score=earlier.score,
                extra=dict(earlier.extra),  # objectives and constraints' values
            )
        )

    def _count_failure(self, trial: Trial) -> None:
        if trial.status != FAILED:
            self.failures.clear()
            return
        self.failures.append(trial)
        if len(self.failures) >= self.max_consecutive_failures:
            raise TooManyFailuresError(
                f"{len(self.failures)} trials failed in a row, so the search "
                f"stopped. The errors:\n{errors_by_trial(self.failures)}"
            )

    def _check_something_completed(self) -> None:
        """A search that ends without a completed trial says why, never quietly."""
        trials = self.project.trials()
        if self.project.best() is not None or not trials:
            return
        counts = Counter(t.status for t in trials)
        statuses = ", ".join(f"{n} {status}" for status, n in counts.items())
        why = ""
        if counts[TIMED_OUT]:
            why += (
                f" Tuner(trial_timeout={self.job.timeout}) stopped "
                f"{counts[TIMED_OUT]} before they finished: give trials more time."
            )
        if counts[INFEASIBLE]:
            why += (
                f" {counts[INFEASIBLE]} broke a constraint "
                f"({first_line(_first_violation(trials))}): loosen it, or search "
                "where it holds."
            )
        failed = [t for t in trials if t.status == FAILED]
        if failed:
            why += f" The errors:\n{errors_by_trial(failed)}"
        raise NoCompletedTrialError(
            f"The search ended with no completed trial ({len(trials)} trials: "
            f"{statuses}).{why}"
        )

    def _interrupt(self, error: BaseException) -> None:
        stopped = isinstance(error, (KeyboardInterrupt, Terminated))
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted by the user (KeyboardInterrupt)"
        elif isinstance(error, Terminated):
            reason = "stopped by SIGTERM (the system or a batch scheduler)"
        else:
            reason = f"the search stopped: {error_message(error)}"
        for trial in self.running.values():
            self.project.end(trial, INTERRUPTED, reason)
        if self.running and stopped:
            ids = sorted(self.running)
            which = f"trial {ids[0]}" if len(ids) == 1 else f"trials {ids}"
            how = (
                "stopped by SIGTERM"
                if isinstance(error, Terminated)
                else ("interrupted")
            )
            self.progress.print(
                f"Search {how} during {which}; run search() again to resume."
            )

    def _front(self) -> list[Trial] | None:
        objectives = self.project.objectives
        return objectives.front(self.project.trials()) if objectives.multi else None

    def _print_best(self) -> None:
        front, objectives = self._front(), self.project.objectives
        if front:
            self.progress.print(
                f"Search done. Pareto front of {len(front)} trials: "
                + "; ".join(f"trial {t.id} ({objectives.format(t)})" for t in front)
            )
            return
        best = self.project.best()
        if best is not None:
            self.progress.print(
                f"Search done. Best {self.project.objective.name}="
                f"{format_value(best.score)} (trial {best.id}): "
                f"{format_params(best.params)}"
            )


def errors_by_trial(trials: list[Trial]) -> str:
    """The trials' errors, one line per distinct error with the trials that had it
    (each error's first line: the store keeps all of it)."""
    ids_by_error: dict[str, list[int]] = {}
    for trial in trials:
        error = first_line(trial.error or trial.status)
        ids_by_error.setdefault(error, []).append(trial.id)
    lines = []
    for error, ids in ids_by_error.items():
        which = f"trial {ids[0]}" if len(ids) == 1 else f"trials {_ids(ids)}"
        lines.append(f"  {which}: {error}")
    return "\n".join(lines)


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _first_violation(trials: list[Trial]) -> str:
    for trial in trials:
        for violation in trial.extra.get("violations", []):
            return f"trial {trial.id}: {violation}"
    return "no violation recorded"

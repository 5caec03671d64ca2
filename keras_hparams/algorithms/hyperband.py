"""Multi-fidelity algorithms: many short runs, few long ones, continued not restarted.

A `MultiFidelityAlgorithm` decides more than values: each time a worker is free, the
search loop asks it `decide(trials, ...)`, which returns a typed decision:

- `Start(epochs, extra)`: a new configuration, trained to `epochs` epochs (its values
  come from `propose`, the queue or the defaults, as for any algorithm);
- `Promote(trial_id, epochs, extra)`: the trial goes on from its saved state (weights,
  optimizer, history) up to `epochs` epochs in all;
- `Idle.WAIT` (nothing now: a running trial must end first) or `Idle.DONE`.

Like `propose`, `decide` is a function of the stored trials alone, so a resumed
search decides what an uninterrupted one would have. The loop records each run's
target in `trial.extra["budget"]` when it starts, and the score the trial had at the
end of each run in `trial.extra["budget_scores"]` (`[[epochs, score], ...]`).

`Hyperband` runs brackets of successive halving (`brackets.Schedule`), promoting
within each bracket from rung to rung, asynchronously when workers would otherwise
wait.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

from keras_hparams.algorithms.base import Algorithm
from keras_hparams.algorithms.brackets import Bracket, Schedule
from keras_hparams.checks import check_int
from keras_hparams.space import SearchSpace
from keras_hparams.trial import INTERRUPTED, PRUNED, RUNNING, Trial

BUDGET = "budget"
"""`trial.extra` key: the epochs the trial's latest run trains it to, in all."""
BUDGET_SCORES = "budget_scores"
"""`trial.extra` key: `[[epochs, score], ...]`, the trial's score at each run's end."""


@dataclasses.dataclass(frozen=True)
class Start:
    """Start a new configuration and train it to `epochs` epochs.

    Attributes:
        epochs: int, the epochs of its first run.
        extra: dict, what the algorithm keeps in the trial's `extra` (its bracket).
    """

    epochs: int
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Promote:
    """Continue trial `trial_id` from its saved state up to `epochs` epochs in all."""

    trial_id: int
    epochs: int
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


class Idle(enum.Enum):
    """Why a multi-fidelity algorithm starts nothing now."""

    WAIT = "a running trial must end before the next decision"
    DONE = "every bracket has ended"


Decision = Start | Promote | Idle


def budget_scores(trial: Trial) -> dict[int, float]:
    """The trial's score at the end of each of its runs, by epochs trained."""
    return {int(e): s for e, s in trial.extra.get(BUDGET_SCORES, []) if s is not None}


class MultiFidelityAlgorithm(Algorithm):
    """Base class of algorithms that choose how many epochs each run trains.

    A subclass implements `propose` (the values of a new configuration), `decide`
    and `may_continue`; `max_epochs` is the longest run. A trial whose latest run
    ended below `max_epochs` is recorded `"pruned"` (with its score so far, which
    `best_trial` and the Bayesian surrogate already treat right) and keeps its saved
    state on disk while `may_continue` names it; promoted, it goes back to
    `"running"` and its history grows. Only trials trained to `max_epochs` are
    `"completed"`, so the best trial is one trained at the highest budget.

    Args:
        seed: int or None, for reproducible proposals.
        max_epochs: int or None, the epochs of the longest run. Defaults to `None`:
            the `epochs` given to `search()`.
    """

    def __init__(self, seed: int | None = None, *, max_epochs: int | None = None):
        super().__init__(seed)
        if max_epochs is not None:
            check_int(type(self).__name__, "max_epochs", max_epochs, 1)
        self.max_epochs = max_epochs

    def epochs_for(self, fit_epochs: int | None) -> int:
        """The longest run: `max_epochs`, or `search(epochs=...)` without it.

        Raises:
            ValueError: both are given and differ.
        """
        if self.max_epochs is None:
            return 1 if fit_epochs is None else fit_epochs
        if fit_epochs is not None and fit_epochs != self.max_epochs:
            raise ValueError(
                f"{type(self).__name__}(max_epochs={self.max_epochs}) and "
                f"search(epochs={fit_epochs}) disagree on the longest run: give one "
                "of them, or the same number to both."
            )
        return self.max_epochs

    def get_settings(self, max_epochs: int) -> dict[str, Any]:
        """What the runs' epochs depend on, stored with the project so that a
        resumed search with another schedule is refused."""
        return {"algorithm": type(self).__name__, "max_epochs": max_epochs}

    @abc.abstractmethod
    def decide(
        self,
        trials: Sequence[Trial],
        *,
        max_trials: int,
        max_epochs: int,
        direction: str = "min",
    ) -> Decision:
        """What the next free worker does: `Start`, `Promote` or `Idle`.

        Args:
            trials: every trial so far (no pending one waits to be resumed).
            max_trials: int, the configurations the search may start in all.
            max_epochs: int, the epochs of the longest run.
            direction: str, `"min"` or `"max"`: which scores are better.
        """

    @abc.abstractmethod
    def may_continue(
        self,
        trials: Sequence[Trial],
        *,
        max_trials: int,
        max_epochs: int,
        direction: str = "min",
    ) -> set[int]:
        """The ids of the stopped trials that may still be promoted: their saved
        state is kept, the others' deleted."""


class Hyperband(MultiFidelityAlgorithm):
    """Hyperband: brackets of successive halving over epochs, with random values.

    The search runs brackets in turn (`brackets.Schedule`): with `max_epochs=9`
    and `factor=3`, 9 configurations at 1 epoch of which the best 3 go on to 3
    epochs and the best of those to 9; then 5 at 3 epochs, the best to 9; then 3
    at 9; and again. A promoted trial continues from its saved state, so a
    bracket trains `9 * 1 + 3 * 2 + 1 * 6 = 21` epochs, not `9 + 9 + 9`.
    `max_trials` counts configurations: the last bracket is cut to those left.

    **Order of work.** A free worker, in turn: promotes the best trial of a rung
    that has ended (the highest rung first), starts a new configuration, or
    promotes early, ASHA-style ("A System for Massively Parallel Hyperparameter
    Tuning", Li et al. 2020), a trial among the best `1 / factor` of those that
    have finished an unfinished rung, within the rung's quota. Run one at a time,
    this is synchronous Hyperband; with several workers, new brackets start
    while a rung finishes, and early promotions keep the workers busy at the end.

    Args:
        seed: int or None, for reproducible proposals.
        max_epochs: int or None, the epochs of the last rung. Defaults to `None`:
            the `epochs` given to `search()`.
        factor: int, the ratio between rungs: a rung keeps the best `1 / factor`
            of the previous one's trials, trained `factor` times longer.
            Defaults to `3`.
        min_epochs: int, the fewest epochs of a rung. Defaults to `1`.

    Example:

    >>> tuner = kh.Tuner(build_model, objective="val_accuracy", max_trials=34,
    ...                  algorithm=kh.algorithms.Hyperband(factor=3))
    >>> tuner.search(x, y, epochs=27, validation_split=0.2)
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        max_epochs: int | None = None,
        factor: int = 3,
        min_epochs: int = 1,
    ) -> None:
        super().__init__(seed, max_epochs=max_epochs)
        check_int(type(self).__name__, "factor", factor, 2)
        check_int(type(self).__name__, "min_epochs", min_epochs, 1)
        self.factor = factor
        self.min_epochs = min_epochs

    def schedule(self, max_epochs: int) -> Schedule:
        return Schedule(max_epochs, self.factor, self.min_epochs)

    def get_settings(self, max_epochs: int) -> dict[str, Any]:
        return {
            "algorithm": type(self).__name__,
            **self.schedule(max_epochs).get_config(),
        }

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        self.check_request(n, direction)
        return self.random_unseen(space, self.seen(space, trials), self.rng(trials), n)

    def decide(
        self,
        trials: Sequence[Trial],
        *,
        max_trials: int,
        max_epochs: int,
        direction: str = "min",
    ) -> Decision:
        self.check_request(1, direction)
        brackets = self._brackets(trials, max_trials, max_epochs, direction)
        informed, early = [], []
        for state in brackets:
            for rung, trial, complete in state.promotions(self.factor):
                (informed if complete else early).append((-rung, state, trial))
        if informed:
            _, state, trial = min(informed, key=_order)
            return state.promote(trial)
        for state in brackets:
            if state.open:
                return Start(
                    state.bracket.epochs[0], {"bracket": state.index, "rung": 0}
                )
        if early:
            _, state, trial = min(early, key=_order)
            return state.promote(trial)
        pending = any(t.status in (RUNNING, INTERRUPTED) for t in trials)
        return Idle.WAIT if pending else Idle.DONE

    def may_continue(
        self,
        trials: Sequence[Trial],
        *,
        max_trials: int,
        max_epochs: int,
        direction: str = "min",
    ) -> set[int]:
        waiting = set()
        for state in self._brackets(trials, max_trials, max_epochs, direction):
            waiting |= state.waiting()
        return waiting

    def _brackets(
        self, trials: Sequence[Trial], max_trials: int, max_epochs: int, direction: str
    ) -> list[_BracketState]:
        """The state of every bracket the search has or will have."""
        schedule = self.schedule(max_epochs)
        members: dict[int, list[Trial]] = {}
        for trial in trials:
            if "bracket" in trial.extra:
                members.setdefault(int(trial.extra["bracket"]), []).append(trial)
        # Configurations not started yet; trials of another algorithm (an earlier
        # search of the project) count toward max_trials too.
        left = max_trials - len(trials)
        states, index = [], 0
        last = max(members, default=-1)
        while left > 0 or index <= last:
            have = members.get(index, [])
            size = max(len(have), min(schedule.full_size(index), len(have) + left))
            if size > 0:
                bracket = schedule.bracket(index, size)
                states.append(_BracketState(bracket, have, direction))
                left -= size - len(have)
            index += 1
        return states


def _order(item: tuple[int, _BracketState, Trial]) -> tuple[int, int]:
    """Higher rungs first (their results teach most), then older brackets."""
    return item[0], item[1].index


def _rung(trial: Trial) -> int:
    return int(trial.extra.get("rung", 0))


@dataclasses.dataclass
class _BracketState:
    """Where one bracket stands: which trials reached which rung, with what score."""

    bracket: Bracket
    trials: list[Trial]
    direction: str

    @property
    def index(self) -> int:
        return self.bracket.index

    @property
    def open(self) -> bool:
        """Whether the bracket takes more new configurations."""
        return len(self.trials) < self.bracket.configurations

    def promote(self, trial: Trial) -> Promote:
        rung = _rung(trial) + 1
        return Promote(trial.id, self.bracket.epochs[rung], {"rung": rung})

    def promotions(self, factor: int) -> list[tuple[int, Trial, bool]]:
        """`(rung, trial, rung_complete)` for each rung whose best candidate may
        go on now: always once the rung has ended, early only among the best
        `1 / factor` of the trials that finished it."""
        found = []
        for rung, candidates, ranked, complete in self._rungs():
            quota = self.bracket.sizes[rung + 1] - self._entered(rung + 1)
            if quota <= 0 or not candidates:
                continue
            best = candidates[0]
            if complete or best.id in {t.id for t in ranked[: len(ranked) // factor]}:
                found.append((rung, best, complete))
        return found

    def waiting(self) -> set[int]:
        """Trials stopped at a rung that may still be promoted."""
        waiting = set()
        for rung, candidates, _, complete in self._rungs():
            quota = self.bracket.sizes[rung + 1] - self._entered(rung + 1)
            if quota > 0:
                kept = candidates[:quota] if complete else candidates
                waiting |= {t.id for t in kept}
        return waiting

    def _entered(self, rung: int) -> int:
        return sum(_rung(t) >= rung for t in self.trials)

    def _rungs(self) -> list[tuple[int, list[Trial], list[Trial], bool]]:
        """For each rung below the last: its candidates for promotion (stopped
        there normally, best first), every trial that finished it with a score
        (best first), and whether it is complete (no trial will enter it or is
        still running it)."""
        sign = 1.0 if self.direction == "min" else -1.0
        closed = not self.open
        rungs = []
        for rung, epochs in enumerate(self.bracket.epochs[:-1]):
            entered = [t for t in self.trials if _rung(t) >= rung]
            done = [t for t in entered if _rung(t) > rung or t.finished]
            scored = [t for t in done if epochs in budget_scores(t)]
            ranked = sorted(
                scored, key=lambda t, e=epochs: (sign * budget_scores(t)[e], t.id)
            )
            candidates = [t for t in ranked if _rung(t) == rung and t.status == PRUNED]
            complete = closed and len(done) == len(entered)
            rungs.append((rung, candidates, ranked, complete))
            full = self._entered(rung + 1) >= self.bracket.sizes[rung + 1]
            closed = complete and (full or not candidates)
        return rungs

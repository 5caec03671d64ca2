"""The algorithm interface: propose values given the trials so far.

An algorithm is a function of the search history: `propose(space, trials, n)` returns up
to `n` sets of values that no finished or running trial has, or `[]` when every set of
values of a finite space has been tried. It learns from finished trials by reading them
in `trials` at each call (there is no separate "tell"), which is what makes a resumed
search propose exactly what an uninterrupted one would have. Algorithms know nothing
about Keras.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.trial import (
    COMPLETED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    TIMED_OUT,
    Trial,
)

# Beyond this many combinations, a finite space is not enumerated to prove exhaustion.
_ENUMERATION_LIMIT = 200_000
_RANDOM_DRAWS = 200
DIRECTIONS = ("min", "max")


class Algorithm(abc.ABC):
    """Base class of search algorithms.

    A subclass implements one method, `propose`. The tuner calls it before each trial
    with every trial so far:

    - `"completed"` trials carry a `score` (the objective at their best epoch);
    - `"pruned"` trials were stopped early by a pruner: `score` is the best value they
      reached and `history` their per-epoch metrics;
    - `"failed"` trials have an `error` and no score;
    - `"running"` and `"interrupted"` trials have no score yet: they are pending, and
      a proposal should not repeat them.

    An algorithm learns from a finished trial by finding it in `trials` at the next
    call, so it may rebuild all its state from `trials` each time (the built-in ones
    do). One that keeps state between calls must derive it from `trials` only (for
    instance keyed by `Trial.id`), or a resumed search proposes differently. The
    helpers below (`seen`, `key`, `observed`, `pending`, `random_unseen`, `rng`) do
    the bookkeeping most algorithms need.

    Args:
        seed: int or None, for reproducible proposals.

    Example:

    ```python
    class AlwaysDefaults(kh.algorithms.Algorithm):
        def propose(self, space, trials, n=1, *, direction="min"):
            seen = self.seen(space, trials)
            values = space.defaults()
            return [] if self.key(space, values) in seen else [values]

    tuner = kh.Tuner(build_model, objective="val_loss", algorithm=AlwaysDefaults())
    ```
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    @abc.abstractmethod
    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        """Up to `n` new sets of values, or `[]` when the space is exhausted.

        Args:
            space: SearchSpace, the dimensions known so far.
            trials: every trial so far, pending ones included (see the class).
            n: int, how many proposals, for trials that will run at the same time.
                Defaults to `1`.
            direction: str, `"min"` or `"max"`: which scores are better.

        Returns:
            A list of at most `n` dicts, hyperparameter name to value, distinct from
            each other and from every trial in `trials`.
        """

    def check_space(self, space: SearchSpace) -> None:
        """Raises `ValueError` if this algorithm cannot search `space`.

        The tuner may call it before training starts, so that a bad combination
        fails early. The default accepts every space.
        """
        del space  # every space is searchable by default

    # -- helpers for subclasses -----------------------------------------------
    def rng(self, trials: Sequence[Trial]) -> np.random.Generator:
        """A generator seeded by `seed` and the length of the history."""
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, len(trials)])

    @staticmethod
    def key(space: SearchSpace, params: dict[str, Any]) -> Hashable:
        """What two sets of values share when they configure the same trial."""
        full = space.complete(params)
        return tuple(_normalized(full[d.name]) for d in space.searchable())

    def seen(self, space: SearchSpace, trials: Sequence[Trial]) -> set[Hashable]:
        """The keys of every trial's values (finished, failed or running)."""
        return {self.key(space, t.params) for t in trials}

    @staticmethod
    def completed(trials: Sequence[Trial]) -> list[Trial]:
        """The completed trials with a finite score."""
        return [t for t in trials if t.status == COMPLETED and _has_score(t)]

    @staticmethod
    def observed(trials: Sequence[Trial]) -> list[Trial]:
        """The completed, pruned and timed-out trials with a finite score (a stopped
        trial's score is its best epoch before it stopped)."""
        return [
            t
            for t in trials
            if t.status in (COMPLETED, PRUNED, TIMED_OUT) and _has_score(t)
        ]

    @staticmethod
    def pending(trials: Sequence[Trial]) -> list[Trial]:
        """The trials that have no result yet: running, or interrupted (to resume)."""
        return [t for t in trials if t.status in (RUNNING, INTERRUPTED)]

    @staticmethod
    def check_request(n: int, direction: str) -> None:
        """Raises `ValueError` for a `propose` call's bad `n` or `direction`."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(
                f"Algorithm.propose() expects n, a positive integer. Received: n={n!r}."
            )
        if direction not in DIRECTIONS:
            raise ValueError(
                f"Algorithm.propose() expects direction in {DIRECTIONS}. "
                f"Received: direction={direction!r}."
            )

    def random_unseen(
        self, space: SearchSpace, seen: set[Hashable], rng: np.random.Generator, n: int
    ) -> list[dict[str, Any]]:
        """Up to `n` random sets of values whose keys are not in `seen` (updated)."""
        proposals = []
        dimensions = space.searchable()
        for _ in range(_RANDOM_DRAWS * n):
            if len(proposals) == n:
                return proposals
            values = {d.name: d.sample(rng) for d in dimensions}
            if self._take(space, values, seen):
                proposals.append(values)
        return proposals + _enumerate_unseen(
            self, space, dimensions, seen, rng, n - len(proposals)
        )

    def _take(self, space: SearchSpace, values: dict, seen: set[Hashable]) -> bool:
        key = self.key(space, values)
        if key in seen:
            return False
        seen.add(key)
        return True


def _enumerate_unseen(
    algorithm: Algorithm,
    space: SearchSpace,
    dimensions: list[Dimension],
    seen: set[Hashable],
    rng: np.random.Generator,
    n: int,
) -> list[dict[str, Any]]:
    """Unseen values of a small finite space, in random order; [] once exhausted."""
    size = math.prod(d.cardinality() for d in dimensions)
    if n <= 0 or size > _ENUMERATION_LIMIT:
        return []
    names = [d.name for d in dimensions]
    unseen = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(d.values() for d in dimensions))
        if algorithm.key(space, dict(zip(names, combo, strict=True))) not in seen
    ]
    picked = [unseen[i] for i in rng.permutation(len(unseen))[:n]]
    for values in picked:
        seen.add(algorithm.key(space, values))
    return picked


def _has_score(trial: Trial) -> bool:
    return trial.score is not None and math.isfinite(trial.score)


def _normalized(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 12)
    return value

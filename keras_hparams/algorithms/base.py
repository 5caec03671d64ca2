"""The algorithm interface: propose values given the trials so far.

An algorithm is a function of the search history: `propose(space, trials, n)` returns up
to `n` sets of values that no finished or running trial has, or `[]` when every set of
values of a finite space has been tried. Algorithms know nothing about Keras.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.trial import COMPLETED, Trial

# Beyond this many combinations, a finite space is not enumerated to prove exhaustion.
_ENUMERATION_LIMIT = 200_000
_RANDOM_DRAWS = 200


class Algorithm(abc.ABC):
    """Base class of search algorithms.

    Subclasses implement `propose`. The tuner calls it before each trial with every
    trial so far (finished ones with their scores, running ones without), so an
    algorithm may rebuild its state from `trials` each time; that also makes a resumed
    search propose what an uninterrupted one would have.

    Args:
        seed: int or None, for reproducible proposals.

    Example:

    ```python
    class AlwaysDefaults(kh.algorithms.Algorithm):
        def propose(self, space, trials, n=1, *, direction="min"):
            seen = self.seen(space, trials)
            values = space.defaults()
            return [] if self.key(space, values) in seen else [values]
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
            trials: every trial so far: `status` `"completed"` ones carry a `score`.
            n: int, how many proposals. Defaults to `1`.
            direction: str, `"min"` or `"max"`: which scores are better.
        """

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
        return [
            t
            for t in trials
            if t.status == COMPLETED and t.score is not None and math.isfinite(t.score)
        ]

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


def _normalized(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 12)
    return value

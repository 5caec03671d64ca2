"""Random search: values drawn independently, uniformly (log-uniformly for log)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras_hparams.algorithms.base import Algorithm
from keras_hparams.space import SearchSpace
from keras_hparams.trial import Trial


class RandomSearch(Algorithm):
    """Draws every proposal at random, never repeating a tried set of values.

    Each dimension is drawn uniformly (log-uniformly with `log=True`, on its grid with
    a `step`). Proposals avoid finished, failed and running trials; in a small finite
    space, once random draws keep hitting tried values, the untried ones are
    enumerated, so the space is exhausted exactly.

    Args:
        seed: int or None, for reproducible proposals.

    Example:

    >>> tuner = kh.Tuner(build_model, objective="val_loss", algorithm="random")
    """

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

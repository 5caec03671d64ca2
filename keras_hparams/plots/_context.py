"""What the panels of one figure share, computed once: the trials, the objective's
axis, and the models fitted on the trials (or the error saying why there is none)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from keras_hparams.plots._scale import ScoreAxis, use_log
from keras_hparams.trial import COMPLETED


class Context:
    """The trials of `results` as one figure draws them.

    Args:
        results: a `SearchResults`.
        trials: its trials, read once.
        yscale: str, one of `YSCALES`.
    """

    def __init__(self, results: Any, trials: list, yscale: str) -> None:
        from keras_hparams.algorithms import surrogate

        self.results = results
        self.trials = trials
        self.objective = results.objective
        self.space = results.space
        self.completed = [
            t
            for t in trials
            if t.status == COMPLETED and t.score is not None and np.isfinite(t.score)
        ]
        scores = [t.score for t in self.completed]
        self.log = use_log(scores, self.objective.direction, yscale)
        self.axis = ScoreAxis.fit(scores, self.log)
        self.best = results.ranked_trials(trials)[0]
        self.dimensions = surrogate.varying_dimensions(self.space)

    @functools.cached_property
    def surrogate(self) -> Any:
        """The fitted `Surrogate`, or the ValueError saying why there is none."""
        from keras_hparams.algorithms import surrogate

        try:
            return surrogate.Surrogate(
                self.space, self.completed, self.objective.direction, log=self.log
            )
        except ValueError as error:
            return error

    @functools.cached_property
    def dependences(self) -> Any:
        """The `Dependence` of each varying dimension, or why there is none."""
        if isinstance(self.surrogate, ValueError):
            return self.surrogate
        return self.surrogate.partial_dependence()

    @functools.cached_property
    def importance(self) -> Any:
        """The `Importance` of each varying dimension, or why there is none."""
        from keras_hparams import importance

        try:
            return importance.importance(self.space, self.completed, self.objective)
        except ValueError as error:
            return error

    def ranked_dimensions(self) -> list:
        """The varying dimensions, most important first when that is known."""
        if isinstance(self.importance, ValueError):
            return self.dimensions
        order = list(self.importance.values)
        return sorted(self.dimensions, key=lambda d: order.index(d.name))


def sentence(error: Exception) -> str:
    """An error's first sentence, without the received value."""
    return str(error).split(". Received")[0] + "."

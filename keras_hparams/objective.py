"""The metric a search optimizes and the direction it prefers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from keras_hparams.trial import COMPLETED

DIRECTIONS = ("min", "max")
T = TypeVar("T")

_MINIMIZE = {
    "loss",
    "error",
    "mse",
    "mae",
    "crossentropy",
    "rmse",
    "mape",
    "msle",
    "hinge",
    "kld",
    "divergence",
    "logcosh",
    "huber",
    "poisson",
}
_MAXIMIZE = {
    "accuracy",
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "iou",
    "r2",
    "score",
}

# Accepted directions, by how they are stored.
_SPELLINGS = {"min": "min", "max": "max", "minimize": "min", "maximize": "max"}


class Objective:
    """A metric name and whether to minimize or maximize it.

    Args:
        name: str, a key of the logs Keras reports (`"val_loss"`, `"val_auc"`).
        direction: str, `"min"` or `"max"` (Optuna's `"minimize"` and
            `"maximize"` are accepted and stored as `"min"` and `"max"`).

    Example:

    >>> objective = kh.Objective("val_auc", "max")
    """

    def __init__(self, name: str, direction: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"Objective name must be a non-empty string. Received: {name!r}."
            )
        if not isinstance(direction, str) or direction not in _SPELLINGS:
            raise ValueError(
                f"For Objective({name!r}), expected direction 'min' or 'max' (or "
                f"'minimize', 'maximize'). Received: direction={direction!r}."
            )
        self.name = name
        self.direction = _SPELLINGS[direction]

    @classmethod
    def from_argument(cls, objective: Any) -> Objective:
        """The `Objective` for `Tuner(objective=...)`: a metric name or an Objective."""
        if isinstance(objective, Objective):
            return objective
        if not isinstance(objective, str):
            raise TypeError(
                "Tuner(objective=...) expects a metric name or a kh.Objective. "
                f"Received: {objective!r}."
            )
        # Keras spells IoU metrics "mean_io_u", "binary_io_u".
        lowered = objective.lower().replace("io_u", "iou")
        words = set(re.split(r"[_\W]+", lowered)) - {"", "val"}
        minimize, maximize = words & _MINIMIZE, words & _MAXIMIZE
        if bool(minimize) == bool(maximize):
            raise ValueError(
                f"Cannot tell whether to minimize or maximize objective={objective!r}. "
                f"Pass kh.Objective({objective!r}, 'min') or "
                f"kh.Objective({objective!r}, 'max')."
            )
        return cls(objective, "min" if minimize else "max")

    @property
    def sign(self) -> float:
        """`1.0` to minimize, `-1.0` to maximize: `sign * score` is lower if better."""
        return sign(self.direction)

    def ranked(self, trials: Iterable[T]) -> list[T]:
        """The completed trials of `trials`, best first (the earliest among equals)."""
        completed = [t for t in trials if t.status == COMPLETED]
        return sorted(completed, key=lambda t: (self.sign * t.score, t.id))

    def better(self, a: float, b: float | None) -> bool:
        """Whether score `a` is better than `b` (anything beats `None`)."""
        if b is None or math.isnan(b):
            return True
        return a < b if self.direction == "min" else a > b

    def best_epoch(self, history: list[dict[str, float]]) -> int | None:
        """The index of the best finite value of the objective in `history`."""
        best = None
        for epoch, logs in enumerate(history):
            value = logs.get(self.name)
            if value is not None and math.isfinite(value):
                if best is None or self.better(value, history[best][self.name]):
                    best = epoch
        return best

    def get_config(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}

    @classmethod
    def from_config(cls, config: dict[str, str]) -> Objective:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        return f"Objective({self.name!r}, {self.direction!r})"


def sign(direction: str) -> float:
    """`1.0` for `"min"`, `-1.0` for `"max"`: multiplied by a score, lower is better."""
    return 1.0 if direction == "min" else -1.0

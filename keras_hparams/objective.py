"""What a search optimizes and the direction it prefers: a metric Keras reports, or
a quantity measured on the trained model (parameter count, inference latency, saved
size, or a function of your own)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from keras_hparams.checks import check_int
from keras_hparams.trial import COMPLETED

DIRECTIONS = ("min", "max")
T = TypeVar("T")
# The quantities measured on a model rather than read from Keras's logs. "function"
# is a measure of your own, `measure(model, history) -> float`.
PARAMS, LATENCY, SIZE, FUNCTION = "params", "latency", "size", "function"
MEASURES = (PARAMS, LATENCY, SIZE, FUNCTION)
# Measures that spread over orders of magnitude (counts, bytes, seconds).
SCALE_MEASURES = (PARAMS, LATENCY, SIZE)
_LATENCY_DEFAULTS = {"batch_size": 1, "warmup": 3, "repeats": 20}

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
    """What a search optimizes: a metric name, or a measure of the trained model,
    and whether to minimize or maximize it.

    A metric is read from the logs Keras reports at each epoch, and a trial's value
    is the one of its best epoch. The class methods `params`, `latency` and `size`
    make objectives measured on the trial's model after training; `measure=` one of
    your own. In a search with several objectives (`Tuner(objective=[...])`), the
    first one must be a metric: it chooses each trial's best epoch, whose model the
    others are measured on, and pruners watch it.

    Args:
        name: str, a key of the logs Keras reports (`"val_loss"`, `"val_auc"`), or
            the name of your measure.
        direction: str, `"min"` or `"max"` (Optuna's `"minimize"` and
            `"maximize"` are accepted and stored as `"min"` and `"max"`).
        measure: None (default) for a metric, or a function
            `measure(model, history) -> float` of the trained model (the weights
            of its best epoch) and its history (a dict of per-epoch lists, as
            `model.fit(...).history`).

    Example:

    ```python
    objective = kh.Objective("val_auc", "max")
    tuner = kh.Tuner(build_model, objective=[
        kh.Objective("val_accuracy", "max"),
        kh.Objective.params(),                    # fewest parameters
        kh.Objective("val_gap", "min", measure=lambda model, history:
                     history["accuracy"][-1] - history["val_accuracy"][-1]),
    ])
    ```
    """

    def __init__(
        self,
        name: str,
        direction: str,
        *,
        measure: Callable[[Any, dict[str, list[float]]], float] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"Objective name must be a non-empty string. Received: {name!r}."
            )
        if not isinstance(direction, str) or direction not in _SPELLINGS:
            raise ValueError(
                f"For Objective({name!r}), expected direction 'min' or 'max' (or "
                f"'minimize', 'maximize'). Received: direction={direction!r}."
            )
        if measure is not None and not callable(measure):
            raise TypeError(
                f"For Objective({name!r}), expected measure a function "
                f"measure(model, history) -> float, or None. Received: {measure!r}."
            )
        self.name = name
        self.direction = _SPELLINGS[direction]
        self.function = measure
        self.measure: str | None = None if measure is None else FUNCTION
        self.options: dict[str, Any] = {}

    # -- measures of the trained model ------------------------------------------
    @classmethod
    def params(cls, direction: str = "min") -> Objective:
        """The model's parameter count (`model.count_params()`), named `"params"`.

        It is known once the model is built, so a `kh.Constraint("params", ...)` is
        checked before training: a model over the limit is not trained.
        """
        return cls._measured(PARAMS, direction, {})

    @classmethod
    def latency(
        cls,
        direction: str = "min",
        *,
        batch_size: int = 1,
        warmup: int = 3,
        repeats: int = 20,
    ) -> Objective:
        """Inference seconds per sample on the device that trains, named `"latency"`.

        Measured on the built model before training (the weights do not change
        it): `warmup` untimed `model.predict_on_batch` calls on a batch of zeros
        of the model's input shape, then the median of `repeats` timed ones,
        divided by `batch_size`.

        Args:
            direction: str, `"min"` (default) or `"max"`.
            batch_size: int, samples per timed prediction. Defaults to `1`.
            warmup: int, untimed predictions first (tracing, caches). Defaults to
                `3`.
            repeats: int, timed predictions; their median is kept. Defaults to
                `20`.
        """
        check_int("Objective.latency", "batch_size", batch_size, 1)
        check_int("Objective.latency", "warmup", warmup, 0)
        check_int("Objective.latency", "repeats", repeats, 1)
        options = {"batch_size": batch_size, "warmup": warmup, "repeats": repeats}
        return cls._measured(LATENCY, direction, options)

    @classmethod
    def size(cls, direction: str = "min") -> Objective:
        """The bytes of the trained model's `.keras` file (what `export` writes,
        the optimizer's state included), named `"size"`."""
        return cls._measured(SIZE, direction, {})

    @classmethod
    def _measured(cls, kind: str, direction: str, options: dict) -> Objective:
        objective = cls(kind, direction)
        objective.measure, objective.options = kind, options
        return objective

    @classmethod
    def from_argument(cls, objective: Any) -> Objective:
        """The `Objective` for `Tuner(objective=...)`: a metric name, `"params"`,
        `"latency"`, `"size"` (minimized), or an Objective."""
        if isinstance(objective, Objective):
            return objective
        if not isinstance(objective, str):
            raise TypeError(
                "Tuner(objective=...) expects a metric name or a kh.Objective. "
                f"Received: {objective!r}."
            )
        if objective in (PARAMS, LATENCY, SIZE):
            return getattr(cls, objective)()
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
    def is_metric(self) -> bool:
        """Whether the value is read from Keras's logs (not measured on the model)."""
        return self.measure is None

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

    def get_config(self) -> dict[str, Any]:
        """The name and direction; a measured objective adds its measure (and
        latency its options). A function of your own is not stored, only that
        there is one."""
        config: dict[str, Any] = {"name": self.name, "direction": self.direction}
        if self.measure is not None:
            config["measure"] = self.measure
            config.update(self.options)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Objective:
        config = dict(config)
        measure = config.pop("measure", None)
        if measure is None:
            return cls(**config)
        name, direction = config.pop("name"), config.pop("direction")
        if measure == FUNCTION:
            return cls(name, direction, measure=_not_stored(name))
        objective = getattr(cls, measure)(direction, **config)
        return objective

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        if self.measure in (PARAMS, LATENCY, SIZE):
            options = "".join(
                f", {k}={v!r}"
                for k, v in self.options.items()
                if v != _LATENCY_DEFAULTS.get(k)
            )
            return f"Objective.{self.measure}({self.direction!r}{options})"
        if self.measure == FUNCTION:
            return f"Objective({self.name!r}, {self.direction!r}, measure=...)"
        return f"Objective({self.name!r}, {self.direction!r})"


def _not_stored(name: str) -> Callable[..., float]:
    """The measure of an objective read back from a project: the function itself
    was not stored."""

    def measure(model: Any, history: dict[str, list[float]]) -> float:
        raise RuntimeError(
            f"The function that measures objective {name!r} is not stored in the "
            "project; pass the kh.Objective with its measure again."
        )

    return measure


def sign(direction: str) -> float:
    """`1.0` for `"min"`, `-1.0` for `"max"`: multiplied by a score, lower is better."""
    return 1.0 if direction == "min" else -1.0

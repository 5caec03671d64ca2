"""`kh.Constraint`: a limit on a quantity of each trial (a metric, the parameter
count, the latency, the saved size, or a measure of your own).

A trial outside a limit is recorded as infeasible: never best, never on the Pareto
front, and taught to the multi-objective algorithm as worse than any feasible trial.
"""

from __future__ import annotations

import math
from typing import Any

from keras_hparams.checks import is_number
from keras_hparams.objective import LATENCY, PARAMS, SIZE, Objective
from keras_hparams.progress import format_value


class Constraint:
    """A limit on a quantity of each trial: a trial outside it is infeasible.

    The quantity is a metric (read at the trial's best epoch), `"params"`,
    `"latency"`, `"size"`, or a measured `kh.Objective`. A parameter-count or
    latency limit is checked on the built model before training: a model that
    breaks it is recorded as infeasible without being trained.

    Args:
        quantity: str, a metric name such as `"val_accuracy"`, or `"params"`,
            `"latency"` (seconds per sample), `"size"` (bytes); or a `kh.Objective`
            that measures it (`kh.Objective.latency(batch_size=32)`, your own
            `measure`).
        at_most: number or None, the largest value allowed.
        at_least: number or None, the smallest value allowed.

    Example:

    ```python
    tuner = kh.Tuner(build_model, objective="val_accuracy", constraints=[
        kh.Constraint("params", at_most=100_000),
        kh.Constraint("latency", at_most=0.005),   # 5 ms per sample
    ])
    ```
    """

    def __init__(
        self,
        quantity: str | Objective,
        *,
        at_most: float | None = None,
        at_least: float | None = None,
    ) -> None:
        if isinstance(quantity, str) and quantity:
            quantity = _quantity(quantity)
        if not isinstance(quantity, Objective):
            raise TypeError(
                "Constraint(quantity=...) expects a metric name, 'params', "
                f"'latency', 'size' or a kh.Objective. Received: {quantity!r}."
            )
        for argument, limit in (("at_most", at_most), ("at_least", at_least)):
            if limit is not None and not (is_number(limit) and math.isfinite(limit)):
                raise ValueError(
                    f"For Constraint({quantity.name!r}), expected {argument} a "
                    f"finite number or None. Received: {argument}={limit!r}."
                )
        if at_most is None and at_least is None:
            raise ValueError(
                f"Constraint({quantity.name!r}) needs a limit: pass at_most=..., "
                "at_least=..., or both."
            )
        if at_most is not None and at_least is not None and at_least > at_most:
            raise ValueError(
                f"For Constraint({quantity.name!r}), expected at_least <= at_most. "
                f"Received: at_least={at_least!r}, at_most={at_most!r}."
            )
        self.quantity = quantity
        self.name = quantity.name
        self.at_most, self.at_least = at_most, at_least

    def violation(self, value: float | None) -> str | None:
        """Why `value` breaks the constraint (`"params=120000 > 100000"`), or None."""
        if value is None or not math.isfinite(value):
            return f"{self.name}={value} is not a finite number"
        if self.at_most is not None and value > self.at_most:
            return f"{self.name}={format_value(value)} > {format_value(self.at_most)}"
        if self.at_least is not None and value < self.at_least:
            return f"{self.name}={format_value(value)} < {format_value(self.at_least)}"
        return None

    def excess(self, value: float | None) -> float:
        """How far `value` is outside the limits, relative to them (0 inside)."""
        if value is None or not math.isfinite(value):
            return 1.0
        over = 0.0
        if self.at_most is not None and value > self.at_most:
            over = (value - self.at_most) / max(abs(self.at_most), 1e-12)
        if self.at_least is not None and value < self.at_least:
            over = (self.at_least - value) / max(abs(self.at_least), 1e-12)
        return over

    def get_config(self) -> dict[str, Any]:
        config = self.quantity.get_config()
        del config["direction"]  # a limit has none
        return {**config, "at_most": self.at_most, "at_least": self.at_least}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        config = dict(config)
        limits = {"at_most": config.pop("at_most"), "at_least": config.pop("at_least")}
        quantity = Objective.from_config({**config, "direction": "min"})
        return cls(quantity, **limits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraint) and self.get_config() == other.get_config()

    def __str__(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f"{self.name} >= {format_value(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"{self.name} <= {format_value(self.at_most)}")
        return " and ".join(parts)

    def __repr__(self) -> str:
        quantity = repr(self.name) if self.quantity.is_metric else repr(self.quantity)
        limits = "".join(
            f", {k}={v!r}"
            for k, v in (("at_most", self.at_most), ("at_least", self.at_least))
            if v is not None
        )
        return f"Constraint({quantity}{limits})"


def _quantity(name: str) -> Objective:
    if name in (PARAMS, LATENCY, SIZE):
        return Objective.from_argument(name)
    return Objective(name, "min")  # a limit needs no direction

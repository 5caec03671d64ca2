"""A search's objectives and constraints: which trials are feasible, the Pareto
front and the ranking.

`Objectives` holds the `kh.Objective`s of a search (the first one chooses each
trial's best epoch) and its `kh.Constraint`s. A trial records the values in
`trial.extra["objectives"]` and `trial.extra["constraints"]`, and a trial that
breaks a constraint is recorded with status `"infeasible"` and the reasons in
`trial.extra["violations"]`: it is never best, never on the front. This module
knows nothing about Keras; `measures.py` takes the measurements and `choosing.py`
picks one trial among several good ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from keras_hparams import pareto
from keras_hparams.constraints import Constraint
from keras_hparams.objective import FUNCTION, SCALE_MEASURES, Objective
from keras_hparams.progress import format_value
from keras_hparams.trial import COMPLETED, Trial


class Objectives:
    """The objectives and constraints of one search.

    Args:
        objectives: the `Objective`s, the first one a metric.
        constraints: the `Constraint`s. Defaults to none.
    """

    def __init__(
        self, objectives: Sequence[Objective], constraints: Sequence[Constraint] = ()
    ) -> None:
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.primary = self.objectives[0]

    @classmethod
    def from_arguments(cls, objective: Any, constraints: Any = None) -> Objectives:
        """The checked `Tuner(objective=..., constraints=...)` arguments."""
        if isinstance(objective, (list, tuple)):
            if not objective:
                raise ValueError(
                    "Tuner(objective=[...]) expects at least one objective. "
                    "Received: []."
                )
            objectives = [Objective.from_argument(o) for o in objective]
        else:
            objectives = [Objective.from_argument(objective)]
        if constraints is None:
            constraints = []
        elif isinstance(constraints, Constraint):
            constraints = [constraints]
        elif not isinstance(constraints, (list, tuple)) or not all(
            isinstance(c, Constraint) for c in constraints
        ):
            raise TypeError(
                "Tuner(constraints=...) expects a kh.Constraint or a list of them. "
                f"Received: {constraints!r}."
            )
        checked = cls(objectives, constraints)
        checked._check()
        return checked

    @classmethod
    def of(cls, objective: Objective | Objectives) -> Objectives:
        return objective if isinstance(objective, Objectives) else cls([objective])

    def _check(self) -> None:
        names = [o.name for o in self.objectives]
        if len(set(names)) < len(names):
            raise ValueError(
                f"Tuner(objective=[...]) expects distinct names. Received: {names}."
            )
        if not self.primary.is_metric:
            raise ValueError(
                "The first objective chooses each trial's best epoch (and is the "
                "one pruners watch), so it must be a metric Keras reports, such as "
                f"'val_accuracy'. Received: {self.primary!r} first; put a metric "
                "objective first."
            )
        quantities: dict[str, Objective] = {}
        for quantity in [*self.objectives, *(c.quantity for c in self.constraints)]:
            known = quantities.setdefault(quantity.name, quantity)
            if _measured_config(known) != _measured_config(quantity):
                raise ValueError(
                    f"Two quantities are named {quantity.name!r} but measured "
                    f"differently: {known!r} and {quantity!r}. Give your measure "
                    "another name."
                )

    # -- what the search is -------------------------------------------------------
    @property
    def multi(self) -> bool:
        """Whether there are several objectives (a Pareto search)."""
        return len(self.objectives) > 1

    @property
    def simple(self) -> bool:
        """One metric objective and no constraint: a search as it always was."""
        return not self.multi and not self.constraints

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def quantities(self) -> dict[str, Objective]:
        """Every quantity a trial records, by name: objectives, then constraints'."""
        found = {o.name: o for o in self.objectives}
        for constraint in self.constraints:
            found.setdefault(constraint.name, constraint.quantity)
        return found

    def metrics(self) -> tuple[str, ...]:
        """The metrics besides the first objective that trials record: the model
        must report them at every epoch."""
        return tuple(
            name
            for name, quantity in self.quantities().items()
            if quantity.is_metric and name != self.primary.name
        )

    @property
    def needs_weights(self) -> bool:
        """Whether a measure reads the trained weights (a function of your own)."""
        return any(q.measure == FUNCTION for q in self.quantities().values())

    def get_config(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "objectives": [o.get_config() for o in self.objectives],
            "constraints": [c.get_config() for c in self.constraints],
        }

    @classmethod
    def from_config(cls, config: dict[str, list[dict[str, Any]]]) -> Objectives:
        return cls(
            [Objective.from_config(c) for c in config["objectives"]],
            [Constraint.from_config(c) for c in config["constraints"]],
        )

    def describe(self) -> str:
        """`"val_accuracy (max), params (min)"`, and the constraints after `;`."""
        text = ", ".join(f"{o.name} ({o.direction})" for o in self.objectives)
        if self.constraints:
            text += "; subject to " + ", ".join(str(c) for c in self.constraints)
        return text

    # -- a trial's values ---------------------------------------------------------
    def values(self, trial: Trial) -> list[float] | None:
        """The trial's objective values in order, or None if it has not all."""
        recorded = trial.extra.get("objectives")
        if recorded is None:
            return [trial.score] if not self.multi and _finite(trial.score) else None
        values = [recorded.get(name) for name in self.names]
        return values if all(_finite(v) for v in values) else None

    def losses(self, trial: Trial, *, log_scale: bool = False) -> list[float] | None:
        """The trial's values as losses (lower is better): maximized ones negated;
        with `log_scale`, counts, seconds and bytes on a log scale first."""
        values = self.values(trial)
        if values is None:
            return None
        return [
            o.sign * (math.log10(v) if log_scale and _scale(o, v) else v)
            for o, v in zip(self.objectives, values, strict=True)
        ]

    def violations(self, values: dict[str, float]) -> list[str]:
        """Why the recorded `values` break the constraints (empty if they do not);
        a constraint whose quantity is not in `values` is not checked."""
        found = (
            c.violation(values[c.name]) for c in self.constraints if c.name in values
        )
        return [v for v in found if v is not None]

    def excess(self, trial: Trial) -> float:
        """The sum of the trial's relative distances outside the constraints."""
        recorded = trial.extra.get("constraints", {})
        return sum(
            c.excess(recorded[c.name]) for c in self.constraints if c.name in recorded
        )

    # -- ranking ------------------------------------------------------------------
    def front(self, trials: Sequence[Trial]) -> list[Trial]:
        """The completed trials no other completed trial dominates, ordered by the
        first objective (best first, the earliest among equals)."""
        scored = [t for t in trials if t.status == COMPLETED]
        scored = [t for t in scored if self.values(t) is not None]
        losses = [self.losses(t) for t in scored]
        on_front = [scored[i] for i in pareto.front(losses)] if scored else []
        return sorted(on_front, key=lambda t: (self.losses(t), t.id))

    def ranked(self, trials: Sequence[Trial]) -> list[Trial]:
        """Completed trials, best first: by the objective, or with several by
        front (the Pareto front first), then the first objective."""
        if not self.multi:
            return self.primary.ranked(trials)
        scored = [t for t in trials if t.status == COMPLETED]
        scored = [t for t in scored if self.values(t) is not None]
        levels = pareto.ranks([self.losses(t) for t in scored])
        order = sorted(
            range(len(scored)), key=lambda i: (levels[i], *_key(self, scored[i]))
        )
        return [scored[i] for i in order]

    def kept(self, trials: Sequence[Trial], count: int) -> set[int]:
        """The ids of the trials that keep a model file: the best `count`, and with
        several objectives every trial on the front too (any may be chosen)."""
        if count <= 0:
            return set()
        kept = {t.id for t in self.ranked(trials)[:count]}
        if self.multi:
            kept |= {t.id for t in self.front(trials)}
        return kept

    # -- choosing one trial -------------------------------------------------------
    def format(self, trial: Trial) -> str:
        """`"val_accuracy=0.95, params=1234"`: the trial's objective values."""
        values = self.values(trial) or [None] * len(self.names)
        return ", ".join(
            f"{n}={format_value(v)}" for n, v in zip(self.names, values, strict=True)
        )


def recorded(trial: Trial, name: str) -> float | None:
    """The value `trial` recorded for quantity `name`: an objective, a constrained
    quantity, or a metric at its best epoch (None if none)."""
    for kind in ("objectives", "constraints"):
        if name in trial.extra.get(kind, {}):
            return trial.extra[kind][name]
    if trial.best_epoch is not None and trial.best_epoch < len(trial.history):
        return trial.history[trial.best_epoch].get(name)
    return trial.score if name == "score" else None


def _measured_config(objective: Objective) -> dict[str, Any]:
    config = objective.get_config()
    config.pop("direction")
    return config


def _key(objectives: Objectives, trial: Trial) -> tuple:
    return (*objectives.losses(trial), trial.id)


def _scale(objective: Objective, value: float) -> bool:
    return objective.measure in SCALE_MEASURES and value > 0


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)

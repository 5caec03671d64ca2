"""A search's objectives and constraints: which trials are feasible, the Pareto
front, the ranking, and the choice of one trial among several good ones.

`Objectives` holds the `kh.Objective`s of a search (the first one chooses each
trial's best epoch) and its `kh.Constraint`s. A trial records the values in
`trial.extra["objectives"]` and `trial.extra["constraints"]`, and a trial that
breaks a constraint is recorded with status `"infeasible"` and the reasons in
`trial.extra["violations"]`: it is never best, never on the front. This module
knows nothing about Keras; `measures.py` takes the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from keras_hparams import pareto
from keras_hparams.checks import is_number
from keras_hparams.objective import FUNCTION, SCALE_MEASURES, Objective
from keras_hparams.progress import format_value
from keras_hparams.trial import COMPLETED, Trial


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


class Best:
    """A rule that chooses one trial: the best value of one objective among the
    completed trials whose recorded values meet some limits.

    Args:
        objective: str, the name of one of the search's objectives.
        where: a `kh.Constraint` or a list of them, on any recorded quantity (an
            objective, a constrained quantity, or a metric at the best epoch).
            Defaults to none.

    Example:

    ```python
    tuner.choose(kh.Best("val_accuracy", where=kh.Constraint("params", at_most=1e5)))
    tuner.export("small.keras")
    ```
    """

    def __init__(
        self, objective: str, where: Constraint | Sequence[Constraint] = ()
    ) -> None:
        if not isinstance(objective, str) or not objective:
            raise TypeError(
                "Best(objective=...) expects the name of one of the search's "
                f"objectives. Received: {objective!r}."
            )
        where = [where] if isinstance(where, Constraint) else list(where)
        if not all(isinstance(c, Constraint) for c in where):
            raise TypeError(
                "Best(where=...) expects a kh.Constraint or a list of them. "
                f"Received: {where!r}."
            )
        self.objective, self.where = objective, where

    def __repr__(self) -> str:
        where = f", where={self.where!r}" if self.where else ""
        return f"Best({self.objective!r}{where})"


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
    def choose(self, trials: Sequence[Trial], choice: Any = None) -> Trial:
        """The trial `choice` names: None (the best, if no other is as good), a
        trial id, a `Trial`, or a `kh.Best` rule.

        Raises:
            ValueError: no such completed trial, or several objectives and no
                choice among the trials of the front.
            RuntimeError: no completed trial yet.
        """
        if isinstance(choice, Trial):
            choice = choice.id
        if choice is None:
            return self._the_best(trials)
        if isinstance(choice, Best):
            return self._best_by_rule(trials, choice)
        if isinstance(choice, bool) or not isinstance(choice, int):
            raise TypeError(
                "choose() expects a trial id, a kh.Trial, a kh.Best rule or None. "
                f"Received: {choice!r}."
            )
        found = [t for t in trials if t.id == choice]
        if not found or found[0].status != COMPLETED:
            status = found[0].status if found else "not in the project"
            raise ValueError(
                f"choose({choice}) expects the id of a completed trial; trial "
                f"{choice} is {status}. Completed trials: "
                f"{[t.id for t in trials if t.status == COMPLETED]}."
            )
        return found[0]

    def _the_best(self, trials: Sequence[Trial]) -> Trial:
        ranked = self.ranked(trials)
        if not ranked:
            raise RuntimeError("No completed trial yet: run search() first.")
        on_front = self.front(trials) if self.multi else ranked[:1]
        if len(on_front) == 1:
            return on_front[0]
        listed = "; ".join(f"trial {t.id} ({self.format(t)})" for t in on_front)
        first = self.primary.name
        # A rule that would pick the middle of the front, as an example.
        limit = self.values(on_front[len(on_front) // 2])[1]
        raise ValueError(
            f"This search has {len(self.objectives)} objectives "
            f"({self.describe()}), so no one trial is best: {len(on_front)} trials "
            f"are on the Pareto front (best_trials): {listed}. Choose one with "
            f"choose({on_front[0].id}), or with a rule such as choose(kh.Best("
            f"{first!r}, where=kh.Constraint({self.names[1]!r}, "
            f"{'at_most' if self.objectives[1].direction == 'min' else 'at_least'}"
            f"={format_value(limit)}))); export() and best_model() also take "
            "choose=..."
        )

    def _best_by_rule(self, trials: Sequence[Trial], rule: Best) -> Trial:
        if rule.objective not in self.names:
            raise ValueError(
                f"Best({rule.objective!r}) expects one of the search's objectives: "
                f"{self.names}."
            )
        objective = self.objectives[self.names.index(rule.objective)]
        candidates = [t for t in trials if t.status == COMPLETED]
        candidates = [t for t in candidates if self.values(t) is not None]
        meeting = [
            t
            for t in candidates
            if all(c.violation(recorded(t, c.name)) is None for c in rule.where)
        ]
        if not meeting:
            raise ValueError(
                f"No completed trial meets {' and '.join(map(str, rule.where))} "
                f"({len(candidates)} completed trials). The front: "
                + "; ".join(
                    f"trial {t.id} ({self.format(t)})" for t in self.front(trials)
                )
                + "."
            )
        index = self.names.index(objective.name)
        return min(
            meeting,
            key=lambda t: (self.losses(t)[index], *_key(self, t)),
        )

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


def _quantity(name: str) -> Objective:
    from keras_hparams.objective import LATENCY, PARAMS, SIZE

    if name in (PARAMS, LATENCY, SIZE):
        return Objective.from_argument(name)
    return Objective(name, "min")  # a limit needs no direction


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

"""Choosing one trial among several good ones: a trial id, or a `kh.Best` rule.

With several objectives no trial is best on its own; `SearchResults.choose`,
`best_model(choose=...)` and `export(choose=...)` take a trial id or a rule, and a
read of the best trial without one is refused with the front listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras_hparams.constraints import Constraint
from keras_hparams.objectives import Objectives, recorded
from keras_hparams.progress import format_value
from keras_hparams.trial import COMPLETED, Trial


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


def choose(
    objectives: Objectives, trials: Sequence[Trial], choice: Any = None
) -> Trial:
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
        return _the_best(objectives, trials)
    if isinstance(choice, Best):
        return _best_by_rule(objectives, trials, choice)
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


def _the_best(objectives: Objectives, trials: Sequence[Trial]) -> Trial:
    ranked = objectives.ranked(trials)
    if not ranked:
        raise RuntimeError("No completed trial yet: run search() first.")
    on_front = objectives.front(trials) if objectives.multi else ranked[:1]
    if len(on_front) == 1:
        return on_front[0]
    listed = _listed(objectives, on_front)
    first = objectives.primary.name
    # A rule that would pick the middle of the front, as an example.
    limit = objectives.values(on_front[len(on_front) // 2])[1]
    raise ValueError(
        f"This search has {len(objectives.objectives)} objectives "
        f"({objectives.describe()}), so no one trial is best: {len(on_front)} trials "
        f"are on the Pareto front (best_trials): {listed}. Choose one with "
        f"choose({on_front[0].id}), or with a rule such as choose(kh.Best("
        f"{first!r}, where=kh.Constraint({objectives.names[1]!r}, "
        f"{'at_most' if objectives.objectives[1].direction == 'min' else 'at_least'}"
        f"={format_value(limit)}))); export() and best_model() also take "
        "choose=..."
    )


def _best_by_rule(objectives: Objectives, trials: Sequence[Trial], rule: Best) -> Trial:
    if rule.objective not in objectives.names:
        raise ValueError(
            f"Best({rule.objective!r}) expects one of the search's objectives: "
            f"{objectives.names}."
        )
    objective = objectives.objectives[objectives.names.index(rule.objective)]
    candidates = [t for t in trials if t.status == COMPLETED]
    candidates = [t for t in candidates if objectives.values(t) is not None]
    meeting = [
        t
        for t in candidates
        if all(c.violation(recorded(t, c.name)) is None for c in rule.where)
    ]
    if not meeting:
        raise ValueError(
            f"No completed trial meets {' and '.join(map(str, rule.where))} "
            f"({len(candidates)} completed trials). The front: "
            + _listed(objectives, objectives.front(trials))
            + "."
        )
    index = objectives.names.index(objective.name)
    return min(
        meeting,
        key=lambda t: (objectives.losses(t)[index], *objectives.losses(t), t.id),
    )


def _listed(objectives: Objectives, trials: Sequence[Trial]) -> str:
    return "; ".join(f"trial {t.id} ({objectives.format(t)})" for t in trials)

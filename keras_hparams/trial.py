"""One trial: a set of hyperparameter values, its training history and its score."""

from __future__ import annotations

import dataclasses
from typing import Any

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"
PRUNED = "pruned"
TIMED_OUT = "timed_out"
INFEASIBLE = "infeasible"
STATUSES = (RUNNING, COMPLETED, FAILED, INTERRUPTED, PRUNED, TIMED_OUT, INFEASIBLE)


@dataclasses.dataclass
class Trial:
    """A record of one trial, as the trial store keeps it.

    Attributes:
        id: int, 1 for the first trial of a project.
        params: dict, the values the trial's model used, by hyperparameter name (only
            the dimensions active in its build, plus tuned fit arguments).
        status: str, one of `"running"`, `"completed"`, `"failed"`, `"interrupted"`,
            `"pruned"` (stopped early by a pruner; its score is its best epoch so far),
            `"timed_out"` (stopped at `trial_timeout`; likewise), `"infeasible"`
            (it breaks a `kh.Constraint`: never best; not trained if its
            parameter count or latency broke it).
        score: float or None, the objective at the trial's best epoch.
        best_epoch: int or None, that epoch (0-based).
        history: list of dicts, the metrics Keras reported at each epoch.
        started, ended: float or None, times as seconds since the epoch.
        error: str or None, why the trial failed.
        extra: dict, details some options add: `"scores"` (one per cross-validation
            fold or execution, whose mean is `score`), `"pruned_at"`, `"timeout"`;
            with several objectives or constraints, `"objectives"` and
            `"constraints"` (their values by name; `score` is the first
            objective's) and `"violations"` (why an infeasible trial is);
            with a multi-fidelity algorithm, `"budget"` (the epochs its latest run
            trains it to), `"budget_scores"` (`[[epochs, score], ...]`, its score
            at the end of each run), and the algorithm's own (`"bracket"`,
            `"rung"`).
    """

    id: int
    params: dict[str, Any]
    status: str = RUNNING
    score: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in (COMPLETED, FAILED, PRUNED, TIMED_OUT, INFEASIBLE)

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

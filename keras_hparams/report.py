"""Tables of a search's trials and search space, as rows or plain text.

`SearchResults.results()` and `SearchResults.summary()` are built from these; the
console command `keras-hparams show` prints `summary_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras_hparams.progress import format_seconds, format_value
from keras_hparams.space import Boolean, Choice, Dimension, Fixed, SearchSpace
from keras_hparams.trial import COMPLETED, STATUSES, Trial

# The columns of every row, around the hyperparameters (which go between "score"
# and "epochs").
LEADING_COLUMNS = ("id", "status", "score")
TRAILING_COLUMNS = ("epochs", "seconds")
_DIRECTIONS = {"min": "minimized", "max": "maximized"}


def parameter_names(space: SearchSpace, trials: Sequence[Trial]) -> list[str]:
    """Every hyperparameter name: the space's order, then any only trials know."""
    names = dict.fromkeys(space.names)
    for trial in trials:
        names.update(dict.fromkeys(trial.params))
    return list(names)


def rows(space: SearchSpace, trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """One dict per trial: id, status, score, each hyperparameter, epochs, seconds.

    A hyperparameter a trial did not use (a conditional one) is `None`. A
    hyperparameter whose name is also a fixed column is keyed `"param:<name>"`.
    """
    names = parameter_names(space, trials)
    fixed = set(LEADING_COLUMNS + TRAILING_COLUMNS)
    table = []
    for trial in trials:
        row: dict[str, Any] = {
            "id": trial.id,
            "status": trial.status,
            "score": trial.score,
        }
        for name in names:
            row[f"param:{name}" if name in fixed else name] = trial.params.get(name)
        row["epochs"] = len(trial.history)
        row["seconds"] = trial.seconds
        table.append(row)
    return table


def as_frame(table: list[dict[str, Any]]) -> Any:
    """`table` as a pandas DataFrame indexed by trial id."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            'results(as_frame=True) needs pandas: pip install "keras-hparams[pandas]"'
        ) from None
    return pd.DataFrame(table).set_index("id")


def format_table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: a header, a rule, then one line per row.

    Numbers are right-aligned; everything else is left-aligned.
    """
    cells = [[_cell(v) for v in row] for row in body]
    widths = [
        max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)
    ]
    numeric = [
        bool(body) and all(_is_number(row[i]) or row[i] is None for row in body)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = ["-" * w for w in widths]
    return "\n".join([line(list(headers)), line(rule)] + [line(r) for r in cells])


def describe(dimension: Dimension) -> tuple[str, str, str]:
    """The type, the values and the default of `dimension`, as table cells."""
    kind = type(dimension).__name__
    if isinstance(dimension, Fixed):
        return kind, format_value(dimension.value), format_value(dimension.value)
    if isinstance(dimension, Boolean):
        values = "False, True"
    elif isinstance(dimension, Choice):
        values = ", ".join(format_value(v) for v in dimension.choices)
    else:
        values = f"{format_value(dimension.low)} .. {format_value(dimension.high)}"
        if dimension.step is not None:
            values += f", step {format_value(dimension.step)}"
        if dimension.log:
            values += ", log scale"
    return kind, values, format_value(dimension.default)


def space_table(space: SearchSpace) -> str:
    """The search space as a table: name, type, values, default."""
    body = [(d.name, *describe(d)) for d in space]
    return format_table(("name", "type", "values", "default"), body)


def trials_table(
    ranked: Sequence[Trial], space: SearchSpace, objective_name: str
) -> str:
    """`ranked` trials as a table: rank, id, score, epochs, time and each value.

    A value the trial did not use (a conditional hyperparameter) shows as `-`.
    """
    names = parameter_names(space, ranked)
    headers = ["rank", "trial", objective_name, "epochs", "time", *names]
    body = [
        [
            rank,
            trial.id,
            trial.score,
            len(trial.history),
            format_seconds(trial.seconds or 0),
            *(trial.params.get(name) for name in names),
        ]
        for rank, trial in enumerate(ranked, start=1)
    ]
    return format_table(headers, body)


def summary_text(results: Any, num_trials: int = 10) -> str:
    """The summary `SearchResults.summary()` prints.

    Args:
        results: a `SearchResults` (a `Tuner` or a loaded search).
        num_trials: int, how many of the best trials to list. Defaults to `10`.
    """
    if (
        isinstance(num_trials, bool)
        or not isinstance(num_trials, int)
        or num_trials < 1
    ):
        raise ValueError(
            "summary(num_trials=...) expects a positive integer. "
            f"Received: {num_trials!r}."
        )
    trials = results.trials
    objective = results.objective
    counts = {s: sum(t.status == s for t in trials) for s in STATUSES}
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [
        f"Search in {results.project_directory}",
        f"Objective: {objective.name}, {_DIRECTIONS[objective.direction]}. "
        f"Trials: {len(trials)}" + (f" ({status})" if status else "") + ".",
    ]
    ranked = results.ranked_trials(trials)
    if ranked:
        best = ranked[0]
        lines.append(
            f"Best: trial {best.id}, {objective.name}={format_value(best.score)}."
        )
    lines += ["", f"Search space ({len(results.space)} dimensions)"]
    lines.append(space_table(results.space) if len(results.space) else "(empty)")
    shown = ranked[:num_trials]
    lines += ["", f"Top {len(shown)} of {counts[COMPLETED]} completed trials"]
    lines.append(
        trials_table(shown, results.space, objective.name) if shown else "(none yet)"
    )
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return format_value(value)

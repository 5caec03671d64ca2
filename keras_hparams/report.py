"""Tables of a search's trials and search space, as rows or plain text.

`SearchResults.results()` and `SearchResults.summary()` are built from these; the
console command `keras-hparams show` prints `summary_text`.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from keras_hparams.progress import format_seconds, format_value
from keras_hparams.space import Boolean, Choice, Dimension, Fixed, SearchSpace
from keras_hparams.trial import COMPLETED, STATUSES, Trial

# The bookkeeping columns of every row, after the score, values and metrics.
BOOKKEEPING_COLUMNS = (
    "best_epoch",
    "epochs_trained",
    "started",
    "ended",
    "seconds",
    "error",
)
DEFAULT_PREFIX = "hp_"
_DIRECTIONS = {"min": "minimized", "max": "maximized"}


def parameter_names(space: SearchSpace, trials: Sequence[Trial]) -> list[str]:
    """Every hyperparameter name: the space's order, then any only trials know."""
    names = dict.fromkeys(space.names)
    for trial in trials:
        names.update(dict.fromkeys(trial.params))
    return list(names)


def metric_names(trials: Sequence[Trial], objective_name: str) -> list[str]:
    """Every metric Keras reported in `trials`, in first-seen order, but the
    objective."""
    names: dict[str, None] = {}
    for trial in trials:
        for logs in trial.history:
            names.update(dict.fromkeys(logs))
    names.pop(objective_name, None)
    return list(names)


def rows(
    space: SearchSpace,
    trials: Sequence[Trial],
    objective_name: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    objectives: Any = None,
) -> list[dict[str, Any]]:
    """One dict per trial, in the order of `columns`.

    The objective's column is named after its metric and holds the trial's score.
    With `objectives` (an `Objectives`) of several objectives or constraints, each
    other objective and constrained quantity has a column after it (None where not
    measured), and `"front"` says whether the trial is on the Pareto front. Other
    metrics are those of the trial's best epoch. A hyperparameter a trial did not
    use (a conditional one), a metric of a trial without a best epoch, and a time
    not known yet are `None`. `best_epoch` is 0-based, as `Trial.best_epoch` and
    Keras's `EarlyStopping.best_epoch`; `started` and `ended` are timezone-aware
    datetimes, `seconds` their difference.

    Raises:
        TypeError: `prefix` is not a string.
        ValueError: a column name would be used twice.
    """
    columns = column_names(
        space, trials, objective_name, prefix=prefix, objectives=objectives
    )
    names = parameter_names(space, trials)
    quantities = _quantity_names(objectives, objective_name)
    metrics = [m for m in metric_names(trials, objective_name) if m not in quantities]
    front = {t.id for t in objectives.front(trials)} if quantities else set()
    table = []
    for trial in trials:
        best = _best_logs(trial)
        row: dict[str, Any] = {
            "id": trial.id,
            "status": trial.status,
            objective_name: trial.score,
        }
        row.update({name: _recorded(trial, name) for name in quantities})
        if quantities:
            row["front"] = trial.id in front
        row.update({prefix + name: trial.params.get(name) for name in names})
        row.update({name: best.get(name) for name in metrics})
        row.update(
            best_epoch=trial.best_epoch,
            epochs_trained=len(trial.history),
            started=_datetime(trial.started),
            ended=_datetime(trial.ended),
            seconds=trial.seconds,
            error=trial.error,
        )
        table.append({column: row[column] for column in columns})
    return table
    return table


def column_names(
    space: SearchSpace,
    trials: Sequence[Trial],
    objective_name: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    objectives: Any = None,
) -> list[str]:
    """The columns of `rows`: id, status, the objective (then the other objectives,
    constrained quantities and `front`, with several), each hyperparameter
    (`prefix` + name), each other metric, then `BOOKKEEPING_COLUMNS`."""
    if not isinstance(prefix, str):
        raise TypeError(
            "results(prefix=...) expects a string put before each hyperparameter's "
            f'name, such as "{DEFAULT_PREFIX}" or "". Received: prefix={prefix!r}.'
        )
    quantities = _quantity_names(objectives, objective_name)
    leading = ["id", "status", objective_name, *quantities]
    leading += ["front"] if quantities else []
    groups = {
        "bookkeeping": [*leading, *BOOKKEEPING_COLUMNS],
        "hyperparameter": [prefix + n for n in parameter_names(space, trials)],
        "metric": [
            m for m in metric_names(trials, objective_name) if m not in quantities
        ],
    }
    seen: dict[str, str] = {}
    for group, names in groups.items():
        for name in names:
            if name in seen:
                raise ValueError(
                    f"results(prefix={prefix!r}) would name two columns {name!r}: "
                    f"a {seen[name]} column and a {group} column. Pass a prefix "
                    f'for the hyperparameters, such as prefix="{DEFAULT_PREFIX}".'
                )
            seen[name] = group
    head = groups["bookkeeping"][: len(leading)]
    tail = groups["bookkeeping"][len(leading) :]
    return head + groups["hyperparameter"] + groups["metric"] + tail


def best_details(trial: Trial, objective: Any) -> dict[str, Any]:
    """What `keras-hparams best` prints and `export()` writes beside the model.

    `best_epoch` is 0-based (the index in the trial's history, as
    `Trial.best_epoch`); `epochs_trained` is how many epochs the trial trained.
    """
    return {
        "trial": trial.id,
        "objective": objective.get_config(),
        "score": trial.score,
        "params": trial.params,
        "best_epoch": trial.best_epoch,
        "epochs_trained": len(trial.history),
    }


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
    objectives = getattr(results, "objectives", None)
    if _quantity_names(objectives):
        return "\n".join(lines[:1] + objectives_summary(results, trials, num_trials))
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


def objectives_table(
    trials: Sequence[Trial], space: SearchSpace, objectives: Any
) -> str:
    """`trials` as a table: trial, status, each objective and constrained
    quantity, epochs, time and each value."""
    quantities = _quantity_names(objectives)
    names = parameter_names(space, trials)
    headers = ["trial", "status", *quantities, "epochs", "time", *names]
    body = [
        [
            trial.id,
            trial.status,
            *(_recorded(trial, name) for name in quantities),
            len(trial.history),
            format_seconds(trial.seconds or 0),
            *(trial.params.get(name) for name in names),
        ]
        for trial in trials
    ]
    return format_table(headers, body)


def objectives_summary(
    results: Any, trials: Sequence[Trial], num_trials: int
) -> list[str]:
    """The lines of a summary with several objectives or constraints: the
    objectives, the Pareto front (the best trial, with one objective), the
    search space, then the best-ranked trials."""
    objectives = results.objectives
    counts = {s: sum(t.status == s for t in trials) for s in STATUSES}
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    front = objectives.front(trials)
    goals = ", ".join(
        f"{o.name}, {_DIRECTIONS[o.direction]}" for o in objectives.objectives
    )
    limits = ", ".join(str(c) for c in objectives.constraints)
    lines = [
        f"Objectives: {goals}. "
        + (f"Constraints: {limits}. " if limits else "")
        + f"Trials: {len(trials)}"
        + (f" ({status})" if status else "")
        + ".",
        "",
        f"Pareto front ({len(front)} trials)" if objectives.multi else "Best trial",
        objectives_table(front, results.space, objectives) if front else "(none yet)",
        "",
        f"Search space ({len(results.space)} dimensions)",
        space_table(results.space) if len(results.space) else "(empty)",
    ]
    ranked = objectives.ranked(trials)[:num_trials]
    lines += ["", f"Top {len(ranked)} of {counts[COMPLETED]} completed trials"]
    if ranked:
        lines.append(objectives_table(ranked, results.space, objectives))
    else:
        lines.append("(none yet)")
    return lines


def _quantity_names(objectives: Any, but: str | None = None) -> list[str]:
    """The objectives' and constrained quantities' names (but `but`), or [] for a
    search of one metric."""
    if objectives is None or objectives.simple:
        return []
    return [q for q in objectives.quantities() if q != but]


def _recorded(trial: Trial, name: str) -> Any:
    from keras_hparams.objectives import recorded

    if "objectives" not in trial.extra and "constraints" not in trial.extra:
        return None
    return recorded(trial, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return format_value(value)


def _best_logs(trial: Trial) -> dict[str, float]:
    if trial.best_epoch is None or trial.best_epoch >= len(trial.history):
        return {}
    return trial.history[trial.best_epoch]


def _datetime(seconds: float | None) -> datetime.datetime | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds).astimezone()

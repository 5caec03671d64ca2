"""How a search shows itself: `repr(tuner)` in a console, a table in a notebook.

Both list the trial counts by status, the best score and the best few trials. They
read the trial database once, and never raise: a search whose database cannot be
read shows its class and folder only.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

from keras_hparams.progress import format_seconds, format_value
from keras_hparams.report import parameter_names, trials_table
from keras_hparams.trial import STATUSES

TOP_TRIALS = 5


def text(results: Any) -> str:
    """The `__repr__` of a `SearchResults`: a heading and the top trials."""
    try:
        heading, ranked = _heading(results)
    except Exception:  # repr must not raise, whatever state the search is in
        return _fallback(results)
    if not ranked:
        return heading + "\nNo completed trial yet."
    shown = ranked[:TOP_TRIALS]
    table = trials_table(shown, results.space, results.objective.name)
    return f"{heading}\nTop {len(shown)} of {len(ranked)} completed trials:\n{table}"


def html(results: Any) -> str:
    """The `_repr_html_` of a `SearchResults`: the same as `text`, as HTML."""
    try:
        heading, ranked = _heading(results)
    except Exception:
        return f"<pre>{html_lib.escape(_fallback(results))}</pre>"
    lines = "".join(
        f"<div>{html_lib.escape(line)}</div>" for line in heading.split("\n")
    )
    if not ranked:
        return f"<div>{lines}<div>No completed trial yet.</div></div>"
    shown = ranked[:TOP_TRIALS]
    caption = f"Top {len(shown)} of {len(ranked)} completed trials"
    return f"<div>{lines}{_html_table(shown, results, caption)}</div>"


def _heading(results: Any) -> tuple[str, list]:
    """The heading lines and the ranked completed trials, from one read."""
    trials = results.trials
    ranked = results.ranked_trials(trials)
    objective = results.objective
    counts = {s: sum(t.status == s for t in trials) for s in STATUSES}
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [
        f"{type(results).__name__} in {results.project_directory}",
        f"Objective: {objective.name} ({objective.direction}). "
        f"Trials: {len(trials)}" + (f" ({status})" if status else "") + ".",
    ]
    if ranked:
        best = ranked[0]
        lines.append(
            f"Best: trial {best.id}, {objective.name}={format_value(best.score)}."
        )
    return "\n".join(lines), ranked


def _html_table(shown: list, results: Any, caption: str) -> str:
    names = parameter_names(results.space, shown)
    headers = ["rank", "trial", results.objective.name, "best epoch", "time", *names]
    body = [
        [
            rank,
            trial.id,
            trial.score,
            trial.best_epoch,
            format_seconds(trial.seconds or 0),
            *(trial.params.get(name) for name in names),
        ]
        for rank, trial in enumerate(shown, start=1)
    ]
    head = "".join(f"<th>{html_lib.escape(str(h))}</th>" for h in headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(v)}</td>" for v in row) + "</tr>"
        for row in body
    )
    return (
        f"<table><caption>{html_lib.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _html_cell(value: Any) -> str:
    return "-" if value is None else html_lib.escape(format_value(value))


def _fallback(results: Any) -> str:
    folder = getattr(results, "project_directory", None)
    return f"<{type(results).__name__} {folder}>"

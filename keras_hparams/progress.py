"""One line per trial: number, score, best so far, values, time spent and left.

Plain lines rather than a live display, so that logs written to a file or a CI console
read the same as a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from keras_hparams.trial import COMPLETED, PRUNED, Trial


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of `text` (where an error says what went wrong),
    cut at `limit` characters; the stored error keeps all of it."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    more = len(lines) > 1 or len(line) > limit
    return line[:limit] + (" [...]" if more else "")


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Prints the search's progress to `stream` unless `verbose` is 0."""

    def __init__(self, verbose: int, max_trials: int, stream: Any = None) -> None:
        self.verbose = verbose
        self.max_trials = max_trials
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.trials_run = 0

    def print(self, message: str) -> None:
        if self.verbose:
            print(message, file=self.stream, flush=True)

    def trial_started(self, trial: Trial, values: bool = True) -> None:
        """The trial's values, or (`values=False`, a trial sent to a worker before
        its build shows which values it uses) only that it started."""
        started = f"Trial {trial.id}/{self.max_trials} {_run_words(trial)}"
        if self.verbose and not values:
            self.print(started)
        elif self.verbose:
            self.print(f"{started}: {format_params(trial.params) or 'the defaults'}")

    def trial_ended(
        self,
        trial: Trial,
        best: Trial | None,
        objective: str,
        values: bool = False,
        front: list[Trial] | None = None,
    ) -> None:
        """The outcome, the best so far (with several objectives, the size of the
        Pareto `front`), the time; with `values`, the values the trial used."""
        self.trials_run += 1
        if not self.verbose:
            return
        elapsed = time.monotonic() - self.started
        left = (self.max_trials - trial.id) * elapsed / self.trials_run
        budget = "budget" in trial.extra  # a multi-fidelity run
        epochs = f" after {_epochs(len(trial.history))}" if budget else ""
        if trial.status == COMPLETED and "objectives" in trial.extra:
            outcome = format_params(trial.extra["objectives"])
        elif trial.status == COMPLETED:
            outcome = f"{objective}={format_value(trial.score)}{epochs}"
        elif trial.status == PRUNED and epochs:  # a multi-fidelity run below the top
            outcome = f"PRUNED{epochs}: {objective}={format_value(trial.score)}"
        else:
            outcome = f"{trial.status.upper()}: {first_line(trial.error or '')}"
        best_text = (
            f"best {format_value(best.score)} (trial {best.id})"
            if best is not None
            else "no completed trial yet"
        )
        if front:
            best_text = f"front: {len(front)} trials {[t.id for t in front]}"
        if values:
            outcome += f" ({format_params(trial.params) or 'the defaults'})"
        self.print(
            f"Trial {trial.id}/{self.max_trials} {outcome} in "
            f"{format_seconds(trial.seconds or 0)} | {best_text} | "
            f"elapsed {format_seconds(elapsed)}, "
            f"about {format_seconds(max(left, 0))} left"
        )


def _run_words(trial: Trial) -> str:
    """ "started", or with a multi-fidelity budget, the run's epochs: "started for 3
    epochs", "continues from epoch 3 to 9"."""
    budget = trial.extra.get("budget")
    if budget is None:
        return "started"
    if trial.history:
        return f"continues from epoch {len(trial.history)} to {budget}"
    return f"started for {_epochs(budget)}"


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"

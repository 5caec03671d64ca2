"""Hooks called around each trial of a search, for trackers such as MLflow.

Keras callbacks see one `fit` from inside; a `TrialCallback` sees the search from
outside: when it starts, each trial as it starts and once it is recorded, and the
end. The tuner calls them in the process that drives the search (also when trials
run in worker processes or on a Dask cluster), so a callback may hold open
connections and needs no pickling.
"""

from __future__ import annotations

from typing import Any

from keras_hparams.trial import Trial


class TrialCallback:
    """Base class of the hooks `kh.Tuner(trial_callbacks=[...])` calls.

    Every method does nothing by default; override the ones you need. `search` is
    the `kh.Tuner` (a `SearchResults`: `project_directory`, `objective`, `space`,
    `trials`, `best_trial`, `best_model()`); `trial` is a `kh.Trial`.

    Order: `on_search_begin`, then for each trial `on_trial_begin` (its values are
    set, its status is `"running"`) and `on_trial_end` (its row and its checkpoint
    are written: status, score, per-epoch `history`, `error`), then
    `on_search_end`. With several workers, trials overlap: the begin of one trial
    may come between the begin and end of another.

    Example:

    ```python
    class PrintScores(kh.TrialCallback):
        def on_trial_end(self, search, trial):
            print(trial.id, trial.status, trial.score)

    tuner = kh.Tuner(build_model, trial_callbacks=[PrintScores()])
    ```
    """

    def on_search_begin(self, search: Any) -> None:
        """Called once when `search()` starts, before the first trial."""

    def on_trial_begin(self, search: Any, trial: Trial) -> None:
        """Called when `trial` starts, with its values."""

    def on_trial_end(self, search: Any, trial: Trial) -> None:
        """Called once `trial` is finished and recorded."""

    def on_search_end(self, search: Any) -> None:
        """Called once when `search()` returns (also after a stop or an error)."""

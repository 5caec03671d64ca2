"""Read access to a search's trials, shared by `kh.Tuner` and a reopened search."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras

from keras_hparams.objective import Objective
from keras_hparams.space import SearchSpace
from keras_hparams.trial import COMPLETED, Trial


class SearchResults:
    """The results of the search stored in `project_directory`.

    Subclasses provide `trials` and `best_model()`; everything else derives from them.

    Attributes:
        project_directory: Path of the project folder.
        objective: the search's `Objective`.
        space: the `SearchSpace` found so far.
    """

    project_directory: Path
    objective: Objective
    space: SearchSpace

    @property
    def trials(self) -> list[Trial]:
        """Every trial of the project, by id, as stored."""
        raise NotImplementedError

    def best_model(self) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled."""
        raise NotImplementedError

    @property
    def best_trial(self) -> Trial:
        """The completed trial with the best score (the earliest among equals)."""
        ranked = self.ranked_trials()
        if not ranked:
            raise RuntimeError(
                f"No completed trial in {self.project_directory} yet: "
                "run search() first."
            )
        return ranked[0]

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's values, by hyperparameter name."""
        return dict(self.best_trial.params)

    @property
    def best_score(self) -> float:
        """The best trial's score: its best epoch's value of the objective."""
        return self.best_trial.score

    def ranked_trials(self, trials: list[Trial] | None = None) -> list[Trial]:
        """Completed trials, best first (the earliest among equal scores)."""
        trials = self.trials if trials is None else trials
        completed = [t for t in trials if t.status == COMPLETED]
        sign = 1 if self.objective.direction == "min" else -1
        return sorted(completed, key=lambda t: (sign * t.score, t.id))

    def export(self, path: str | os.PathLike) -> Path:
        """Writes the best model to a `.keras` file that plain Keras loads.

        The best values are written beside it as `<name>.params.json`.

        Args:
            path: str or path ending in `.keras`.

        Returns:
            The path written.
        """
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(
                f"export() writes a .keras file. Received: path={str(path)!r}."
            )
        trial = self.best_trial
        self.best_model().save(path)
        details = {
            "trial": trial.id,
            "objective": self.objective.get_config(),
            "score": trial.score,
            "params": trial.params,
        }
        path.with_suffix(".params.json").write_text(json.dumps(details, indent=2))
        return path

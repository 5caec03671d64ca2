"""The callback the tuner adds to each trial's `fit`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras

from keras_hparams.errors import ObjectiveNotFoundError
from keras_hparams.objective import Objective


class TrialRecorder(keras.callbacks.Callback):
    """Records each epoch's metrics, keeps the best epoch's weights, stops on NaN.

    Keeping the best weights in memory and writing them once at the trial's end costs
    one copy per improving epoch instead of one file per epoch.

    Args:
        objective: the search's Objective.
        keep_weights: bool, whether to copy the weights at each improving epoch.
        prune: None, or `prune(values) -> bool`: asked at each epoch's end with the
            objective's value at every epoch so far; `True` stops the training.
        on_epoch: None, or `on_epoch(recorder)`, called after each recorded epoch
            (the runner saves the trial's progress there).
        required: names of other metrics the logs must hold (more objectives,
            constraints on metrics).
    """

    def __init__(
        self,
        objective: Objective,
        keep_weights: bool = True,
        prune: Callable[[list[float]], bool] | None = None,
        on_epoch: Callable[[TrialRecorder], None] | None = None,
        required: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.objective = objective
        self.keep_weights = keep_weights
        self.prune = prune
        self.on_epoch = on_epoch
        self.required = required
        self.pruned_at: int | None = None
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.best_weights: list[Any] | None = None
        self.diverged: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items() if _is_scalar(v)}
        name = self.objective.name
        for required in (name, *self.required):
            if required not in logs:
                raise ObjectiveNotFoundError(
                    f"The objective {required!r} is not among the metrics the model "
                    f"reports: {sorted(logs)}. Choose one of these, or pass "
                    "validation_data or validation_split to get the val_ metrics."
                )
        self.history.append(logs)
        for key in dict.fromkeys(("loss", name)):
            if key in logs and not math.isfinite(logs[key]):
                self.diverged = f"{key} became {logs[key]} at epoch {epoch + 1}"
                self.model.stop_training = True
                return
        best = self.best_epoch
        if best is None or self.objective.better(logs[name], self.history[best][name]):
            self.best_epoch = len(self.history) - 1
            if self.keep_weights:
                self.best_weights = self.model.get_weights()
        if self.prune is not None and self.prune([h[name] for h in self.history]):
            self.pruned_at = epoch + 1
            self.model.stop_training = True
        if self.on_epoch is not None:
            self.on_epoch(self)

    def restore(self, state: dict[str, Any]) -> None:
        """Continues from a trial's saved progress (see checkpoints.load_progress)."""
        self.history = list(state["history"])
        self.best_epoch = state["best_epoch"]
        self.best_weights = state["best_weights"]


def _is_scalar(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True

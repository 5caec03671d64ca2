"""Training one trial's model: one `fit`, or one per cross-validation fold and run.

`Training` knows the objective, the per-trial callbacks, the deadline and the pruner. It
writes what the training produced into the trial (status, score, best epoch, history)
and hands back the best epoch's model; recording is the search loop's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_hparams import checkpoints, interrupts
from keras_hparams.callbacks import for_trial as trial_callbacks
from keras_hparams.errors import FailedTrialError
from keras_hparams.fit_arguments import FitPlan
from keras_hparams.objective import Objective
from keras_hparams.recorder import TrialRecorder
from keras_hparams.space import SearchSpace
from keras_hparams.trial import COMPLETED, PRUNED, TIMED_OUT, Trial


class Deadline(keras.callbacks.Callback):
    """Stops training after the batch during which `deadline` (monotonic) passes."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.reached = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.reached = True
            self.model.stop_training = True


@dataclasses.dataclass
class Training:
    """Trains a trial's model(s) and scores them.

    Attributes:
        objective: the search's Objective.
        keep_weights: whether to keep the best epoch's weights (for checkpoints).
        timeout: seconds per trial, or None.
        prune: None, or `prune(values) -> bool`, asked at each epoch's end of a
            single-run trial with the objective's values so far.
        save_every: seconds between saves of a single-run trial's progress (at an
            epoch's end), or None for none.
        resume: the saved progress to continue from (checkpoints.load_progress).
        fit: None, or `fit(model, *args, **kwargs)` to call instead of `model.fit`
            (a KerasTuner-style `HyperModel.fit`).
        space: the search space, for the TensorBoard HParams domains.
        required: the other metrics the model must report (more objectives,
            constraints): checked at the first epoch's end.
        epochs: None, or the epochs to train the trial to, in all (a
            multi-fidelity run's budget), instead of the fit arguments' `epochs`.
        save_at_end: bool, whether to save the trial's progress when its fit
            ends (a multi-fidelity search may continue it).
    """

    objective: Objective
    keep_weights: bool = True
    timeout: float | None = None
    prune: Callable[[list[float]], bool] | None = None
    save_every: float | None = None
    resume: dict[str, Any] | None = None
    fit: Callable[..., Any] | None = None
    space: SearchSpace | None = None
    required: tuple[str, ...] = ()
    epochs: int | None = None
    save_at_end: bool = False

    def run(
        self,
        trial: Trial,
        model: keras.Model,
        rebuild: Callable[[], keras.Model],
        plan: FitPlan,
        project_directory: Path,
    ) -> keras.Model | None:
        """Trains and scores `trial`, filling in its status, score, best epoch,
        history and extra; returns the best epoch's model (None without weights).

        While it trains, `trial.history` is the epochs of the fit in progress, so a
        trial that fails or is interrupted keeps them.
        """
        deadline = time.monotonic() + self.timeout if self.timeout else None
        calls = plan.calls(trial.params)
        recorders, best_model, timed_out = [], None, False
        for index, (args, kwargs) in enumerate(calls):
            model = model if index == 0 else rebuild()
            single = len(calls) == 1
            recorder = TrialRecorder(
                self.objective,
                keep_weights=self.keep_weights,
                prune=self.prune if single else None,
                on_epoch=self._saver(model, trial.id, project_directory)
                if single and self.save_every is not None
                else None,
                required=self.required,
            )
            if self.epochs is not None:
                kwargs = {**kwargs, "epochs": self.epochs}
            if single and self.resume is not None:
                kwargs = self._restore(model, recorder, kwargs)
            trial.history = recorder.history
            extra_callbacks = [recorder, interrupts.SafePoint()]
            if deadline is not None:
                extra_callbacks.append(Deadline(deadline))
            # A run whose saved state already has all its epochs (killed after
            # saving it, before its end was recorded) has nothing left to fit.
            if kwargs.get("initial_epoch", 0) < kwargs.get("epochs", 1):
                callbacks = trial_callbacks(
                    plan.callbacks, trial, self.objective, self.space
                )
                fit = model.fit if self.fit is None else partial(self.fit, model)
                fit(*args, **kwargs, callbacks=callbacks + extra_callbacks)
            if recorder.diverged:
                raise FailedTrialError(f"Training diverged: {recorder.diverged}.")
            if single and self.save_at_end:
                self._save(model, trial.id, project_directory, recorder)
            if recorder.best_epoch is not None and (
                best_model is None or self._beats(recorder, recorders)
            ):
                best_model = _with_best_weights(model, recorder)
            recorders.append(recorder)
            timed_out = deadline is not None and extra_callbacks[-1].reached
            if timed_out:
                break
        self._score(trial, recorders, timed_out, len(calls))
        return best_model

    def _saver(
        self, model: keras.Model, trial_id: int, project_directory: Path
    ) -> Callable[[TrialRecorder], None]:
        last_save = time.monotonic()

        def save(recorder: TrialRecorder) -> None:
            nonlocal last_save
            if time.monotonic() - last_save >= self.save_every:
                self._save(model, trial_id, project_directory, recorder)
                last_save = time.monotonic()

        return save

    @staticmethod
    def _save(
        model: keras.Model, trial_id: int, project: Path, recorder: TrialRecorder
    ) -> None:
        checkpoints.save_progress(
            model,
            project,
            trial_id,
            recorder.history,
            recorder.best_epoch,
            recorder.best_weights,
        )

    def _restore(self, model, recorder, kwargs) -> dict[str, Any]:
        """Loads the saved progress; the fit goes on from the next epoch."""
        checkpoints.load_weights(model, self.resume["model"])
        recorder.restore(self.resume)
        return {**kwargs, "initial_epoch": self.resume["epochs"]}

    def _beats(self, recorder: TrialRecorder, others: list[TrialRecorder]) -> bool:
        return all(
            self.objective.better(
                _best_value(recorder, self.objective), _best_value(o, self.objective)
            )
            for o in others
            if o.best_epoch is not None
        )

    def _score(self, trial: Trial, recorders, timed_out: bool, planned: int) -> None:
        name = self.objective.name
        scores = [
            _best_value(r, self.objective)
            for r in recorders
            if r.best_epoch is not None
        ]
        if not scores:
            raise FailedTrialError(
                f"No epoch reported a finite {name} (did fit run any epoch?)."
            )
        extra: dict[str, Any] = {}
        status = COMPLETED
        if timed_out:
            status = TIMED_OUT
            extra["timeout"] = self.timeout
        elif recorders[0].pruned_at is not None:
            status = PRUNED
            extra["pruned_at"] = recorders[0].pruned_at
        if planned > 1:
            extra["scores"] = scores
            extra["score_std"] = float(np.std(scores))
        best_epochs = [r.best_epoch for r in recorders if r.best_epoch is not None]
        trial.status, trial.score = status, float(np.mean(scores))
        trial.best_epoch = int(round(np.mean(best_epochs)))
        trial.history = _mean_history(recorders)
        trial.extra = {**trial.extra, **extra}


def _best_value(recorder: TrialRecorder, objective: Objective) -> float:
    return recorder.history[recorder.best_epoch][objective.name]


def _with_best_weights(
    model: keras.Model, recorder: TrialRecorder
) -> keras.Model | None:
    if recorder.best_weights is None:
        return None
    model.set_weights(recorder.best_weights)
    recorder.best_weights = None  # the model holds them now
    return model


def _mean_history(recorders: list[TrialRecorder]) -> list[dict[str, float]]:
    """Each epoch's metrics averaged over the runs that reached that epoch."""
    if len(recorders) == 1:
        return recorders[0].history
    epochs = max(len(r.history) for r in recorders)
    history = []
    for epoch in range(epochs):
        logs = [r.history[epoch] for r in recorders if len(r.history) > epoch]
        keys = set.intersection(*(set(log) for log in logs))
        history.append(
            {k: float(np.mean([log[k] for log in logs])) for k in sorted(keys)}
        )
    return history

"""The user's callbacks, prepared for one trial."""

from __future__ import annotations

import copy
from pathlib import Path

import keras

from keras_hparams.trial import Trial


def for_trial(
    callbacks: list[keras.callbacks.Callback], trial: Trial, project_directory: Path
) -> list[keras.callbacks.Callback]:
    """Fresh copies of `callbacks` for `trial`, so no state leaks between trials."""
    return [copy.deepcopy(callback) for callback in callbacks]

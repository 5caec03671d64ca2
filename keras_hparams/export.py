"""Writing the best model for use without keras-hparams.

Two formats: a `.keras` file (`keras.models.load_model` reads it) and a TensorFlow
SavedModel folder for TF Serving (Keras's `model.export`). Each export writes the best
values beside the model as `<name>.params.json`, so the choice can be reproduced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_hparams.space import Dimension
from keras_hparams.trial import Trial

if TYPE_CHECKING:  # imported where used: `keras-hparams --help` needs no TensorFlow
    import keras

FORMATS = ("keras", "saved_model")
# Tuned fit arguments a retrain does not reuse: it trains on all the data it is given,
# for the epochs that made the best trial's score.
_NOT_REUSED = {"epochs", "validation_split", "validation_data", "validation_freq"}


def resolve_format(path: Path, format: str | None) -> str:
    """The export format for `path`: `format`, or else the one its suffix implies.

    A path ending in `.keras` is a Keras file; a path without suffix a SavedModel
    folder.
    """
    if format is None:
        if path.suffix == ".keras":
            return "keras"
        if path.suffix == "":
            return "saved_model"
        raise ValueError(
            f"By default, export() writes a .keras file. Received: path={str(path)!r}. "
            "Pass a path ending in .keras, or a folder path without suffix (or "
            "format='saved_model') for a SavedModel for TF Serving."
        )
    if format not in FORMATS:
        raise ValueError(
            f"export(format=...) expects one of {FORMATS}. Received: format={format!r}."
        )
    if format == "keras" and path.suffix != ".keras":
        raise ValueError(
            "export(format='keras') writes a .keras file. "
            f"Received: path={str(path)!r}, which does not end in .keras."
        )
    return format


def details_path(path: Path, format: str) -> Path:
    """Where the best values go: `best.keras` -> `best.params.json`, `serve/1` ->
    `serve/1.params.json` (beside the SavedModel folder, not inside it)."""
    name = path.name[: -len(".keras")] if format == "keras" else path.name
    return path.with_name(name + ".params.json")


def save(model: keras.Model, path: Path, format: str) -> None:
    """Writes `model` to `path` in `format` (see `FORMATS`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "keras":
        model.save(path)
    else:
        model.export(str(path), format="tf_saved_model", verbose=False)


def write_details(path: Path, format: str, details: dict[str, Any]) -> Path:
    """Writes `details` (trial, objective, score, values) as JSON beside the model."""
    target = details_path(path, format)
    target.write_text(json.dumps(details, indent=2) + "\n")
    return target


def retrain(
    builder: Any,
    trial: Trial,
    fit_args: Sequence[Any],
    fit_kwargs: dict[str, Any],
    *,
    seed: int | None = None,
) -> tuple[keras.Model, int]:
    """Builds a fresh model with `trial`'s values and fits it on the data given.

    The tuned fit arguments (a tuned `batch_size`, say) are reused unless given
    again; validation arguments are not, and `epochs` defaults to the epochs that
    made the trial's score (its best epoch + 1).

    Args:
        builder: the search's builder (`@kh.tunable` function or `kh.TunableModel`).
        trial: the trial whose values to train.
        fit_args, fit_kwargs: arguments of `model.fit`: the data, and any settings.
        seed: int or None, seeds Keras before building, for a reproducible model.

    Returns:
        The trained model and the number of epochs it was trained for.
    """
    import keras

    from keras_hparams.fit_arguments import FIT_PARAMETERS
    from keras_hparams.tunable import BuildContext

    fit_kwargs = dict(fit_kwargs)
    _check_fit_arguments(fit_args, fit_kwargs)
    tuned = {
        name: value
        for name, value in trial.params.items()
        if name in FIT_PARAMETERS and name not in _NOT_REUSED
    }
    fit_kwargs = {**tuned, **fit_kwargs}
    if "epochs" not in fit_kwargs:
        fit_kwargs["epochs"] = (
            trial.best_epoch + 1 if trial.best_epoch is not None else len(trial.history)
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = builder.build_in(BuildContext(builder.space, trial.params))
    model.fit(*fit_args, **fit_kwargs)
    return model, int(fit_kwargs["epochs"])


def _check_fit_arguments(fit_args: Sequence[Any], fit_kwargs: dict[str, Any]) -> None:
    from keras_hparams.fit_arguments import FIT_PARAMETERS

    if not fit_args and fit_kwargs.get("x") is None:
        raise ValueError(
            "export(retrain=True) trains on the data passed to it, as model.fit does: "
            "export(path, x, y, retrain=True). Received no x."
        )
    unknown = sorted(set(fit_kwargs) - FIT_PARAMETERS)
    if unknown:
        raise TypeError(
            "export(retrain=True) takes the arguments of model.fit. Received unknown: "
            f"{unknown}. Accepted: {sorted(FIT_PARAMETERS)}."
        )
    for name, value in fit_kwargs.items():
        if isinstance(value, Dimension):
            raise ValueError(
                f"export(retrain=True) trains with the best values, so it takes no "
                f"markers. Received: {name}={value!r}."
            )

"""Writing the best model for use without keras-hparams.

Two formats: a `.keras` file (`keras.models.load_model` reads it) and a TensorFlow
SavedModel folder for TF Serving (Keras's `model.export`). Each export writes the best
values beside the model as `<name>.params.json`, so the choice can be reproduced.
"""

from __future__ import annotations

import inspect
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_hparams.space import CURRENT_CONTEXT, Dimension, SearchSpace
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
    """Writes `model` to `path` in `format` (see `FORMATS`).

    A `.keras` file is loaded back here once, to be sure that plain Keras can
    rebuild it: a model whose code calls markers while Keras rebuilds it (in a
    custom layer's `__init__`, say) is refused, and the file removed.

    Warns:
        UserWarning: the model uses a class defined in `__main__`, which
            `keras.models.load_model` finds in no other program; or the file does
            not load back in this process.

    Raises:
        ValueError: loading the file calls markers, or Keras cannot save the
            model whole (a class without `get_config`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if format != "keras":
        model.export(str(path), format="tf_saved_model", verbose=False)
        return
    _warn_about_main_classes(model, path)
    try:
        model.save(path)
    except NotImplementedError as error:  # Keras: "must override get_config()"
        path.unlink(missing_ok=True)
        raise ValueError(
            f"Cannot export {path}: Keras cannot save {type(model).__name__} whole "
            f"({_first_sentence(error)})"
            f"{_without_config_advice(model) or '.'}"
        ) from None
    _load_back(model, path)


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
    context = BuildContext(builder.space, trial.params)
    model = builder.build_in(context)
    if hasattr(builder, "fit_model"):  # a KerasTuner hypermodel with its own fit
        with context.activate():
            builder.fit_model(model, *fit_args, **fit_kwargs)
    else:
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


def _warn_about_main_classes(model: keras.Model, path: Path) -> None:
    names = sorted({c.__qualname__ for c in _user_classes(model) if _in_main(c)})
    if names:
        warnings.warn(
            f"The model exported to {path} uses {', '.join(names)}, defined in "
            "__main__ (the script that ran the search), so keras.models.load_model "
            "finds it in no other program. Move the class to a module, decorate it "
            "with @keras.saving.register_keras_serializable(), and import that "
            "module before loading the file.",
            UserWarning,
            stacklevel=4,
        )


def _user_classes(model: keras.Model) -> list[Any]:
    """The classes (and functions) of the model, its layers (nested ones too), its
    loss, metrics and optimizer that come from neither Keras nor Python."""
    import keras

    objects: list[Any] = list(model._flatten_layers(include_self=True))
    compiled = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    objects += keras.tree.flatten(dict(compiled))
    found = []
    for obj in objects:
        target = obj if inspect.isroutine(obj) or isinstance(obj, type) else type(obj)
        module = getattr(target, "__module__", None) or "builtins"
        if module.split(".")[0] not in ("keras", "builtins", "tensorflow", "numpy"):
            found.append(target)
    return list(dict.fromkeys(found))


def _in_main(target: Any) -> bool:
    return target.__module__ == "__main__"


class _MarkerProbe:
    """Stands for a build while the exported file loads back: a marker called then
    belongs to code that Keras runs to rebuild the model."""

    def __init__(self) -> None:
        self.space = SearchSpace()
        self.active: dict[str, Any] = {}
        self.inactive: set[str] = set()
        self.calls: list[tuple[Dimension, str]] = []

    def resolve(self, dimension: Dimension) -> Any:
        self.calls.append((dimension, _calling_layer_method()))
        return dimension.default


def _calling_layer_method() -> str:
    """`"Block.__init__"` for the innermost layer method on the stack."""
    import keras

    frame = sys._getframe(2)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.layers.Layer):
            return f"{type(owner).__qualname__}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "code Keras runs while loading"


def _load_back(model: keras.Model, path: Path) -> None:
    import keras

    probe, failure = _MarkerProbe(), None
    token = CURRENT_CONTEXT.set(probe)
    try:
        custom = {c.__name__: c for c in _user_classes(model)}
        with warnings.catch_warnings(), keras.saving.custom_object_scope(custom):
            warnings.simplefilter("ignore")  # Keras's notes on the copy we discard
            keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - reported below, with the file kept
        failure = error
    finally:
        CURRENT_CONTEXT.reset(token)
    if probe.calls:
        path.unlink()
        raise ValueError(_markers_on_load_message(path, probe.calls))
    if failure is not None:
        warnings.warn(
            f"export() wrote {path}, but keras.models.load_model could not read it "
            f"back in this process: {type(failure).__name__}: {str(failure)[:1000]}"
            f"{_without_config_advice(model)}",
            UserWarning,
            stacklevel=4,
        )


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text.split(". ")[0][:300]


def _without_config_advice(model: keras.Model) -> str:
    """What to do about the model's own classes that have no `get_config`."""
    import keras

    bases = (keras.Model, keras.layers.Layer)
    missing = [
        c.__name__
        for c in _user_classes(model)
        if isinstance(c, type)
        and issubclass(c, bases)
        and any(c.get_config is base.get_config for base in bases)
    ]
    if not missing:
        return ""
    return (
        f". {', '.join(missing)} has no get_config() of its own, so Keras cannot "
        "rebuild it from the file (it guesses the constructor's arguments). Give it "
        "a get_config() that returns them and decorate it with "
        "@keras.saving.register_keras_serializable(); or keep the weights alone "
        "(tuner.best_model().save_weights('best.weights.h5')) and rebuild the model "
        "in your code before load_weights."
    )


def _markers_on_load_message(path: Path, calls: list[tuple[Dimension, str]]) -> str:
    places = sorted({place for _, place in calls})
    markers = ", ".join(dict.fromkeys(repr(d) for d, _ in calls))
    owner = places[0].split(".")[0]
    return (
        f"Cannot export {path}: Keras rebuilds the model from the file by running "
        f"{', '.join(places)}, which calls markers ({markers}). Outside a search "
        "a marker has no trial value, so the file would not load (or would load with "
        "other values). Make each value a constructor argument: call the marker "
        f"where the layer is made (`{owner}(units=kh.Int('units', 8, 64))` in the "
        f"build function), take it as an argument of {owner}.__init__, and return "
        "it from get_config()."
    )

"""What `search()` takes: `model.fit`'s arguments, checked, the tuned ones split off.

`FitPlan.calls(params)` gives the `fit` calls of one trial: one, or one per
cross-validation fold, each repeated `executions` times.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Any

import keras
import numpy as np

from keras_hparams import fit_data
from keras_hparams.checks import is_int
from keras_hparams.space import Dimension, SearchSpace

FIT_PARAMETERS = set(inspect.signature(keras.Model.fit).parameters) - {"self"}
_UNTUNABLE = {"x", "y", "validation_data", "callbacks", "sample_weight", "class_weight"}
_DATA = ("x", "y", "sample_weight")
_POSITIONAL = [
    name
    for name, parameter in inspect.signature(keras.Model.fit).parameters.items()
    if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
]
# Data that may be given as a function without arguments that returns it.
_DATA_FUNCTIONS = ("x", "y", "validation_data")
# Fixed fit arguments that change what a score means: a resume must keep them.
SCORING_ARGUMENTS = (
    "epochs",
    "batch_size",
    "validation_split",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_freq",
)


@dataclasses.dataclass
class FitPlan:
    """The checked arguments of `search()`.

    Attributes:
        space: the tuned `fit` arguments, as dimensions.
        args, kwargs: the fixed `fit` arguments (callbacks removed).
        callbacks: the user's callbacks, copied for each trial.
        folds: None, or the (train, validation) index arrays of each fold.
        executions: trainings of each fold (or of the whole data).
    """

    space: SearchSpace
    args: tuple
    kwargs: dict[str, Any]
    callbacks: list[keras.callbacks.Callback]
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None
    executions: int = 1
    keywords: dict[str, str] = dataclasses.field(default_factory=dict)
    """The `fit` keyword of each tuned dimension, by dimension name."""

    @property
    def runs(self) -> int:
        return (len(self.folds) if self.folds else 1) * self.executions

    def materialized(self) -> FitPlan:
        """This plan with data given as functions (`x=make_dataset`) made.

        A data pipeline that cannot be pickled (a `tf.data.Dataset`) reaches a
        worker process as a function without arguments; each worker calls it once.
        """
        args = tuple(
            _made(name, value) if name in _DATA_FUNCTIONS else value
            for name, value in zip(_POSITIONAL, self.args, strict=False)
        ) + tuple(self.args[len(_POSITIONAL) :])
        kwargs = {
            name: _made(name, value) if name in _DATA_FUNCTIONS else value
            for name, value in self.kwargs.items()
        }
        return dataclasses.replace(self, args=args, kwargs=kwargs)

    def scoring_arguments(self) -> dict[str, Any]:
        """The fixed `fit` arguments that give a score its meaning (epochs,
        batch_size...), for a resume to compare."""
        values = {name: _plain(self.kwargs.get(name)) for name in SCORING_ARGUMENTS}
        return {name: value for name, value in values.items() if _is_plain(value)}

    def calls(self, params: dict[str, Any]) -> list[tuple[tuple, dict[str, Any]]]:
        """The `(args, kwargs)` of each `fit` call of a trial with `params`."""
        tuned = {self.keywords.get(n, n): params[n] for n in self.space.names}
        kwargs = {**self.kwargs, **tuned}
        if not self.folds:
            return [(self.args, kwargs)] * self.executions
        data = dict(zip(_DATA, self.args, strict=False))
        data.update({k: kwargs.pop(k) for k in _DATA if k in kwargs})
        calls = []
        for train, held_out in self.folds:
            fold = {
                k: keras.tree.map_structure(lambda a, i=train: a[i], v)
                for k, v in data.items()
            }
            validation = tuple(
                keras.tree.map_structure(lambda a, i=held_out: a[i], data[k])
                for k in _DATA
                if k in data
            )
            calls.append(((), {**kwargs, **fold, "validation_data": validation}))
        return [call for call in calls for _ in range(self.executions)]


def plan(
    fit_args: tuple,
    fit_kwargs: dict[str, Any],
    *,
    cv: int | None = None,
    executions: int = 1,
    seed: int | None = None,
    objective_name: str | None = None,
) -> FitPlan:
    """Checks `search()`'s arguments; raises before any training for bad ones.

    Args:
        fit_args, fit_kwargs: what `search()` received.
        cv: the number of folds, or None.
        executions: trainings per fold (or of the whole data).
        seed: seeds the folds.
        objective_name: the metric the search optimizes; a `val_` one needs
            validation data. Defaults to `None` (not checked).
    """
    space, fixed = _split_markers(fit_args, fit_kwargs)
    _check_values(fit_kwargs)
    callbacks = _check_callbacks(fixed.pop("callbacks", None))
    fit_data.check(
        {**dict(zip(_POSITIONAL, fit_args, strict=False)), **fit_kwargs},
        objective_name=objective_name,
        cv=cv,
    )
    folds = _folds(fit_args, fit_kwargs, cv, seed) if cv else None
    keywords = {
        value.name: keyword
        for keyword, value in fit_kwargs.items()
        if isinstance(value, Dimension) and value.name is not None
    }
    return FitPlan(
        space, tuple(fit_args), fixed, callbacks, folds, executions, keywords
    )


def _split_markers(fit_args: tuple, fit_kwargs: dict) -> tuple[SearchSpace, dict]:
    for position, value in enumerate(fit_args):
        if isinstance(value, Dimension):
            raise ValueError(
                f"search() got a marker as positional argument {position}: {value!r}. "
                "Tune fit arguments by keyword, e.g. batch_size=kh.Choice([32, 64])."
            )
    unknown = sorted(set(fit_kwargs) - FIT_PARAMETERS)
    if unknown:
        raise TypeError(
            f"search() takes the arguments of model.fit. Received unknown: {unknown}. "
            f"Accepted: {sorted(FIT_PARAMETERS)}."
        )
    space, fixed = SearchSpace(), {}
    for name, value in fit_kwargs.items():
        if not isinstance(value, Dimension):
            fixed[name] = value
        elif name in _UNTUNABLE:
            raise ValueError(
                f"search() cannot tune {name}=; markers are accepted for fit's "
                f"settings such as batch_size, epochs or validation_split. "
                f"Received: {name}={value!r}."
            )
        else:
            space.add(value if value.name is not None else value.named(name))
    return space, fixed


def _plain(value: Any) -> Any:
    """A numpy number as the Python number it equals (`np.int64(2)` -> `2`)."""
    if isinstance(value, np.generic) and not isinstance(value, np.bool_):
        return value.item()
    return value


def _is_plain(value: Any) -> bool:
    return value is None or (
        isinstance(value, (int, float, str)) and not isinstance(value, bool)
    )


def _positive_int(value: Any) -> bool:
    return is_int(value) and value >= 1


def _split_fraction(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.number))
        and not isinstance(value, bool)
        and 0 <= value < 1
    )


# What model.fit accepts for the settings a search may fix or tune: a check, and
# the words of the error.
_VALUE_CHECKS = {
    "epochs": (_positive_int, "an integer >= 1"),
    "batch_size": (lambda v: v is None or _positive_int(v), "an integer >= 1 or None"),
    "validation_split": (_split_fraction, "a fraction >= 0 and < 1"),
    "validation_freq": (_positive_int, "an integer >= 1"),
    "steps_per_epoch": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 or None",
    ),
    "validation_steps": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 or None",
    ),
    "validation_batch_size": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 or None",
    ),
    "class_weight": (
        lambda v: v is None or isinstance(v, dict),
        "a dict of weights by class index, or None",
    ),
    "shuffle": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "verbose": (lambda v: v in ("auto", 0, 1, 2), '"auto", 0, 1 or 2'),
}


def _check_values(fit_kwargs: dict[str, Any]) -> None:
    """Refuses fit values that model.fit would fail on, before any training.

    A marker is checked by every value it can take (a range by its ends).
    """
    for keyword, value in fit_kwargs.items():
        if keyword not in _VALUE_CHECKS:
            continue
        check, accepted = _VALUE_CHECKS[keyword]
        if not isinstance(value, Dimension):
            if not check(value):
                raise ValueError(
                    f"search({keyword}=...) expects {accepted}. Received: "
                    f"{keyword}={value!r}."
                )
            continue
        bad = [v for v in _extremes(value) if not check(v)]
        if bad:
            raise ValueError(
                f"search({keyword}=...) expects {accepted}, and the marker "
                f"{value!r} can give {bad[0]!r}."
            )
    epochs = fit_kwargs.get("epochs", 1)
    lowest = min(_extremes(epochs)) if isinstance(epochs, Dimension) else epochs
    initial = fit_kwargs.get("initial_epoch", 0)
    if not (is_int(initial) and 0 <= initial < lowest):
        raise ValueError(
            "search(initial_epoch=...) expects an integer >= 0 and below epochs "
            f"({lowest}). Received: initial_epoch={initial!r}."
        )


def _extremes(dimension: Dimension) -> list[Any]:
    """The values a marker can take: its choices, or its range's ends."""
    if hasattr(dimension, "low"):
        return [dimension.low, dimension.high]
    return list(dimension.values())


def _check_callbacks(callbacks: Any) -> list[keras.callbacks.Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "search(callbacks=...) expects a list of keras.callbacks.Callback "
            f"instances. Received: {callbacks!r}."
        )
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "search(callbacks=...) expects keras.callbacks.Callback instances. "
                f"Received: {callback!r}."
            )
        try:
            copy.deepcopy(callback)
        except Exception as error:  # noqa: BLE001 - reported with the callback's name
            raise TypeError(
                f"search() copies each callback for every trial, and {callback!r} "
                f"cannot be copied: {error}"
            ) from error
    return callbacks


def _folds(
    fit_args: tuple, fit_kwargs: dict, cv: int, seed: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index arrays of `cv` folds of the in-memory data, the same for every trial."""
    for name in ("validation_split", "validation_data"):
        if fit_data.given(fit_kwargs.get(name)):
            raise ValueError(
                f"Tuner(cv={cv}) scores each fold on its held-out part, so "
                f"search() cannot take {name} too. Received: {name}="
                f"{fit_kwargs[name]!r}."
            )
    x = fit_args[0] if fit_args else fit_kwargs.get("x")
    leaves = keras.tree.flatten(x) if x is not None else []
    if not leaves or not all(isinstance(a, np.ndarray) for a in leaves):
        raise ValueError(
            f"Tuner(cv={cv}) splits in-memory arrays: pass x (and y) as numpy arrays "
            f"(or lists/dicts of them). Received: x of type {type(x).__name__}."
        )
    rows = len(leaves[0])
    if rows < cv:
        raise ValueError(f"Tuner(cv={cv}) needs at least {cv} rows. Received: {rows}.")
    order = np.random.default_rng(seed).permutation(rows)
    return [
        (np.sort(np.concatenate(parts[:i] + parts[i + 1 :])), np.sort(parts[i]))
        for parts in [np.array_split(order, cv)]
        for i in range(cv)
    ]


def _made(name: str, value: Any) -> Any:
    """`value()` for data given as a function, else `value`."""
    if not callable(value) or isinstance(value, type) or hasattr(value, "__len__"):
        return value
    try:
        return value()
    except TypeError as error:
        if "argument" not in str(error):
            raise
        raise TypeError(
            f"search({name}=...) received a function: data may be given as a "
            "function without arguments that returns it (a tf.data.Dataset, for "
            f"instance), and calling {value!r} failed: {error}"
        ) from error
